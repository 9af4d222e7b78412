// ClientSession: messages out and server messages in (playback lives in ClientSessionPlayback.cpp).
#include "TalkBridgeProtocol/ClientSession.h"

#include <iterator>
#include <utility>

#include "TalkBridgeProtocol/Codec.h"
#include "TalkBridgeProtocol/Payload.h"

namespace talkbridge {

ClientSession::ClientSession(SessionConfig config)
    : config_(std::move(config)), idle_(0, config_.idle_delay) {}

Bytes ClientSession::HelloMessage() const { return Encode(config_.hello); }

Bytes ClientSession::SayMessage(Say say, std::string* id) {
    if (!say.id || say.id->empty()) say.id = config_.id_prefix + "-" + std::to_string(next_id_++);
    if (id) *id = *say.id;
    return Encode(say);
}

Bytes ClientSession::ChatMessage(const std::string& text) const { return Encode(Chat{text}); }

Bytes ClientSession::MicMessage(const float* samples, std::size_t count, int rate) const {
    return Encode(Mic{rate, EncodePcm16(samples, count)});
}

Bytes ClientSession::PingMessage(double t) const { return Encode(Ping{t}); }

Bytes ClientSession::Interrupt(const std::optional<std::string>& id) {
    if (id) {
        Drop(*id);
    } else {
        DropAll();
    }
    return Encode(talkbridge::Interrupt{id});
}

void ClientSession::Receive(const std::uint8_t* data, std::size_t size, double now) {
    Result<ServerMessage> decoded = DecodeServer(data, size);
    if (!decoded && decoded.Error().code == ErrorCode::UnknownType &&
        decoded.Error().message.find("travels the other way") == std::string::npos) {
        ++unknown_;  // a newer server's message: the protocol only ever adds types
        return;
    }
    if (!decoded) {
        LocalError(WireCode(decoded.Error().code), decoded.Error().message);
        return;
    }
    Receive(decoded.Value(), now);
}

void ClientSession::Receive(const ServerMessage& message, double now) {
    if (const auto* m = std::get_if<Welcome>(&message)) return OnWelcome(*m);
    if (!welcome_) return LocalError("hello_required", std::string("a ") + TypeName(message) + " before the welcome");
    if (const auto* m = std::get_if<Utterance>(&message)) return OnUtterance(*m);
    if (const auto* m = std::get_if<Audio>(&message)) return OnAudio(*m);
    if (const auto* m = std::get_if<Curves>(&message)) return OnCurves(*m, now);
    if (const auto* m = std::get_if<Clear>(&message)) return Drop(m->id);
    if (const auto* m = std::get_if<Transcript>(&message)) return events_.push_back(*m);
    if (const auto* m = std::get_if<Reply>(&message)) return events_.push_back(*m);
    if (const auto* m = std::get_if<Pong>(&message)) return events_.push_back(*m);
    if (const auto* m = std::get_if<Gesture>(&message)) return OnGesture(*m);
    if (const auto* m = std::get_if<ServerError>(&message)) {
        events_.push_back(ErrorEvent{m->code, m->message, m->fatal, m->ref.value_or(""), true});
    }
}

void ClientSession::OnWelcome(const Welcome& welcome) {
    DropAll();
    welcome_ = welcome;
    config_.jitter.sample_rate = welcome.audio_rate;
    idle_ = IdleTrack(static_cast<int>(welcome.channels.size()), config_.idle_delay);
    idle_values_.assign(welcome.channels.size(), 0.0f);
    last_speech_.clear();
    speech_weight_ = 0.0;
    events_.push_back(ConnectedEvent{welcome});
}

void ClientSession::OnUtterance(const Utterance& utterance) {
    if (utterance.state == UtteranceState::Start) {
        if (Find(utterance.id)) return;  // a repeated start changes nothing
        Buffered u;
        u.id = utterance.id;
        u.text = utterance.text.value_or("");
        u.audio = AudioJitterBuffer(config_.jitter);
        u.curves = CurveTrack(static_cast<int>(welcome_->channels.size()));
        utterances_.push_back(std::move(u));
        return;
    }
    if (Buffered* u = Find(utterance.id)) {  // unknown: dropped here already, or never started
        u->reason = utterance.reason;
        u->audio.MarkEnded();
    }
}

void ClientSession::OnAudio(const Audio& audio) {
    Buffered* u = Find(audio.id);
    if (!u) {
        ++ignored_;
        return;
    }
    Result<std::vector<std::int16_t>> pcm = DecodePcm16(audio.data);
    if (!pcm) return LocalError(WireCode(pcm.Error().code), "audio: " + pcm.Error().message);
    u->audio.Add(audio.t, std::move(pcm.Value()));
}

void ClientSession::OnCurves(const Curves& curves, double now) {
    const int channels = static_cast<int>(welcome_->channels.size());
    Result<CurveFrames> frames = DecodeCurveData(curves, channels, welcome_->encoding);
    if (!frames) return LocalError(WireCode(frames.Error().code), frames.Error().message);
    if (curves.id == IdleId()) return idle_.Add(now, curves.t, curves.fps, frames.Value());
    if (Buffered* u = Find(curves.id)) return u->curves.Add(curves.t, curves.fps, frames.Value());
    ++ignored_;
}

void ClientSession::OnGesture(const Gesture& gesture) {
    Buffered* u = Find(gesture.id);
    if (!u) {
        ++ignored_;
        return;
    }
    auto at = u->gestures.end();
    while (at != u->gestures.begin() && std::prev(at)->t > gesture.t) --at;
    u->gestures.insert(at, gesture);
    if (u->started) FireGestures(*u, PositionOf(*u));  // already reached (arrived late)
}

ClientSession::Buffered* ClientSession::Find(const std::string& id) {
    for (Buffered& u : utterances_) {
        if (u.id == id) return &u;
    }
    return nullptr;
}

void ClientSession::LocalError(const std::string& code, const std::string& message) {
    events_.push_back(ErrorEvent{code, message, false, "", false});
}

std::vector<SessionEvent> ClientSession::TakeEvents() { return std::exchange(events_, {}); }
std::vector<Bytes> ClientSession::TakeOutgoing() { return std::exchange(outgoing_, {}); }

}  // namespace talkbridge
