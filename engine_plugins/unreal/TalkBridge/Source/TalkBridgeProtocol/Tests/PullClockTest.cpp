// The mixer's pull clock: 1024-sample pulls at 48 kHz read between pulls, an underrun, flush
// then queue in one tick against a model of the wave's counter. The C# core gets the same
// cases: AudioClock (JitterBufferTests.cs) and, for the flush, Playout's ring (PlayoutTests.cs).
#include <algorithm>
#include <cmath>
#include <cstdint>

#include <gtest/gtest.h>

#include "TalkBridgeProtocol/PullClock.h"

namespace talkbridge {
namespace {

constexpr int kRate = 48000;
constexpr int kBlock = 1024;

/// A mixer that takes a block every kBlock / kRate seconds from t = 0 while audio lasts.
std::int64_t Waiting(std::int64_t queued, double t) {
    const std::int64_t pulls = static_cast<std::int64_t>(std::floor(t * kRate / kBlock)) + 1;
    return std::max<std::int64_t>(0, queued - pulls * kBlock);
}

TEST(PullClock, ReadsBetweenPullsWithinTwoMilliseconds) {
    PullClock clock(kRate);
    const std::int64_t queued = kRate * 2;  // two seconds queued up front
    clock.Queue(queued);
    double worst = 0.0;
    for (double t = 0.0; t < 1.5; t += 0.001) {  // the game reads every millisecond
        const double played = static_cast<double>(clock.Observe(t, Waiting(queued, t)));
        const double truth = t * kRate;            // the mixer plays continuously from t = 0
        worst = std::max(worst, std::abs(played - truth) / kRate);
    }
    EXPECT_LT(worst, 0.002);  // a stair-step of whole blocks would be off by up to 21 ms
}

TEST(PullClock, AnUnderrunHoldsTheClockAtWhatWasTaken) {
    PullClock clock(kRate);
    clock.Queue(3 * kBlock);
    std::int64_t last = 0;
    for (double t = 0.0; t < 0.5; t += 0.002) {
        const std::int64_t played = clock.Observe(t, Waiting(3 * kBlock, t));
        EXPECT_GE(played, last);               // never backwards
        EXPECT_LE(played, 3 * kBlock);         // never past what the mixer took
        last = played;
    }
    EXPECT_EQ(last, 3 * kBlock);               // all of it played, then the clock waits
}

/// The waiting count of UE 5.x's USoundWaveProcedural (SoundWaveProcedural.cpp), as the glue
/// sees it: QueueAudio adds to the count; ResetAudio empties the not-yet-pumped queue and only
/// flags the reset; the next pull zeroes the count, then pumps what was queued since and takes
/// a block off the count. Audio queued between ResetAudio and that pull still plays, but its
/// count is wiped.
struct ProceduralWave {
    std::int64_t queued = 0;   ///< QueuedAudio, not yet pumped
    std::int64_t buffer = 0;   ///< AudioBuffer, pumped
    std::int64_t count = 0;    ///< AvailableByteCount / 2
    bool reset = false;

    void QueueAudio(std::int64_t n) { queued += n; count += n; }
    void ResetAudio() { queued = 0; reset = true; }
    std::int64_t Pull() {  // GeneratePCMData: what the mixer takes (0: an underrun, silence)
        if (reset) { reset = false; buffer = 0; count = 0; }
        buffer += queued;
        queued = 0;
        const std::int64_t take = std::min<std::int64_t>(kBlock, buffer);
        buffer -= take;
        count -= take;
        return take;
    }
};

/// The glue (UTalkBridgeAudioPlayer): holds audio back while the clock waits for a reset.
struct Player {
    ProceduralWave wave;
    PullClock clock{kRate};
    std::int64_t held = 0;
    bool naive = false;  ///< queue at once, ignoring CanQueue (what the clock must not need)

