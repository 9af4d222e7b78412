// Idle frames (id "idle"): curves on the server's session clock, paced in real time.
//
// They carry no audio, so they are replayed on the local clock: the offset between the two
// clocks is the smallest (arrival − frame time) seen, since network delay only ever adds to
// it, and frames are sampled `delay` seconds behind so that jitter doesn't make them stutter.
#pragma once

#include <optional>
#include <vector>

#include "TalkBridgeProtocol/Api.h"
#include "TalkBridgeProtocol/CurveTrack.h"

namespace talkbridge {

class TALKBRIDGEPROTOCOL_API IdleTrack {
public:
    explicit IdleTrack(int channels = 0, double delay = 0.1) : track_(channels), delay_(delay) {}

    /// `now`: local clock at arrival; `t`, `fps`, `frames`: the idle curves message.
    void Add(double now, double t, int fps, const CurveFrames& frames);
    /// The idle pose for local time `now`; false until a frame arrived.
    bool Sample(double now, std::vector<float>& out);

private:
    CurveTrack track_;
    std::optional<double> offset_;  ///< local clock − session clock
    double delay_;
};

}  // namespace talkbridge
