// ClientSession: the audio clock, playback reports, dropping, and the blended face.
#include <algorithm>
#include <cmath>
#include <utility>

#include "TalkBridgeProtocol/ClientSession.h"
#include "TalkBridgeProtocol/Codec.h"

namespace talkbridge {

AudioOut ClientSession::PullAudio() {
    AudioOut out;
    out.flush = std::exchange(flush_pending_, false);
    if (utterances_.empty() || !welcome_) return out;
    Buffered& front = utterances_.front();
    if (!front.queued) {
        front.queued = true;
        front.stream_offset = queued_total_;
    }
    queued_total_ += static_cast<std::int64_t>(front.audio.Take(out.samples));
    Advance();  // an utterance without audio finishes here
    return out;
}

void ClientSession::SetPlayedSamples(std::int64_t played) {
    if (flush_pending_) return;  // a count from before the flush the player hasn't seen yet
    played_total_ = std::clamp<std::int64_t>(played, 0, queued_total_);
    Advance();
}

double ClientSession::PositionOf(const Buffered& u) const {
    if (!u.queued || !welcome_) return 0.0;
    const std::int64_t played = std::max<std::int64_t>(0, played_total_ - u.stream_offset);
    return static_cast<double>(played) / welcome_->audio_rate;
}

void ClientSession::Advance() {
    while (!utterances_.empty() && utterances_.front().queued) {
        Buffered& u = utterances_.front();
        const std::int64_t played = played_total_ - u.stream_offset;
        const bool done = u.audio.Drained() && played >= u.audio.Released();
        if (!u.started && (played > 0 || done)) {
            u.started = true;
            events_.push_back(UtteranceStartedEvent{u.id, u.text});
            Report(u, PlaybackState::Started);
        }
        if (u.started) FireGestures(u, PositionOf(u));
        if (!done) {
            if (u.started && PositionOf(u) - u.last_report >= config_.report_interval - 1e-9) {
                Report(u, PlaybackState::Position);
            }
            return;
        }
        Report(u, PlaybackState::Finished, false);
        events_.push_back(UtteranceFinishedEvent{u.id, false, u.reason, PositionOf(u)});
        utterances_.pop_front();
    }
}

void ClientSession::FireGestures(Buffered& u, double position) {
    while (!u.gestures.empty() && u.gestures.front().t <= position + 1e-9) {
        events_.push_back(GestureEvent{std::move(u.gestures.front())});
        u.gestures.pop_front();
    }
}

void ClientSession::Report(Buffered& u, PlaybackState state, std::optional<bool> interrupted) {
    u.last_report = PositionOf(u);
    outgoing_.push_back(Encode(Playback{u.id, state, u.last_report, interrupted}));
}

void ClientSession::Drop(const std::string& id) {
    for (auto it = utterances_.begin(); it != utterances_.end(); ++it) {
        if (it->id != id) continue;
        const double position = PositionOf(*it);
        if (it->queued) {  // its audio is in the player: the player must drop it now
            flush_pending_ = true;
            if (it->started) Report(*it, PlaybackState::Finished, true);
            queued_total_ = played_total_ = 0;
        }
        events_.push_back(UtteranceFinishedEvent{it->id, true, it->reason, position});
        utterances_.erase(it);
        return;
    }
}

void ClientSession::DropAll() {
    while (!utterances_.empty()) Drop(utterances_.back().id);
}

bool ClientSession::Speaking() const { return !utterances_.empty() && utterances_.front().started; }

std::optional<std::string> ClientSession::CurrentUtterance() const {
    if (!Speaking()) return std::nullopt;
    return utterances_.front().id;
}

double ClientSession::CurrentPosition() const { return Speaking() ? PositionOf(utterances_.front()) : 0.0; }

bool ClientSession::Sample(double now, std::vector<float>& out) {
    if (!welcome_) return false;
    const double dt = last_sample_time_ ? std::max(0.0, now - *last_sample_time_) : 0.0;
    last_sample_time_ = now;
    double target = 0.0;
    if (Speaking()) {
        Buffered& u = utterances_.front();
        const double position = PositionOf(u);
        if (u.curves.Sample(position, last_speech_)) target = 1.0;
        u.curves.DropBefore(position - 1.0);
    }
    const double step = config_.blend_time > 0.0 ? dt / config_.blend_time : 1.0;
    speech_weight_ = target > speech_weight_ ? std::min(target, speech_weight_ + step)
                                             : std::max(target, speech_weight_ - step);
    idle_.Sample(now, idle_values_);  // keeps the last idle pose when nothing new arrived
    out = idle_values_;
    if (last_speech_.size() != out.size()) return true;
    const auto w = static_cast<float>(speech_weight_);
    for (std::size_t c = 0; c < out.size(); ++c) out[c] += (last_speech_[c] - out[c]) * w;
    return true;
}

}  // namespace talkbridge