    void Queue(std::int64_t n) { held += n; Release(); }
    void Flush() {
        held = 0;
        if (clock.Flush(wave.count)) wave.ResetAudio();
    }
    std::int64_t Played(double now) {
        clock.Observe(now, wave.count);
        Release();
        return clock.PlayedSinceFlush();
    }
    void Release() {
        if (held > 0 && (naive || clock.CanQueue())) {
            wave.QueueAudio(held);
            clock.Queue(held);
            held = 0;
        }
    }
};

/// A `clear` of A while B is buffered: Flush then Queue(B's first 100 ms) in the same tick at
/// 50 ms, with A's 7 unplayed blocks still counted by the wave; the rest of B streams in, 20 ms
/// every 20 ms. Returns the worst error of B's clock against what the mixer really plays of B.
double FlushThenQueueWorstError(bool naive, double* b_started_after = nullptr) {
    Player player;
    player.naive = naive;
    player.Queue(10 * kBlock);                 // A
    std::int64_t pulls = 0, b_taken = 0;
    double b_first_pull = -1.0, worst = 0.0, next_chunk = 0.0;
    bool flushed = false;
    for (double t = 0.0; t < 1.0; t += 0.001) {       // the game ticks every millisecond
        while (pulls * kBlock <= t * kRate) {          // the mixer pulls at k * 1024 / 48000 s
            const std::int64_t take = player.wave.Pull();
            if (flushed && take > 0) {
                if (b_taken == 0) b_first_pull = static_cast<double>(pulls * kBlock) / kRate;
                b_taken += take;
            }
            ++pulls;
        }
        if (!flushed && t >= 0.05) {               // 3 blocks of A taken by now
            player.Flush();
            player.Queue(kRate / 10);
            flushed = true;
            next_chunk = t + 0.02;
        } else if (flushed && t >= next_chunk) {
            player.Queue(kRate / 50);
            next_chunk += 0.02;
        }
        const double played = static_cast<double>(player.Played(t));
        if (flushed) {
            const double truth = b_first_pull < 0.0 ? 0.0
                : std::min<double>(static_cast<double>(b_taken), (t - b_first_pull) * kRate);
            worst = std::max(worst, std::abs(played - truth) / kRate);
        }
    }
    if (b_started_after != nullptr) *b_started_after = b_first_pull - 0.05;
    return worst;
}

TEST(PullClock, FlushThenQueueInOneTickStaysExact) {
    double waited = 0.0;
    EXPECT_LT(FlushThenQueueWorstError(/*naive=*/false, &waited), 0.002);
    // B was held for the wave's reset pull (which plays silence) and starts on the pull after
    // it: within two mixer periods (42.7 ms) of the clear.
    EXPECT_GT(waited, 0.0);
    EXPECT_LE(waited, 2.0 * kBlock / kRate + 0.001);
    // Without the hold the wave's reset wipes the count of B's first 100 ms and B's face runs
    // that far ahead of its voice: the case the review found, on the same wave model.
    EXPECT_GT(FlushThenQueueWorstError(/*naive=*/true), 0.05);
}

TEST(PullClock, AFlushWithNothingWaitingNeedsNoResetAndNoHold) {
    PullClock clock(kRate);
    clock.Queue(2 * kBlock);
    clock.Observe(0.0, kBlock);
    clock.Observe(0.03, 0);                     // the mixer took all of A
    EXPECT_FALSE(clock.Flush(0));               // nothing to drop: no ResetAudio
    EXPECT_TRUE(clock.CanQueue());
    clock.Queue(kBlock);
    EXPECT_EQ(clock.Observe(0.031, kBlock), 2 * kBlock);  // not taken yet: B at 0
    EXPECT_EQ(clock.PlayedSinceFlush(), 0);
    EXPECT_EQ(clock.Observe(0.04, 0), 2 * kBlock);        // B's block taken now
    EXPECT_NEAR(static_cast<double>(clock.Observe(0.05, 0)), 2 * kBlock + 0.01 * kRate, 1.0);
}

TEST(PullClock, TheClockNeverGoesBackAcrossAFlush) {
    PullClock clock(kRate);
    clock.Queue(10 * kBlock);
    clock.Observe(0.0, 9 * kBlock);
    const std::int64_t before = clock.Observe(0.01, 9 * kBlock);
    EXPECT_TRUE(clock.Flush(9 * kBlock));
    EXPECT_FALSE(clock.CanQueue());
    EXPECT_GE(clock.Observe(0.011, 9 * kBlock), before);  // the wave still counts A: held
    EXPECT_FALSE(clock.CanQueue());
    EXPECT_TRUE(clock.Flush(9 * kBlock));                 // a second clear before the reset
    EXPECT_GE(clock.Observe(0.025, 0), before);           // the reset pull: count zero
    EXPECT_TRUE(clock.CanQueue());
    EXPECT_EQ(clock.PlayedSinceFlush(), 0);
}

TEST(PullClock, OutputLatencyIsTakenOff) {
    PullClock clock(kRate);
    clock.Queue(kRate);
    clock.Observe(0.0, kRate - kBlock);
    EXPECT_EQ(clock.Observe(0.01, kRate - kBlock, 0.02), 0);  // still in the output path
    EXPECT_NEAR(static_cast<double>(clock.Observe(0.021, kRate - kBlock, 0.02)), 0.001 * kRate, 1.0);
}

}  // namespace
}  // namespace talkbridge
