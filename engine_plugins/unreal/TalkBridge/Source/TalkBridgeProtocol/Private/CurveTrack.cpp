#include "TalkBridgeProtocol/CurveTrack.h"

#include <iterator>

namespace talkbridge {

double CurveTrack::FirstTime() const { return frames_.empty() ? 0.0 : frames_.begin()->first; }
double CurveTrack::LastTime() const { return frames_.empty() ? 0.0 : frames_.rbegin()->first; }

void CurveTrack::Add(double t, int fps, const CurveFrames& frames) {
    if (fps <= 0 || frames.channels != channels_) return;
    for (int k = 0; k < frames.n; ++k) {
        const float* row = frames.Row(k);
        frames_[t + static_cast<double>(k) / fps].assign(row, row + channels_);
    }
}

void CurveTrack::AddFrame(double time, const std::vector<float>& values) {
    if (static_cast<int>(values.size()) == channels_) frames_[time] = values;
}

bool CurveTrack::Sample(double time, std::vector<float>& out) const {
    if (frames_.empty()) return false;
    out.resize(static_cast<std::size_t>(channels_));
    const auto after = frames_.upper_bound(time);
    if (after == frames_.begin() || after == frames_.end()) {
        const auto& held = after == frames_.begin() ? after->second : frames_.rbegin()->second;
        out.assign(held.begin(), held.end());
        return true;
    }
    const auto before = std::prev(after);
    const double span = after->first - before->first;
    const float w = span > 0.0 ? static_cast<float>((time - before->first) / span) : 0.0f;
    for (int c = 0; c < channels_; ++c) {
        out[c] = before->second[c] + (after->second[c] - before->second[c]) * w;
    }
    return true;
}

void CurveTrack::DropBefore(double time) {
    auto keep = frames_.upper_bound(time);
    if (keep == frames_.begin()) return;
    frames_.erase(frames_.begin(), std::prev(keep));
}

}  // namespace talkbridge
