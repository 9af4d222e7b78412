// Reconnect delays: doubling from `initial` up to `max`, each within ±`jitter` of its nominal
// value so that many clients cut off at once don't all retry in step. The same rule, and the
// same defaults, as the Unity package's TalkBridge.Core.Backoff.
#pragma once

#include <random>

#include "TalkBridgeProtocol/Api.h"

namespace talkbridge {

class TALKBRIDGEPROTOCOL_API Backoff {
public:
    explicit Backoff(double initial = 0.5, double max = 10.0, double jitter = 0.2,
                     unsigned seed = std::random_device{}());

    /// The delay before the next attempt, in seconds.
    double Next();
    /// After a successful connection (the server's welcome): start from `initial` again.
    void Reset();

    int Attempts() const { return attempts_; }
    double Initial() const { return initial_; }
    double Max() const { return max_; }

private:
    double initial_;
    double max_;
    double jitter_;
    double next_;
    int attempts_ = 0;
    std::mt19937 random_;
};

}  // namespace talkbridge
