#include "TalkBridgeProtocol/PullClock.h"

#include <algorithm>

namespace talkbridge {

void PullClock::Queue(std::int64_t samples) {
    if (samples > 0) {
        queued_ += samples;
    }
}

void PullClock::Flush() {
    base_ += taken_;
    queued_ = 0;
    taken_ = 0;
    before_pull_ = 0;
    flushing_ = true;
}

std::int64_t PullClock::Observe(double now, std::int64_t waiting, double latency) {
    std::int64_t taken = queued_ - waiting;
    if (flushing_) {
        if (taken < 0) {
            taken = 0;  // the buffer still counts audio the flush dropped
        } else {
            flushing_ = false;
        }
    }
    taken = std::clamp<std::int64_t>(taken, 0, queued_);
    if (taken > taken_) {  // a pull: its block plays from now on
        before_pull_ = taken_;
        taken_ = taken;
        pulled_at_ = now;
    }
    const double heard = (now - latency - pulled_at_) * rate_;
    const std::int64_t into_block = std::clamp<std::int64_t>(static_cast<std::int64_t>(heard), 0,
                                                             taken_ - before_pull_);
    played_ = std::max(played_, base_ + before_pull_ + into_block);
    return played_;
}

}  // namespace talkbridge
