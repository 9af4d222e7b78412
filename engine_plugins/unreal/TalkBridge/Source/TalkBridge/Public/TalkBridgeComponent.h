// The Blueprint face of the plugin: put it on the actor that owns the MetaHuman, call Say,
// and the face (a Live Link subject, default "TalkBridge") moves in sync with the voice that
// plays from this actor. The face is sampled at the audio player's position every tick.
#pragma once

#include "Components/ActorComponent.h"
#include "CoreMinimal.h"

#include "TalkBridgeComponent.generated.h"

class FTalkBridgeConnection;
class FTalkBridgeLiveLinkSource;
class FTalkBridgeMicCapture;
class UAudioComponent;
class UTalkBridgeAudioPlayer;

DECLARE_DYNAMIC_MULTICAST_DELEGATE(FTalkBridgeConnectedEvent);
DECLARE_DYNAMIC_MULTICAST_DELEGATE_TwoParams(FTalkBridgeUtteranceStartedEvent, const FString&, UtteranceId, const FString&, Text);
DECLARE_DYNAMIC_MULTICAST_DELEGATE_ThreeParams(FTalkBridgeUtteranceEndedEvent, const FString&, UtteranceId, bool, bInterrupted, float, PlayedSeconds);
DECLARE_DYNAMIC_MULTICAST_DELEGATE_TwoParams(FTalkBridgeTranscriptEvent, const FString&, Text, bool, bFinal);
DECLARE_DYNAMIC_MULTICAST_DELEGATE_ThreeParams(FTalkBridgeReplyEvent, const FString&, ReplyId, const FString&, Text, bool, bFinal);
DECLARE_DYNAMIC_MULTICAST_DELEGATE_ThreeParams(FTalkBridgeErrorEvent, const FString&, Code, const FString&, Message, bool, bFatal);
DECLARE_DYNAMIC_MULTICAST_DELEGATE_FourParams(FTalkBridgeGestureEvent, const FString&, UtteranceId, FName, Gesture, float, Strength, float, Duration);

UCLASS(ClassGroup = (TalkBridge), meta = (BlueprintSpawnableComponent))
class TALKBRIDGE_API UTalkBridgeComponent : public UActorComponent
{
	GENERATED_BODY()

public:
	UTalkBridgeComponent();
	/** Declared here and defined in the .cpp, where FTalkBridgeMicCapture is complete: otherwise
	 *  UHT generates this hot-reload constructor in the .gen.cpp, which has to destroy
	 *  TUniquePtr<FTalkBridgeMicCapture> without the type (Templates/UniquePtr.h, TDefaultDelete). */
	UTalkBridgeComponent(FVTableHelper& Helper);
	/** Out of line: TUniquePtr<FTalkBridgeMicCapture> needs the complete type to delete it. */
	virtual ~UTalkBridgeComponent() override;

