#include "TalkBridgeComponentEvents.h"

#include "TalkBridgeComponent.h"
#include "TalkBridgeStrings.h"

using TalkBridgeStrings::FromUtf8;

namespace TalkBridgeEvents
{
	void Broadcast(UTalkBridgeComponent& Component, const talkbridge::SessionEvent& Event)
	{
		if (std::holds_alternative<talkbridge::ConnectedEvent>(Event))
		{
			Component.OnConnected.Broadcast();
		}
		else if (const auto* Started = std::get_if<talkbridge::UtteranceStartedEvent>(&Event))
		{
			Component.OnUtteranceStarted.Broadcast(FromUtf8(Started->id), FromUtf8(Started->text));
		}
		else if (const auto* Finished = std::get_if<talkbridge::UtteranceFinishedEvent>(&Event))
		{
			Component.OnUtteranceEnded.Broadcast(FromUtf8(Finished->id), Finished->interrupted,
				static_cast<float>(Finished->position));
		}
		else if (const auto* Transcript = std::get_if<talkbridge::Transcript>(&Event))
		{
			Component.OnTranscript.Broadcast(FromUtf8(Transcript->text), Transcript->final);
		}
		else if (const auto* Reply = std::get_if<talkbridge::Reply>(&Event))
		{
			Component.OnReply.Broadcast(FromUtf8(Reply->id), FromUtf8(Reply->text), Reply->final);
		}
		else if (const auto* Error = std::get_if<talkbridge::ErrorEvent>(&Event))
		{
			Component.OnError.Broadcast(FromUtf8(Error->code), FromUtf8(Error->message), Error->fatal);
		}
		else if (const auto* Gesture = std::get_if<talkbridge::GestureEvent>(&Event))
		{
			const talkbridge::Gesture& G = Gesture->gesture;
			Component.OnGesture.Broadcast(FromUtf8(G.id), FName(*FromUtf8(G.name)),
				static_cast<float>(G.strength), static_cast<float>(G.duration));
		}
	}
}
