#include "TalkBridgeProtocol/Backoff.h"

#include <algorithm>

namespace talkbridge {

Backoff::Backoff(double initial, double max, double jitter, unsigned seed)
    : initial_(initial), max_(max), jitter_(jitter), next_(initial), random_(seed) {}

double Backoff::Next() {
    std::uniform_real_distribution<double> spread(-1.0, 1.0);
    const double delay = next_ * (1.0 + jitter_ * spread(random_));
    next_ = std::min(max_, next_ * 2.0);
    ++attempts_;
    return std::min(max_, delay);
}

void Backoff::Reset() {
    next_ = initial_;
    attempts_ = 0;
}

}  // namespace talkbridge
