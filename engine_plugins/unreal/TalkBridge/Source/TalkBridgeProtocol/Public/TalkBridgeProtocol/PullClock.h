// What a pull-driven mixer has played, read between its pulls.
//
// Unreal's USoundWaveProcedural counts the bytes still waiting, and that count drops only when
// the mixer takes a block (1024 samples at 48 kHz: a step every ~21 ms). Read alone it makes
// the face clock stair-step. Between pulls the mixer plays the block it took at the sample
// rate, so the clock here moves on a monotonic time from the last pull: the block taken at t0
// is heard from t0 over its own length. It never goes backwards and never past what was taken
// (an underrun holds it). A flush drops what is queued; the buffer may go on counting the
// dropped audio until the mixer's next pull, and the clock ignores that (flush then queue in
// one tick stays exact). Sans-I/O: the engine glue feeds it queue/flush/observations.
#pragma once

#include <cstdint>

#include "TalkBridgeProtocol/Api.h"

namespace talkbridge {

class TALKBRIDGEPROTOCOL_API PullClock {
public:
    explicit PullClock(int sample_rate) : rate_(sample_rate) {}

    /// `samples` handed to the mixer's buffer.
    void Queue(std::int64_t samples);
    /// Everything queued and not yet taken is dropped; what was played stays played.
    void Flush();
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
    bool flushing_ = false;        ///< a flush the buffer may not have seen yet
    std::int64_t played_ = 0;      ///< the last answer (the clock never goes back)
};

}  // namespace talkbridge
