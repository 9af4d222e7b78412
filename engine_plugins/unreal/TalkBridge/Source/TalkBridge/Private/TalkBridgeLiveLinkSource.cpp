#include "TalkBridgeLiveLinkSource.h"

#include "HAL/IConsoleManager.h"
#include "HAL/PlatformProcess.h"
#include "HAL/PlatformTime.h"
#include "ILiveLinkClient.h"
#include "LiveLinkSourceSettings.h"
#include "Roles/LiveLinkBasicRole.h"
#include "TalkBridgeConnection.h"
#include "TalkBridgeLiveLinkSourceFactory.h"

#define LOCTEXT_NAMESPACE "TalkBridgeLiveLinkSource"

namespace
{
	/** Standalone sources, for the TalkBridge.Say console command. */
	TArray<TWeakPtr<FTalkBridgeLiveLinkSource>>& StandaloneSources()
	{
		static TArray<TWeakPtr<FTalkBridgeLiveLinkSource>> Sources;
		return Sources;
	}

	FAutoConsoleCommand SayCommand(
		TEXT("TalkBridge.Say"),
		TEXT("TalkBridge.Say <text>: every standalone TalkBridge Live Link source speaks the text."),
		FConsoleCommandWithArgsDelegate::CreateLambda([](const TArray<FString>& Args)
		{
			const FString Text = FString::Join(Args, TEXT(" "));
			for (const TWeakPtr<FTalkBridgeLiveLinkSource>& Weak : StandaloneSources())
			{
				if (const TSharedPtr<FTalkBridgeLiveLinkSource> Source = Weak.Pin())
				{
					Source->Say(Text);
				}
			}
		}));
}

FTalkBridgeLiveLinkSource::FTalkBridgeLiveLinkSource(FName InSubjectName, FString InDescription)
	: SubjectName(InSubjectName)
	, Description(MoveTemp(InDescription))
{
}

FTalkBridgeLiveLinkSource::~FTalkBridgeLiveLinkSource() = default;

TSharedPtr<FTalkBridgeLiveLinkSource> FTalkBridgeLiveLinkSource::CreateStandalone(const FString& InConnectionString)
{
	TSharedPtr<FTalkBridgeLiveLinkSource> Source = MakeShared<FTalkBridgeLiveLinkSource>(FName(TEXT("TalkBridge")), InConnectionString);
	FTalkBridgeConnectionOptions Options;
	Options.Url = InConnectionString.TrimStartAndEnd();
	Source->ConnectionString = Options.Url;
	Source->Connection = MakeUnique<FTalkBridgeConnection>(Options);
	Source->Connection->Connect();
	StandaloneSources().RemoveAll([](const TWeakPtr<FTalkBridgeLiveLinkSource>& Weak) { return !Weak.IsValid(); });
	StandaloneSources().Add(Source);
	return Source;
}

void FTalkBridgeLiveLinkSource::PublishCurves(const TArray<FName>& Names, const TArray<float>& InValues)
{
	if (!Client || Names.Num() != InValues.Num() || Names.Num() == 0)
	{
		return;
	}
	const FLiveLinkSubjectKey Key(SourceGuid, SubjectName);
	if (Names != PublishedNames)
	{
		FLiveLinkStaticDataStruct StaticData(FLiveLinkBaseStaticData::StaticStruct());
		StaticData.Cast<FLiveLinkBaseStaticData>()->PropertyNames = Names;
		Client->PushSubjectStaticData_AnyThread(Key, ULiveLinkBasicRole::StaticClass(), MoveTemp(StaticData));
		PublishedNames = Names;
	}
	FLiveLinkFrameDataStruct FrameData(FLiveLinkBaseFrameData::StaticStruct());
	FLiveLinkBaseFrameData* Frame = FrameData.Cast<FLiveLinkBaseFrameData>();
	Frame->WorldTime = FPlatformTime::Seconds();
	Frame->PropertyValues = InValues;
	Client->PushSubjectFrameData_AnyThread(Key, MoveTemp(FrameData));
}

void FTalkBridgeLiveLinkSource::Say(const FString& Text)
{
	if (Connection)
	{
		Connection->Say(Text, FString(), FString());
	}
}

void FTalkBridgeLiveLinkSource::ReceiveClient(ILiveLinkClient* InClient, FGuid InSourceGuid)
{
	Client = InClient;
	SourceGuid = InSourceGuid;
	PublishedNames.Reset();
}

void FTalkBridgeLiveLinkSource::InitializeSettings(ULiveLinkSourceSettings* Settings)
{
	if (Connection && Settings)
	{
		Settings->ConnectionString = ConnectionString;  // lets presets re-create the source
		Settings->Factory = UTalkBridgeLiveLinkSourceFactory::StaticClass();
	}
}

void FTalkBridgeLiveLinkSource::Update()
{
	if (Connection)
	{
		TickStandalone();
	}
}

void FTalkBridgeLiveLinkSource::TickStandalone()
{
	talkbridge::ClientSession& Session = Connection->Session();
	const double Now = FPlatformTime::Seconds();
	const talkbridge::AudioOut Audio = Session.PullAudio();
	if (Audio.flush)
	{
		QueuedSamples = 0;
		PlayedSamples = 0.0;
	}
	QueuedSamples += static_cast<int64>(Audio.samples.size());
	const int32 Rate = Session.GetWelcome() ? Session.GetWelcome()->audio_rate : 48000;
	const double Elapsed = LastUpdate > 0.0 ? Now - LastUpdate : 0.0;
	PlayedSamples = FMath::Min(static_cast<double>(QueuedSamples), PlayedSamples + Elapsed * Rate);
	LastUpdate = Now;
	Session.SetPlayedSamples(static_cast<int64>(PlayedSamples));

	std::vector<float> Face;
	if (Session.Sample(Now, Face))
	{
		Values.SetNumUninitialized(static_cast<int32>(Face.size()));
		FMemory::Memcpy(Values.GetData(), Face.data(), Face.size() * sizeof(float));
		PublishCurves(Connection->CurveNames(), Values);
	}
	Connection->Tick();
}

bool FTalkBridgeLiveLinkSource::IsSourceStillValid() const
{
	return Client != nullptr && (!Connection || Connection->IsReady());
}

bool FTalkBridgeLiveLinkSource::RequestSourceShutdown()
{
	if (Connection)
	{
		Connection->Close();
	}
	Client = nullptr;
	return true;
}

FText FTalkBridgeLiveLinkSource::GetSourceType() const
{
	return LOCTEXT("SourceType", "TalkBridge");
}

FText FTalkBridgeLiveLinkSource::GetSourceMachineName() const
{
	return FText::FromString(Description.IsEmpty() ? FString(FPlatformProcess::ComputerName()) : Description);
}

FText FTalkBridgeLiveLinkSource::GetSourceStatus() const
{
	if (!Connection)
	{
		return LOCTEXT("StatusComponent", "Active (component)");
	}
	if (!Connection->IsReady())
	{
		return LOCTEXT("StatusConnecting", "Connecting");
	}
	return Connection->Session().Speaking() ? LOCTEXT("StatusSpeaking", "Speaking") : LOCTEXT("StatusIdle", "Active");
}

#undef LOCTEXT_NAMESPACE
