// The messages of talkbridge wire protocol v1 (DESIGN §3, docs/protocol.md) as plain structs.
//
// Plain C++17, no Unreal types: the same header serves the Unreal runtime module and the
// CMake/GoogleTest build. Field order follows the Python dataclasses in
// bridge/protocol/messages.py, which is also the key order on the wire; std::optional marks
// the fields a sender may leave off.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace talkbridge {

constexpr int kProtocolVersion = 1;

enum class CurveEncoding { F16, F32 };
enum class UtteranceState { Start, End };
enum class UtteranceSource { Say, Dialogue, AudioIn };
enum class EndReason { Done, Interrupted, Error };
enum class PlaybackState { Started, Position, Finished };

using Bytes = std::vector<std::uint8_t>;
/// A blend of named emotions, each weight in 0..1 (`say.emotion` as a map, in this order).
using EmotionBlend = std::vector<std::pair<std::string, double>>;
/// `say.emotion`: absent, a name, or a blend.
using Emotion = std::variant<std::monostate, std::string, EmotionBlend>;

// ---- client → server ----------------------------------------------------------------------

struct Hello {
    int protocol = kProtocolVersion;
    std::string client;
    std::optional<std::string> token;
    int fps = 60;
    std::vector<std::string> channels{"arkit52"};
    int audio_rate = 48000;
    CurveEncoding encoding = CurveEncoding::F16;
};

struct Say {
    std::string text;
    std::optional<std::string> id;
    std::optional<std::string> voice;
    std::optional<std::string> lang;
    Emotion emotion;
};

struct AudioIn {
    std::string id;
    int rate = 48000;
    Bytes data;  ///< PCM16 LE mono
    bool end = false;
};

struct Mic {
    int rate = 48000;
    Bytes data;  ///< PCM16 LE mono
};

struct Chat {
    std::string text;
};

struct Interrupt {
    std::optional<std::string> id;  ///< none: stop the current utterance and drop the queued
};

struct Playback {
    std::string id;
    PlaybackState state = PlaybackState::Position;
    double position = 0.0;  ///< seconds on the utterance's audio clock
    std::optional<bool> interrupted;
};

struct Ping {
    double t = 0.0;
};

/// What the engine's camera sees, for the dialogue's next language-model turns.
struct Image {
    Bytes data;                         ///< a JPEG or PNG file, at most 1 MiB
    std::optional<double> t;            ///< when it was taken: seconds on the session clock
    std::optional<std::string> prompt;  ///< words that start a turn about it
};

using ClientMessage = std::variant<Hello, Say, AudioIn, Mic, Chat, Interrupt, Playback, Ping, Image>;

// ---- server → client ----------------------------------------------------------------------

struct Welcome {
    int protocol = 0;
    std::string session;
    std::string server;
    int fps = 0;
    std::vector<std::string> channels;  ///< column order of every curves payload
    int audio_rate = 0;
    CurveEncoding encoding = CurveEncoding::F16;
};

struct Utterance {
    std::string id;
    UtteranceState state = UtteranceState::Start;
    UtteranceSource source = UtteranceSource::Say;
    std::optional<std::string> text;
    std::optional<EndReason> reason;
};

struct Audio {
    std::string id;
    std::int32_t seq = 0;
    double t = 0.0;  ///< utterance time of the first sample
    Bytes data;      ///< PCM16 LE mono at the session's audio_rate
};

struct Curves {
    std::string id;
    std::int32_t seq = 0;
    double t = 0.0;  ///< frame k is at t + k / fps
    int fps = 0;
    std::int32_t n = 0;
    Bytes data;  ///< n × channels, row-major, little-endian f16 or f32
};

struct Clear {
    std::string id;
};

struct Transcript {
    std::string text;
    bool final = false;
};

struct Reply {
    std::string id;
    std::string text;
    bool final = false;
};

struct ServerError {
    std::string code;
    std::string message;
    bool fatal = false;
    std::optional<std::string> ref;
};

struct Pong {
    double t = 0.0;
    double server_t = 0.0;
};

/// A body cue on the utterance clock: play it when the playback of `id` reaches `t`. Its head
/// and brow part is already in the curves; this is for body animations.
struct Gesture {
    std::string id;
    double t = 0.0;         ///< start, seconds on the utterance's audio clock
    std::string name;       ///< nod, shake, tilt, brow_raise, beat, shrug (more may come)
    double duration = 0.0;  ///< seconds
    double strength = 0.0;  ///< 0..1
};

using ServerMessage =
    std::variant<Welcome, Utterance, Audio, Curves, Clear, Transcript, Reply, ServerError, Pong, Gesture>;

/// The id the server gives idle curves (session clock, between utterances).
inline const char* IdleId() { return "idle"; }

}  // namespace talkbridge
