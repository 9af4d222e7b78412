// A talkbridge client without I/O: bytes in, events, PCM, curves and bytes out.
//
// The owner moves bytes between the socket and Receive()/Take*(), feeds PullAudio() to its
// audio player, reports how many of those samples the player has actually played
// (SetPlayedSamples), and asks Sample() for the face each frame. The face is the current
// utterance's curves sampled at that playback position, so it is in sync with what is heard
// by construction; between utterances it is the idle stream, with a short blend either way.
// Time comes in as arguments (`now`, seconds on any monotonic clock): tests drive it virtually.
//
// Utterances play one at a time in the order the server started them. Only the playing one
// is handed to the player; `clear` or a local Interrupt() drops an utterance at once
// (PullAudio() then says `flush`: the player must drop what it has queued). A `gesture`
// waits with its utterance and becomes a GestureEvent when the playback position reaches
// its `t`. Server message types this core does not know are skipped (UnknownServerMessages).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "TalkBridgeProtocol/Api.h"
#include "TalkBridgeProtocol/AudioJitterBuffer.h"
#include "TalkBridgeProtocol/CurveTrack.h"
#include "TalkBridgeProtocol/IdleTrack.h"
#include "TalkBridgeProtocol/Messages.h"
#include "TalkBridgeProtocol/SessionEvents.h"

namespace talkbridge {

struct SessionConfig {
    Hello hello;                    ///< sent as is by HelloMessage()
    JitterConfig jitter;            ///< sample_rate is taken from the welcome
    double blend_time = 0.15;       ///< seconds to blend between idle and speech (0: cut)
    double idle_delay = 0.1;        ///< idle frames play this far behind their arrival
    double report_interval = 0.5;   ///< seconds of audio between `playback position` reports
    std::string id_prefix = "ue";   ///< Say() ids: ue-1, ue-2, ...
};

struct AudioOut {
    bool flush = false;                 ///< drop everything queued in the player first
    std::vector<std::int16_t> samples;  ///< then queue these (mono, welcome.audio_rate)
};

class TALKBRIDGEPROTOCOL_API ClientSession {
public:
    explicit ClientSession(SessionConfig config = {});

    // ---- messages to send (also queued effects: Interrupt drops audio at once) ----
    Bytes HelloMessage() const;
    /// Fills `say.id` when empty and returns the bytes; `*id` receives the id used.
    Bytes SayMessage(Say say, std::string* id = nullptr);
    Bytes ChatMessage(const std::string& text) const;
    Bytes MicMessage(const float* samples, std::size_t count, int rate) const;
    Bytes PingMessage(double t) const;
    /// Stops `id` (or everything) locally now and returns the `interrupt` for the server.
    Bytes Interrupt(const std::optional<std::string>& id = std::nullopt);

    // ---- input ----
    void Receive(const std::uint8_t* data, std::size_t size, double now);
    void Receive(const ServerMessage& message, double now);

    // ---- output ----
    AudioOut PullAudio();
    /// Samples the player has played since the last flush (its clock); call every frame.
    void SetPlayedSamples(std::int64_t played);
    /// The face for `now`: welcome.channels values. False before the welcome.
    bool Sample(double now, std::vector<float>& out);
    std::vector<SessionEvent> TakeEvents();
    std::vector<Bytes> TakeOutgoing();

    // ---- state ----
    const std::optional<Welcome>& GetWelcome() const { return welcome_; }
    bool Speaking() const;
    std::optional<std::string> CurrentUtterance() const;
    /// Seconds of the current utterance played (0 when none).
    double CurrentPosition() const;
    std::size_t QueuedUtterances() const { return utterances_.size(); }
    /// Audio, curves and gestures that arrived for no known utterance (cleared, or never started).
    std::int64_t IgnoredMessages() const { return ignored_; }
    /// Messages of a type newer than this core (forward compatibility: skipped, not an error).
    std::int64_t UnknownServerMessages() const { return unknown_; }

private:
    struct Buffered {
        std::string id;
        std::string text;
        AudioJitterBuffer audio;
        CurveTrack curves;
        std::deque<Gesture> gestures;  ///< by t; fired as playback reaches them
        std::optional<EndReason> reason;
        bool queued = false;    ///< its audio is being handed to the player
        bool started = false;   ///< UtteranceStarted was emitted
        std::int64_t stream_offset = 0;
        double last_report = 0.0;
    };

    void OnWelcome(const Welcome& welcome);
    void OnUtterance(const Utterance& utterance);
    void OnAudio(const Audio& audio);
    void OnCurves(const Curves& curves, double now);
    void OnGesture(const Gesture& gesture);
    void FireGestures(Buffered& u, double position);
    Buffered* Find(const std::string& id);
    void Drop(const std::string& id);
    void DropAll();
    void Advance();
    void Report(Buffered& u, PlaybackState state, std::optional<bool> interrupted = std::nullopt);
    double PositionOf(const Buffered& u) const;
    void LocalError(const std::string& code, const std::string& message);

    SessionConfig config_;
    std::optional<Welcome> welcome_;
    std::deque<Buffered> utterances_;
    IdleTrack idle_;
    std::vector<SessionEvent> events_;
    std::vector<Bytes> outgoing_;
    std::int64_t queued_total_ = 0;
    std::int64_t played_total_ = 0;
    bool flush_pending_ = false;
    std::int64_t next_id_ = 1;
    std::int64_t ignored_ = 0;
    std::int64_t unknown_ = 0;
    double speech_weight_ = 0.0;
    std::optional<double> last_sample_time_;
    std::vector<float> last_speech_;
    std::vector<float> idle_values_;
};

}  // namespace talkbridge
