// What a ClientSession tells its owner (a Blueprint component, a Live Link source, a test).
#pragma once

#include <optional>
#include <string>
#include <variant>

#include "TalkBridgeProtocol/Messages.h"

namespace talkbridge {

struct ConnectedEvent {
    Welcome welcome;
};

/// The utterance's first sample reached the player (or it had no audio at all).
struct UtteranceStartedEvent {
    std::string id;
    std::string text;
};

/// The utterance's last sample played, or it was cleared/interrupted while buffered or playing.
struct UtteranceFinishedEvent {
    std::string id;
    bool interrupted = false;
    std::optional<EndReason> reason;  ///< the server's, when its `utterance end` arrived
    double position = 0.0;            ///< seconds of it that played
};

/// A server `error`, or a message from the server this client could not decode (local).
struct ErrorEvent {
    std::string code;
    std::string message;
    bool fatal = false;
    std::string ref;
    bool from_server = true;
};

/// The playing utterance reached a gesture's `t` (its playback position, not arrival):
/// time for the body animation. Gestures of an utterance that is dropped never fire.
struct GestureEvent {
    Gesture gesture;
};

using SessionEvent = std::variant<ConnectedEvent, UtteranceStartedEvent, UtteranceFinishedEvent, Transcript,
                                  Reply, ErrorEvent, Pong, GestureEvent>;

}  // namespace talkbridge
