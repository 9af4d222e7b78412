// Sampling on a clock: linear between frames, hold at the ends, bridge holes, any arrival order.
#include <gtest/gtest.h>

#include "TalkBridgeProtocol/CurveTrack.h"
#include "TalkBridgeProtocol/IdleTrack.h"

namespace talkbridge {
namespace {

/// n frames × 2 channels: channel 0 = first + k, channel 1 = 10 × (first + k).
CurveFrames Frames(int first, int n) {
    CurveFrames frames;
    frames.n = n;
    frames.channels = 2;
    for (int k = 0; k < n; ++k) {
        frames.values.push_back(static_cast<float>(first + k));
        frames.values.push_back(static_cast<float>(10 * (first + k)));
    }
    return frames;
}

std::vector<float> At(const CurveTrack& track, double time) {
    std::vector<float> out;
    EXPECT_TRUE(track.Sample(time, out));
    return out;
}

TEST(CurveTrack, EmptyTrackSamplesNothing) {
    CurveTrack track(2);
    std::vector<float> out{7.0f};
    EXPECT_FALSE(track.Sample(0.0, out));
    EXPECT_EQ(out, std::vector<float>{7.0f});
}

TEST(CurveTrack, FrameTimesGiveTheFramesExactly) {
    CurveTrack track(2);
    track.Add(0.0, 10, Frames(0, 3));
    track.Add(0.3, 10, Frames(3, 3));
    for (int k = 0; k < 6; ++k) {
        EXPECT_EQ(At(track, k / 10.0), (std::vector<float>{float(k), 10.0f * k})) << k;
    }
}

TEST(CurveTrack, LinearBetweenFrames) {
    CurveTrack track(2);
    track.Add(0.0, 10, Frames(0, 3));
    EXPECT_NEAR(At(track, 0.125)[0], 1.25f, 1e-5);
    EXPECT_NEAR(At(track, 0.125)[1], 12.5f, 1e-4);
}

TEST(CurveTrack, HoldsTheEnds) {
    CurveTrack track(2);
    track.Add(1.0, 10, Frames(4, 2));
    EXPECT_EQ(At(track, 0.0)[0], 4.0f);
    EXPECT_EQ(At(track, 1.05)[0], 4.5f);
    EXPECT_EQ(At(track, 99.0)[0], 5.0f);
}

TEST(CurveTrack, OutOfOrderChunksAndAMissingChunk) {
    CurveTrack track(2);
    track.Add(0.6, 10, Frames(6, 3));
    track.Add(0.0, 10, Frames(0, 3));  // frames 3..5 never arrive
    EXPECT_EQ(At(track, 0.2)[0], 2.0f);
    EXPECT_NEAR(At(track, 0.4)[0], 4.0f, 1e-5);  // bridged between frame 2 and frame 6
    EXPECT_EQ(At(track, 0.7)[0], 7.0f);
    track.Add(0.3, 10, Frames(30, 3));  // the late chunk fills the hole
    EXPECT_EQ(At(track, 0.4)[0], 31.0f);
}

TEST(CurveTrack, ResentChunkReplacesItsFramesAndWrongWidthIsIgnored) {
    CurveTrack track(2);
    track.Add(0.0, 10, Frames(0, 2));
    track.Add(0.0, 10, Frames(5, 2));
    EXPECT_EQ(track.FrameCount(), 2u);
    EXPECT_EQ(At(track, 0.0)[0], 5.0f);
    CurveFrames wide = Frames(0, 1);
    wide.channels = 1;
    track.Add(5.0, 10, wide);
    EXPECT_EQ(track.FrameCount(), 2u);
}

TEST(CurveTrack, DropBeforeKeepsTheFrameNeededAtTheCut) {
    CurveTrack track(2);
    track.Add(0.0, 10, Frames(0, 10));
    track.DropBefore(0.55);
    EXPECT_NEAR(At(track, 0.55)[0], 5.5f, 1e-5);
    EXPECT_EQ(track.FirstTime(), 0.5);
}

TEST(IdleTrack, PlaysOnTheLocalClockBehindArrival) {
    IdleTrack idle(2, 0.1);
    std::vector<float> out;
    EXPECT_FALSE(idle.Sample(0.0, out));
    // session clock 50.0 arrives at local 1000.0, 50.1 at 1000.13 (30 ms of network jitter)
    idle.Add(1000.0, 50.0, 10, Frames(0, 1));
    idle.Add(1000.13, 50.1, 10, Frames(1, 1));
    ASSERT_TRUE(idle.Sample(1000.1, out));  // session time 50.0
    EXPECT_NEAR(out[0], 0.0f, 1e-4);
    ASSERT_TRUE(idle.Sample(1000.15, out));  // 50.05: halfway
    EXPECT_NEAR(out[0], 0.5f, 1e-4);
    ASSERT_TRUE(idle.Sample(1005.0, out));  // nothing newer: hold
    EXPECT_NEAR(out[0], 1.0f, 1e-4);
}

}  // namespace
}  // namespace talkbridge
