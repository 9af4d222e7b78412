// The enum spellings of protocol v1, in enum order, null-terminated (private to the module).
#pragma once

namespace talkbridge {
namespace detail {

inline constexpr const char* kEncodingNames[] = {"f16", "f32", nullptr};
inline constexpr const char* kUtteranceStateNames[] = {"start", "end", nullptr};
inline constexpr const char* kSourceNames[] = {"say", "dialogue", "audio_in", nullptr};
inline constexpr const char* kReasonNames[] = {"done", "interrupted", "error", nullptr};
inline constexpr const char* kPlaybackStateNames[] = {"started", "position", "finished", nullptr};

inline constexpr const char* kServerTypeNames[] = {"welcome", "utterance", "audio", "curves", "clear",
                                                   "transcript", "reply", "error", "pong", "gesture",
                                                   nullptr};
inline constexpr const char* kClientTypeNames[] = {"hello", "say", "audio_in", "mic", "chat",
                                                   "interrupt", "playback", "ping", "image",
                                                   nullptr};

}  // namespace detail
}  // namespace talkbridge
