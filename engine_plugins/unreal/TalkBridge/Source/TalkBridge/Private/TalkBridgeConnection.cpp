#include "TalkBridgeConnection.h"

#include "HAL/PlatformTime.h"
#include "IWebSocket.h"
#include "Modules/ModuleManager.h"
#include "TalkBridgeLog.h"
#include "TalkBridgeProtocol/Channels.h"
#include "TalkBridgeStrings.h"
#include "WebSocketsModule.h"

using TalkBridgeStrings::FromUtf8;
using TalkBridgeStrings::ToUtf8;

namespace
{
	talkbridge::SessionConfig MakeConfig(const FTalkBridgeConnectionOptions& Options)
	{
		talkbridge::SessionConfig Config;
		Config.hello.client = ToUtf8(Options.ClientName);
		if (!Options.Token.IsEmpty())
		{
			Config.hello.token = ToUtf8(Options.Token);
		}
		Config.hello.audio_rate = Options.AudioRate;
		Config.hello.channels = {"arkit52"};
		if (Options.bHeadAndEyes)
		{
			Config.hello.channels.push_back("head");
			Config.hello.channels.push_back("eyes");
		}
		return Config;
	}
}

FTalkBridgeConnection::FTalkBridgeConnection(const FTalkBridgeConnectionOptions& InOptions)
	: Options(InOptions)
	, Core(MakeConfig(InOptions))
	, Backoff(InOptions.InitialBackoff, InOptions.MaxBackoff)
{
}

FTalkBridgeConnection::~FTalkBridgeConnection()
{
	Close();
}

void FTalkBridgeConnection::Connect()
{
	bServerRefused = false;
	Backoff.Reset();
	Open();
}

void FTalkBridgeConnection::Close()
{
	ReconnectAt = 0.0;
	Shut();
}

void FTalkBridgeConnection::Open()
{
	Shut();
	ReconnectAt = 0.0;
	FWebSocketsModule& Module = FModuleManager::LoadModuleChecked<FWebSocketsModule>(TEXT("WebSockets"));
	Socket = Module.CreateWebSocket(Options.Url, FString());
	Socket->OnConnected().AddLambda([this]()
	{
		bOpen = true;
		Send(Core.HelloMessage());
	});
	Socket->OnConnectionError().AddRaw(this, &FTalkBridgeConnection::HandleConnectionError);
	Socket->OnClosed().AddRaw(this, &FTalkBridgeConnection::HandleClosed);
	Socket->OnBinaryMessage().AddRaw(this, &FTalkBridgeConnection::HandleBinary);
	Socket->OnMessage().AddRaw(this, &FTalkBridgeConnection::HandleText);
	UE_LOG(LogTalkBridge, Log, TEXT("Connecting to %s"), *Options.Url);
	Socket->Connect();
}

void FTalkBridgeConnection::Shut()
{
	if (Socket.IsValid())
	{
		Socket->OnConnected().Clear();
		Socket->OnConnectionError().RemoveAll(this);
		Socket->OnClosed().RemoveAll(this);
		Socket->OnBinaryMessage().RemoveAll(this);
		Socket->OnMessage().RemoveAll(this);
		if (Socket->IsConnected())
		{
			Socket->Close();
		}
		Socket.Reset();
	}
	bOpen = false;
	bWelcomed = false;
	Partial.Reset();
}

void FTalkBridgeConnection::ScheduleReconnect()
{
	if (!Options.bReconnect || bServerRefused || ReconnectAt > 0.0)
	{
		return;
	}
	const double Delay = Backoff.Next();
	ReconnectAt = FPlatformTime::Seconds() + Delay;
	UE_LOG(LogTalkBridge, Log, TEXT("Reconnecting to %s in %.1f s (attempt %d)"), *Options.Url, Delay,
		Backoff.Attempts());
}

bool FTalkBridgeConnection::IsReady() const
{
	return bOpen && bWelcomed;
}

FString FTalkBridgeConnection::Say(const FString& Text, const FString& Voice, const FString& Emotion)
{
	if (!IsReady())
	{
		LocalError(TEXT("not_connected"), TEXT("Say before the server's welcome"), false);
		return FString();
	}
	talkbridge::Say Message;
	Message.text = ToUtf8(Text);
	if (!Voice.IsEmpty())
	{
		Message.voice = ToUtf8(Voice);
	}
	if (!Emotion.IsEmpty())
	{
		Message.emotion = ToUtf8(Emotion);
	}
	std::string Id;
	Send(Core.SayMessage(Message, &Id));
	return FromUtf8(Id);
}