	/** ws://host:port/v1/stream of a running `talkbridge serve`. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "TalkBridge")
	FString ServerUrl = TEXT("ws://127.0.0.1:8765/v1/stream");

	/** The server's --token, if it has one. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "TalkBridge")
	FString Token;

	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "TalkBridge")
	bool bConnectOnBeginPlay = true;

	/** Reconnect after a lost connection: InitialBackoff seconds, doubling up to MaxBackoff,
	 *  ±20 % jitter (the Unity package's rule). A fatal server error stops it. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "TalkBridge|Reconnect")
	bool bReconnect = true;

	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "TalkBridge|Reconnect", meta = (ClampMin = "0.05"))
	float InitialBackoff = 0.5f;

	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "TalkBridge|Reconnect", meta = (ClampMin = "0.1"))
	float MaxBackoff = 10.0f;

	/** Voice for Say ("piper:en_US-joe-medium", "espeak:en"); empty: the server's default. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "TalkBridge")
	FString Voice;

	/** Publish the face as a Live Link subject (for the Live Link Pose node of a Face_AnimBP). */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "TalkBridge|Live Link")
	bool bPublishToLiveLink = true;

	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "TalkBridge|Live Link")
	FName SubjectName = TEXT("TalkBridge");

	/** Also stream HeadYaw/Pitch/Roll and Left/RightEyeYaw/Pitch (radians). Takes effect on Connect. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "TalkBridge|Live Link")
	bool bIncludeHeadAndEyes = false;

	/** Where the voice plays from (set it in the construction script); empty: one is created on the owner. */
	UPROPERTY(BlueprintReadWrite, Category = "TalkBridge|Audio")
	TObjectPtr<UAudioComponent> AudioComponent;

	/** Seconds the audio device lags behind the queue (mixer buffers); raise it if lips lead. */
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "TalkBridge|Audio", meta = (ClampMin = "0.0", ClampMax = "0.5"))
	float OutputLatency = 0.02f;

	UFUNCTION(BlueprintCallable, Category = "TalkBridge")
	void Connect();

	UFUNCTION(BlueprintCallable, Category = "TalkBridge")
	void Disconnect();

	/** Speak Text; returns the utterance id the events will carry (empty when not connected). */
	UFUNCTION(BlueprintCallable, Category = "TalkBridge")
	FString Say(const FString& Text, const FString& Emotion = TEXT(""));

	/** A typed user turn for the server's dialogue loop: the answer comes as OnReply and speech. */
	UFUNCTION(BlueprintCallable, Category = "TalkBridge")
	void Chat(const FString& Text);

	/** Start (true) or stop (false) streaming the default microphone (AudioCapture plugin). */
	UFUNCTION(BlueprintCallable, Category = "TalkBridge")
	bool SendMic(bool bEnabled);

	/** Stop speaking now: drops what is buffered here and tells the server. */
	UFUNCTION(BlueprintCallable, Category = "TalkBridge")
	void Interrupt();

	UFUNCTION(BlueprintPure, Category = "TalkBridge")
	bool IsConnected() const;

	UFUNCTION(BlueprintPure, Category = "TalkBridge")
	bool IsSpeaking() const;

	/** The current value of one curve (Live Link name, e.g. JawOpen); 0 when unknown. */
	UFUNCTION(BlueprintPure, Category = "TalkBridge")
	float GetCurveValue(FName CurveName) const;

	/** All current curves, for driving morph targets without Live Link. */
	UFUNCTION(BlueprintPure, Category = "TalkBridge")
	TMap<FName, float> GetCurves() const;

	UPROPERTY(BlueprintAssignable, Category = "TalkBridge")
	FTalkBridgeConnectedEvent OnConnected;

	UPROPERTY(BlueprintAssignable, Category = "TalkBridge")
	FTalkBridgeUtteranceStartedEvent OnUtteranceStarted;

	UPROPERTY(BlueprintAssignable, Category = "TalkBridge")
	FTalkBridgeUtteranceEndedEvent OnUtteranceEnded;

	UPROPERTY(BlueprintAssignable, Category = "TalkBridge")
	FTalkBridgeTranscriptEvent OnTranscript;

	UPROPERTY(BlueprintAssignable, Category = "TalkBridge")
	FTalkBridgeReplyEvent OnReply;

	UPROPERTY(BlueprintAssignable, Category = "TalkBridge")
	FTalkBridgeErrorEvent OnError;

	/** A body cue (nod, shake, tilt, brow_raise, beat, shrug) as the voice reaches its word:
	 *  play a montage or set an Anim Blueprint variable. Its head and brow part is already in
	 *  the face's curves. Strength is 0..1, Duration in seconds. */
	UPROPERTY(BlueprintAssignable, Category = "TalkBridge")
	FTalkBridgeGestureEvent OnGesture;

	//~ UActorComponent
	virtual void BeginPlay() override;
	virtual void EndPlay(const EEndPlayReason::Type EndPlayReason) override;
	virtual void TickComponent(float DeltaTime, ELevelTick TickType, FActorComponentTickFunction* ThisTickFunction) override;

private:
	void EnsureAudio();
	void RegisterLiveLinkSource();
	void UnregisterLiveLinkSource();
	/** Push this frame's face to Live Link before Live Link takes its snapshot (OnBeginFrame). */
	void PublishLiveLinkFrame();
	void PumpAudio();
	void PumpMic();
	/** Fire the Blueprint events queued since the last call. Events are never fired from inside
	 *  the connection (its Tick, or the socket's OnClosed): a Blueprint that calls Connect or
	 *  Disconnect from OnError would free the connection while it is on the stack. */
	void DispatchPendingEvents();

	UPROPERTY(Transient)
	TObjectPtr<UTalkBridgeAudioPlayer> Player;

	TSharedPtr<FTalkBridgeConnection> Connection;
	TSharedPtr<FTalkBridgeLiveLinkSource> LiveLinkSource;
	TUniquePtr<FTalkBridgeMicCapture> Mic;
	TArray<float> CurveValues;
	TArray<float> LiveLinkFrame;
	FDelegateHandle BeginFrameHandle;
	TArray<TFunction<void(UTalkBridgeComponent&)>> PendingEvents;
};
