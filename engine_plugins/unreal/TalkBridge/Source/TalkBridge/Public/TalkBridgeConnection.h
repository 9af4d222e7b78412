// One WebSocket to a talkbridge server, over Unreal's WebSockets module, driving a
// talkbridge::ClientSession (the sans-I/O protocol core). Game thread only: UE's WebSockets
// module raises its events on the game thread, and owners call Tick() from theirs.
#pragma once

#include "CoreMinimal.h"
#include "Templates/Function.h"
#include "TalkBridgeProtocol/Backoff.h"
#include "TalkBridgeProtocol/ClientSession.h"

class IWebSocket;

struct FTalkBridgeConnectionOptions
{
	FString Url = TEXT("ws://127.0.0.1:8765/v1/stream");
	FString Token;
	/** Ask for the head (HeadYaw/Pitch/Roll) and eye (Left/RightEyeYaw/Pitch) curves too. */
	bool bHeadAndEyes = false;
	int32 AudioRate = 48000;
	FString ClientName = TEXT("talkbridge-unreal/0.1");
	/** Reconnect after a lost or failed connection, waiting InitialBackoff seconds, doubling
	 *  up to MaxBackoff (±20 % jitter), as the Unity package does. A fatal error from the
	 *  server (a wrong token, a protocol fault) stops retrying: it would fail again. */
	bool bReconnect = true;
	float InitialBackoff = 0.5f;
	float MaxBackoff = 10.0f;
};

class TALKBRIDGE_API FTalkBridgeConnection
{
public:
	using FEventHandler = TFunction<void(const talkbridge::SessionEvent&)>;

	explicit FTalkBridgeConnection(const FTalkBridgeConnectionOptions& InOptions);
	~FTalkBridgeConnection();

	/** Connect now (and start the back-off afresh). */
	void Connect();
	/** Close, and stop reconnecting. */
	void Close();
	/** Open and welcomed: curves have names and messages may be sent. */
	bool IsReady() const;

	/** Returns the utterance id ("ue-1", ...); empty when not connected. */
	FString Say(const FString& Text, const FString& Voice, const FString& Emotion);
	void Chat(const FString& Text);
	void SendMic(const float* Samples, int32 Count, int32 SampleRate);
	/** Stops the current and queued utterances locally at once, and tells the server. */
	void Interrupt();

	/** Reconnects when the back-off is due, sends what the session queued (playback reports)
	 *  and hands its events to OnEvent. */
	void Tick();

	talkbridge::ClientSession& Session() { return Core; }
	/** Live Link names of the welcome's channels, in curve order (PascalCase for ARKit). */
	const TArray<FName>& CurveNames() const { return Names; }

	FEventHandler OnEvent;

private:
	void HandleBinary(const void* Data, SIZE_T Size, bool bIsLastFragment);
	void HandleText(const FString& Message);
	void HandleClosed(int32 StatusCode, const FString& Reason, bool bWasClean);
	void HandleConnectionError(const FString& Error);
	void Open();
	void Shut();
	void ScheduleReconnect();
	void Send(const talkbridge::Bytes& Message);
	void LocalError(const FString& Code, const FString& Message, bool bFatal);
	void DispatchEvents();

	FTalkBridgeConnectionOptions Options;
	talkbridge::ClientSession Core;
	TSharedPtr<IWebSocket> Socket;
	TArray<uint8> Partial;
	TArray<FName> Names;
	bool bOpen = false;
	bool bWelcomed = false;         // this socket's welcome has arrived
	bool bServerRefused = false;    // a fatal error from the server: don't retry
	double ReconnectAt = 0.0;       // FPlatformTime::Seconds() of the next attempt; 0: none
	talkbridge::Backoff Backoff;
};