void FTalkBridgeConnection::Chat(const FString& Text)
{
	if (IsReady())
	{
		Send(Core.ChatMessage(ToUtf8(Text)));
	}
}

void FTalkBridgeConnection::SendMic(const float* Samples, int32 Count, int32 SampleRate)
{
	if (IsReady() && Count > 0)
	{
		Send(Core.MicMessage(Samples, static_cast<std::size_t>(Count), SampleRate));
	}
}

void FTalkBridgeConnection::Interrupt()
{
	const talkbridge::Bytes Message = Core.Interrupt();  // local effect even when offline
	if (IsReady())
	{
		Send(Message);
	}
	DispatchEvents();
}

void FTalkBridgeConnection::Tick()
{
	// Here, not in a socket callback: Open() replaces the socket, which must not be on the stack.
	if (ReconnectAt > 0.0 && FPlatformTime::Seconds() >= ReconnectAt)
	{
		Open();
	}
	for (const talkbridge::Bytes& Message : Core.TakeOutgoing())
	{
		Send(Message);
	}
	DispatchEvents();
}

void FTalkBridgeConnection::HandleBinary(const void* Data, SIZE_T Size, bool bIsLastFragment)
{
	Partial.Append(static_cast<const uint8*>(Data), static_cast<int32>(Size));
	if (!bIsLastFragment)
	{
		return;
	}
	Core.Receive(Partial.GetData(), static_cast<std::size_t>(Partial.Num()), FPlatformTime::Seconds());
	Partial.Reset();
	DispatchEvents();
}

void FTalkBridgeConnection::HandleText(const FString& Message)
{
	LocalError(TEXT("text_frame"), TEXT("the server sent a text frame; protocol v1 is binary msgpack"), false);
}

void FTalkBridgeConnection::HandleClosed(int32 StatusCode, const FString& Reason, bool bWasClean)
{
	bOpen = false;
	Core.Interrupt();  // nothing more will arrive for what is buffered
	bWelcomed = false;
	LocalError(TEXT("closed"), FString::Printf(TEXT("connection closed (%d) %s"), StatusCode, *Reason), true);
	ScheduleReconnect();
}

void FTalkBridgeConnection::HandleConnectionError(const FString& Error)
{
	bOpen = false;
	bWelcomed = false;
	LocalError(TEXT("connection_failed"), Error, true);
	ScheduleReconnect();
}

void FTalkBridgeConnection::Send(const talkbridge::Bytes& Message)
{
	if (Socket.IsValid() && bOpen)
	{
		Socket->Send(Message.data(), Message.size(), /*bIsBinary=*/true);
	}
}

void FTalkBridgeConnection::LocalError(const FString& Code, const FString& Message, bool bFatal)
{
	UE_LOG(LogTalkBridge, Warning, TEXT("%s: %s"), *Code, *Message);
	if (OnEvent)
	{
		OnEvent(talkbridge::ErrorEvent{ToUtf8(Code), ToUtf8(Message), bFatal, "", false});
	}
}

void FTalkBridgeConnection::DispatchEvents()
{
	for (const talkbridge::SessionEvent& Event : Core.TakeEvents())
	{
		// This socket's welcome: ready, the curve names, and the back-off starts afresh.
		if (const auto* Connected = std::get_if<talkbridge::ConnectedEvent>(&Event))
		{
			bWelcomed = true;
			Backoff.Reset();
			Names.Reset();
			for (const std::string& Channel : Connected->welcome.channels)
			{
				Names.Add(FName(*FromUtf8(talkbridge::LiveLinkCurveName(Channel))));
			}
		}
		if (const auto* Error = std::get_if<talkbridge::ErrorEvent>(&Event))
		{
			UE_LOG(LogTalkBridge, Warning, TEXT("%s error %s: %s"), Error->from_server ? TEXT("server") : TEXT("local"),
				*FromUtf8(Error->code), *FromUtf8(Error->message));
			if (Error->from_server && Error->fatal)
			{
				bServerRefused = true;  // it would refuse the next attempt the same way
			}
		}
		if (OnEvent)
		{
			OnEvent(Event);
		}
	}
}
