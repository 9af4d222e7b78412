#include "TalkBridgeProtocol/PullClock.h"

#include <algorithm>

namespace talkbridge {

void PullClock::Queue(std::int64_t samples) {
    if (samples > 0) {
        queued_ += samples;
    }
}

bool PullClock::Flush(std::int64_t waiting) {
    base_ += taken_;
    queued_ = 0;
    taken_ = 0;
    before_pull_ = 0;
    // With nothing waiting there is nothing to drop, and no reset to wipe what comes next.
    // A second flush before the first reset was seen still waits for that reset.
    resetting_ = resetting_ || waiting > 0;
    return resetting_;
}

std::int64_t PullClock::Observe(double now, std::int64_t waiting, double latency) {
    if (resetting_) {
        // Nothing is queued while resetting: the count is the dropped audio until the mixer's
        // reset pull sets it to zero. Only the block taken before the flush is still heard.
        if (waiting <= 0) {
            resetting_ = false;
        }
        waiting = queued_;
    }
    const std::int64_t taken = std::clamp<std::int64_t>(queued_ - waiting, 0, queued_);
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
