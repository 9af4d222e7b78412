// The mixer's pull clock: 1024-sample pulls at 48 kHz read between pulls, an underrun, flush
// then queue in one tick. The C# core's AudioClock gets the same cases (PlayoutTests.cs).
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

TEST(PullClock, FlushThenQueueInOneTickStaysExact) {
    PullClock clock(kRate);
    clock.Queue(10 * kBlock);
    const std::int64_t before = clock.Observe(0.05, 10 * kBlock - 3 * kBlock);  // 3 blocks taken
    // A `clear` of A while B is buffered: flush and queue B before the mixer's next pull. The
    // buffer still counts A's 7 blocks on top of B's 2 until the mixer sees the reset.
    clock.Flush();
    clock.Queue(2 * kBlock);
    const std::int64_t stale = clock.Observe(0.051, 7 * kBlock + 2 * kBlock);
    EXPECT_GE(stale, before);
    EXPECT_LE(stale, 3 * kBlock);  // not negative, not B's audio counted as played
    // The mixer resets, then takes B's first block: B's clock starts from what A played.
    const std::int64_t after = clock.Observe(0.07, 1 * kBlock);
    EXPECT_EQ(after, 3 * kBlock);
    EXPECT_EQ(clock.PlayedSinceFlush(), 0);  // B's own clock starts at its first sample
    EXPECT_NEAR(static_cast<double>(clock.Observe(0.07 + 0.01, 1 * kBlock)),
                3 * kBlock + 0.01 * kRate, 1.0);
    EXPECT_NEAR(static_cast<double>(clock.PlayedSinceFlush()), 0.01 * kRate, 1.0);
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
