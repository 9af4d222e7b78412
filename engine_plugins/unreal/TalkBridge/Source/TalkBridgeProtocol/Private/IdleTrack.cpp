#include "TalkBridgeProtocol/IdleTrack.h"

namespace talkbridge {

void IdleTrack::Add(double now, double t, int fps, const CurveFrames& frames) {
    if (fps <= 0 || frames.n <= 0) return;
    const double last_frame = t + static_cast<double>(frames.n - 1) / fps;
    const double offset = now - last_frame;
    if (!offset_ || offset < *offset_) offset_ = offset;
    track_.Add(t, fps, frames);
}

bool IdleTrack::Sample(double now, std::vector<float>& out) {
    if (!offset_) return false;
    const double session_time = now - *offset_ - delay_;
    track_.DropBefore(session_time - 1.0);
    return track_.Sample(session_time, out);
}

}  // namespace talkbridge
