// "+ Source → TalkBridge" in the Live Link panel, and runtime creation from a connection
// string (the server URL, e.g. ws://127.0.0.1:8765/v1/stream).
#pragma once

#include "CoreMinimal.h"
#include "LiveLinkSourceFactory.h"

#include "TalkBridgeLiveLinkSourceFactory.generated.h"

UCLASS()
class TALKBRIDGE_API UTalkBridgeLiveLinkSourceFactory : public ULiveLinkSourceFactory
{
	GENERATED_BODY()

public:
	virtual FText GetSourceDisplayName() const override;
	virtual FText GetSourceTooltip() const override;
	virtual EMenuType GetMenuType() const override { return EMenuType::SubPanel; }
	virtual TSharedPtr<SWidget> BuildCreationPanel(FOnLiveLinkSourceCreated OnLiveLinkSourceCreated) const override;
	virtual TSharedPtr<ILiveLinkSource> CreateSource(const FString& ConnectionString) const override;
};
