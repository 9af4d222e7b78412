#include "TalkBridgeLiveLinkSourceFactory.h"

#include "TalkBridgeLiveLinkSource.h"
#include "Widgets/Input/SButton.h"
#include "Widgets/Input/SEditableTextBox.h"
#include "Widgets/Layout/SBox.h"
#include "Widgets/SBoxPanel.h"
#include "Widgets/Text/STextBlock.h"

#define LOCTEXT_NAMESPACE "TalkBridgeLiveLinkSourceFactory"

FText UTalkBridgeLiveLinkSourceFactory::GetSourceDisplayName() const
{
	return LOCTEXT("DisplayName", "TalkBridge");
}

FText UTalkBridgeLiveLinkSourceFactory::GetSourceTooltip() const
{
	return LOCTEXT("Tooltip", "Face curves (ARKit, PascalCase) streamed by a talkbridge server over WebSocket");
}

TSharedPtr<SWidget> UTalkBridgeLiveLinkSourceFactory::BuildCreationPanel(FOnLiveLinkSourceCreated OnLiveLinkSourceCreated) const
{
	TSharedRef<SEditableTextBox> UrlBox = SNew(SEditableTextBox)
		.Text(FText::FromString(TEXT("ws://127.0.0.1:8765/v1/stream")));
	return SNew(SBox)
		.MinDesiredWidth(320.0f)
		[
			SNew(SVerticalBox)
			+ SVerticalBox::Slot().AutoHeight().Padding(4.0f)
			[
				SNew(STextBlock).Text(LOCTEXT("UrlLabel", "Server URL"))
			]
			+ SVerticalBox::Slot().AutoHeight().Padding(4.0f)
			[
				UrlBox
			]
			+ SVerticalBox::Slot().AutoHeight().Padding(4.0f).HAlign(HAlign_Right)
			[
				SNew(SButton)
				.Text(LOCTEXT("Add", "Add"))
				.OnClicked_Lambda([UrlBox, OnLiveLinkSourceCreated]()
				{
					const FString Url = UrlBox->GetText().ToString().TrimStartAndEnd();
					OnLiveLinkSourceCreated.ExecuteIfBound(FTalkBridgeLiveLinkSource::CreateStandalone(Url), Url);
					return FReply::Handled();
				})
			]
		];
}

TSharedPtr<ILiveLinkSource> UTalkBridgeLiveLinkSourceFactory::CreateSource(const FString& ConnectionString) const
{
	if (!ConnectionString.StartsWith(TEXT("ws://")) && !ConnectionString.StartsWith(TEXT("wss://")))
	{
		return nullptr;
	}
	return FTalkBridgeLiveLinkSource::CreateStandalone(ConnectionString);
}

#undef LOCTEXT_NAMESPACE
