// Curve frames on one clock, sampled at any time.
//
// Frames are kept by their time (t + k/fps of the curves message they came in), so chunks may
// arrive in any order, a resent chunk replaces its frames, and a missing chunk is bridged by
// interpolating between the frames on either side. Sampling interpolates linearly between the
// two frames around the time and holds the first/last frame outside them.
#pragma once

#include <cstddef>
#include <map>
#include <vector>

#include "TalkBridgeProtocol/Api.h"
#include "TalkBridgeProtocol/Payload.h"

namespace talkbridge {

class TALKBRIDGEPROTOCOL_API CurveTrack {
public:
    explicit CurveTrack(int channels = 0) : channels_(channels) {}

    int Channels() const { return channels_; }
    bool Empty() const { return frames_.empty(); }
    std::size_t FrameCount() const { return frames_.size(); }
    double FirstTime() const;
    double LastTime() const;

    /// Adds frame k of `frames` at time t + k / fps; a frame of another width is ignored.
    void Add(double t, int fps, const CurveFrames& frames);
    /// Adds one frame at `time` (values.size() must equal Channels()).
    void AddFrame(double time, const std::vector<float>& values);

    /// Writes Channels() values for `time` into `out`; false (and `out` untouched) when empty.
    bool Sample(double time, std::vector<float>& out) const;

    /// Forgets frames before `time`, keeping the last one before it so sampling at `time` still works.
    void DropBefore(double time);
    void Clear() { frames_.clear(); }

private:
    int channels_;
    std::map<double, std::vector<float>> frames_;
};

}  // namespace talkbridge
