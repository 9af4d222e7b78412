// What a pull-driven mixer has played, read between its pulls.
//
// Unreal's USoundWaveProcedural counts the bytes still waiting, and that count drops only when
// the mixer takes a block (1024 samples at 48 kHz: a step every ~21 ms). Read alone it makes
// the face clock stair-step. Between pulls the mixer plays the block it took at the sample
// rate, so the clock here moves on a monotonic time from the last pull: the block taken at t0
// is heard from t0 over its own length. It never goes backwards and never past what was taken
// (an underrun holds it). Sans-I/O: the engine glue feeds it queue/flush/observations.
//
// Flush, as the wave does it (UE 5.x SoundWaveProcedural.cpp): ResetAudio() empties the
// not-yet-pumped queue and only flags the reset; the mixer's next pull then sets the count to
// zero *before* it pumps what was queued since. Audio queued between the flush and that pull
// still plays, but its count is wiped, so the count runs below the truth by that much from
// then on (negative at first): its clock would run ahead and it would "finish" early. So after
// a flush that needs a reset the clock says !CanQueue() until it has seen the reset (the
// count at zero with nothing queued); the glue holds new audio back until then (at most one
// mixer pull, ~21 ms), and flush then queue in one tick stays exact.
#pragma once

#include <cstdint>

#include "TalkBridgeProtocol/Api.h"

namespace talkbridge {

class TALKBRIDGEPROTOCOL_API PullClock {
public:
    explicit PullClock(int sample_rate) : rate_(sample_rate) {}

    /// `samples` handed to the mixer's buffer (only while CanQueue()).
    void Queue(std::int64_t samples);
    /// Everything queued and not yet taken is dropped; what was played stays played.
    /// `waiting` is the buffer's count now. True when it still holds audio: the glue must
    /// reset it (ResetAudio) and hold new audio back until CanQueue().
    bool Flush(std::int64_t waiting);
    /// False from a flush that needed a reset until Observe() has seen the reset happen.
    bool CanQueue() const { return !resetting_; }
    /// The buffer holds `waiting` samples at `now` (seconds, monotonic): samples played by then,
    /// `latency` seconds of output path (after the mixer) already taken off.
    std::int64_t Observe(double now, std::int64_t waiting, double latency = 0.0);

    std::int64_t Played() const { return played_; }
    /// Of those, the samples played since the last flush (the audio queued after it).
    std::int64_t PlayedSinceFlush() const { return played_ > base_ ? played_ - base_ : 0; }

private:
    int rate_;
    std::int64_t base_ = 0;        ///< samples taken before the last flush
    std::int64_t queued_ = 0;      ///< queued since the last flush
    std::int64_t taken_ = 0;       ///< taken by the mixer since the last flush
    std::int64_t before_pull_ = 0; ///< `taken_` before the last pull
    double pulled_at_ = 0.0;       ///< when the last pull was seen
    bool resetting_ = false;       ///< a reset the mixer has not done yet
    std::int64_t played_ = 0;      ///< the last answer (the clock never goes back)
};

}  // namespace talkbridge
