#include "TalkBridgeComponent.h"

#include "Components/AudioComponent.h"
#include "Features/IModularFeatures.h"
#include "GameFramework/Actor.h"
#include "HAL/PlatformTime.h"
#include "ILiveLinkClient.h"
#include "Misc/CoreDelegates.h"
#include "TalkBridgeAudioPlayer.h"
#include "TalkBridgeComponentEvents.h"
#include "TalkBridgeConnection.h"
#include "TalkBridgeLiveLinkSource.h"
#include "TalkBridgeLog.h"
#include "TalkBridgeMicCapture.h"

UTalkBridgeComponent::UTalkBridgeComponent()
{
	PrimaryComponentTick.bCanEverTick = true;
	PrimaryComponentTick.TickGroup = TG_PrePhysics;  // before the AnimBP reads Live Link
}

UTalkBridgeComponent::UTalkBridgeComponent(FVTableHelper& Helper)
	: Super(Helper)
{
}

UTalkBridgeComponent::~UTalkBridgeComponent() = default;

void UTalkBridgeComponent::BeginPlay()
{
	Super::BeginPlay();
	if (bConnectOnBeginPlay)
	{
		Connect();
	}
}

void UTalkBridgeComponent::EndPlay(const EEndPlayReason::Type EndPlayReason)
{
	Disconnect();
	Super::EndPlay(EndPlayReason);
}

void UTalkBridgeComponent::Connect()
{
	Disconnect();
	FTalkBridgeConnectionOptions Options;
	Options.Url = ServerUrl;
	Options.Token = Token;
	Options.bHeadAndEyes = bIncludeHeadAndEyes;
	Options.bReconnect = bReconnect;
	Options.InitialBackoff = InitialBackoff;
	Options.MaxBackoff = MaxBackoff;
	Connection = MakeShared<FTalkBridgeConnection>(Options);
	TWeakObjectPtr<UTalkBridgeComponent> WeakThis(this);
	Connection->OnEvent = [WeakThis](const talkbridge::SessionEvent& Event)
	{
		if (UTalkBridgeComponent* Self = WeakThis.Get())
		{
			if (const auto* Welcome = std::get_if<talkbridge::ConnectedEvent>(&Event))
			{
				Self->EnsureAudio();
				Self->Player->Start(Self->AudioComponent, Welcome->welcome.audio_rate);
			}
			// Queued, fired from TickComponent once the connection's call has returned.
			Self->PendingEvents.Add([Event](UTalkBridgeComponent& Component)
			{
				TalkBridgeEvents::Broadcast(Component, Event);
			});
		}
	};
	if (bPublishToLiveLink)
	{
		RegisterLiveLinkSource();
	}
	Connection->Connect();
}

void UTalkBridgeComponent::Disconnect()
{
	SendMic(false);
	if (Connection)
	{
		Connection->OnEvent = nullptr;
		Connection->Close();
		Connection.Reset();
	}
	if (Player)
	{
		Player->Flush();
	}
	UnregisterLiveLinkSource();
	CurveValues.Reset();
}

FString UTalkBridgeComponent::Say(const FString& Text, const FString& Emotion)
{
	return Connection ? Connection->Say(Text, Voice, Emotion) : FString();
}

void UTalkBridgeComponent::Chat(const FString& Text)
{
	if (Connection)
	{
		Connection->Chat(Text);
	}
}

bool UTalkBridgeComponent::SendMic(bool bEnabled)
{
	if (!bEnabled)
	{
		Mic.Reset();
		return true;
	}
	if (!Mic)
	{
		Mic = MakeUnique<FTalkBridgeMicCapture>();
	}
	return Mic->Start();
}

void UTalkBridgeComponent::Interrupt()
{
	if (Connection)
	{
		Connection->Interrupt();
		PumpAudio();  // the flush reaches the player this frame, not the next
	}
}

bool UTalkBridgeComponent::IsConnected() const
{
	return Connection && Connection->IsReady();
}

bool UTalkBridgeComponent::IsSpeaking() const
{
	return Connection && Connection->Session().Speaking();
}

float UTalkBridgeComponent::GetCurveValue(FName CurveName) const
{
	if (!Connection)
	{
		return 0.0f;
	}
	const int32 Index = Connection->CurveNames().IndexOfByKey(CurveName);
	return CurveValues.IsValidIndex(Index) ? CurveValues[Index] : 0.0f;
}

TMap<FName, float> UTalkBridgeComponent::GetCurves() const
{
	TMap<FName, float> Curves;
	if (Connection)
	{
		const TArray<FName>& Names = Connection->CurveNames();
		for (int32 Index = 0; Index < Names.Num() && Index < CurveValues.Num(); ++Index)
		{
			Curves.Add(Names[Index], CurveValues[Index]);
		}
	}
	return Curves;
}

void UTalkBridgeComponent::TickComponent(float DeltaTime, ELevelTick TickType, FActorComponentTickFunction* ThisTickFunction)
{
	Super::TickComponent(DeltaTime, TickType, ThisTickFunction);
	if (!Connection)
	{
		DispatchPendingEvents();  // a close's last events (OnError) still reach Blueprints
		return;
	}
	PumpMic();
	PumpAudio();
	std::vector<float> Face;
	if (Connection->Session().Sample(FPlatformTime::Seconds(), Face))
	{
		CurveValues.SetNumUninitialized(static_cast<int32>(Face.size()));
		FMemory::Memcpy(CurveValues.GetData(), Face.data(), Face.size() * sizeof(float));
	}
	Connection->Tick();  // playback reports out, session events queued
	DispatchPendingEvents();
}

void UTalkBridgeComponent::DispatchPendingEvents()
{
	// Take the queue first: a handler may Connect, Disconnect or Say (queueing new events for
	// the next tick), and none of that touches what is being fired here.
	TArray<TFunction<void(UTalkBridgeComponent&)>> Events = MoveTemp(PendingEvents);
	PendingEvents.Reset();
	for (TFunction<void(UTalkBridgeComponent&)>& Fire : Events)
	{
		Fire(*this);
	}
}

void UTalkBridgeComponent::PumpAudio()
{
	if (!Player || !Player->IsStarted())
	{
		return;
	}
	Player->OutputLatency = OutputLatency;
	talkbridge::ClientSession& Session = Connection->Session();
	const talkbridge::AudioOut Audio = Session.PullAudio();
	if (Audio.flush)
	{
		Player->Flush();
	}
	Player->Queue(Audio.samples);
	Session.SetPlayedSamples(Player->PlayedSamples(FPlatformTime::Seconds()));
}

void UTalkBridgeComponent::PumpMic()
{
	if (!Mic || !Mic->IsCapturing())
	{
		return;
	}
	TArray<float> Samples;
	const int32 Rate = Mic->Drain(Samples);
	if (Rate > 0 && Samples.Num() > 0)
	{
		Connection->SendMic(Samples.GetData(), Samples.Num(), Rate);
	}
}

void UTalkBridgeComponent::EnsureAudio()
{
	if (!AudioComponent)
	{
		AActor* Owner = GetOwner();
		UObject* Outer = Owner ? static_cast<UObject*>(Owner) : this;
		// A unique name: two TalkBridge components on one actor each get their own voice.
		AudioComponent = NewObject<UAudioComponent>(Outer, MakeUniqueObjectName(Outer, UAudioComponent::StaticClass(), TEXT("TalkBridgeVoice")));
		AudioComponent->bAutoActivate = false;
		if (Owner && Owner->GetRootComponent())
		{
			AudioComponent->SetupAttachment(Owner->GetRootComponent());
		}
		AudioComponent->RegisterComponent();
	}
	if (!Player)
	{
		Player = NewObject<UTalkBridgeAudioPlayer>(this);
	}
}

void UTalkBridgeComponent::RegisterLiveLinkSource()
{
	IModularFeatures& Features = IModularFeatures::Get();
	if (!Features.IsModularFeatureAvailable(ILiveLinkClient::ModularFeatureName))
	{
		UE_LOG(LogTalkBridge, Warning, TEXT("Live Link is not available; enable the Live Link plugin"));
		return;
	}
	ILiveLinkClient& Client = Features.GetModularFeature<ILiveLinkClient>(ILiveLinkClient::ModularFeatureName);
	LiveLinkSource = MakeShared<FTalkBridgeLiveLinkSource>(SubjectName, GetOwner() ? GetOwner()->GetName() : FString());
	Client.AddSource(LiveLinkSource);
	// Live Link builds each frame's snapshot on FCoreDelegates::OnSamplingInput, "right before
	// ticking the engine" (LiveLinkClient.cpp): a frame pushed from TickComponent would be seen
	// one frame late. OnBeginFrame comes before it in FEngineLoop::Tick, so the face sampled
	// there is the one this frame's AnimBP reads.
	BeginFrameHandle = FCoreDelegates::OnBeginFrame.AddUObject(this, &UTalkBridgeComponent::PublishLiveLinkFrame);
}

void UTalkBridgeComponent::PublishLiveLinkFrame()
{
	std::vector<float> Face;
	if (!Connection || !LiveLinkSource || !Connection->Session().Sample(FPlatformTime::Seconds(), Face))
	{
		return;
	}
	LiveLinkFrame.SetNumUninitialized(static_cast<int32>(Face.size()));
	FMemory::Memcpy(LiveLinkFrame.GetData(), Face.data(), Face.size() * sizeof(float));
	LiveLinkSource->PublishCurves(Connection->CurveNames(), LiveLinkFrame);
}

void UTalkBridgeComponent::UnregisterLiveLinkSource()
{
	FCoreDelegates::OnBeginFrame.Remove(BeginFrameHandle);
	BeginFrameHandle.Reset();
	if (!LiveLinkSource)
	{
		return;
	}
	IModularFeatures& Features = IModularFeatures::Get();
	if (Features.IsModularFeatureAvailable(ILiveLinkClient::ModularFeatureName))
	{
		Features.GetModularFeature<ILiveLinkClient>(ILiveLinkClient::ModularFeatureName).RemoveSource(LiveLinkSource);
	}
	LiveLinkSource.Reset();
}
