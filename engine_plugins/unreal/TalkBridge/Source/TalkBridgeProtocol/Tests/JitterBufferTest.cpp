// The per-utterance audio jitter buffer: order by t, prebuffer, holes, late and repeated chunks.
#include <numeric>

#include <gtest/gtest.h>

#include "TalkBridgeProtocol/AudioJitterBuffer.h"

namespace talkbridge {
namespace {

constexpr int kRate = 1000;  // 1 sample per ms keeps the arithmetic readable

/// `count` samples whose values are their own sample index (+1, so silence stays 0).
std::vector<std::int16_t> Ramp(int first, int count) {
    std::vector<std::int16_t> samples(static_cast<std::size_t>(count));
    std::iota(samples.begin(), samples.end(), static_cast<std::int16_t>(first + 1));
    return samples;
}

AudioJitterBuffer Buffer(double prebuffer = 0.0, double max_gap_wait = 0.1) {
    return AudioJitterBuffer(JitterConfig{kRate, prebuffer, max_gap_wait});
}

TEST(JitterBuffer, InOrderChunksPassStraightThrough) {
    AudioJitterBuffer buffer = Buffer();
    std::vector<std::int16_t> out;
    buffer.Add(0.0, Ramp(0, 50));
    buffer.Add(0.05, Ramp(50, 50));
    EXPECT_EQ(buffer.Take(out), 100u);
    EXPECT_EQ(out, Ramp(0, 100));
    EXPECT_EQ(buffer.Released(), 100);
}

TEST(JitterBuffer, ReorderedChunksComeOutInOrder) {
    AudioJitterBuffer buffer = Buffer(0.0, 1.0);
    std::vector<std::int16_t> out;
    buffer.Add(0.10, Ramp(100, 50));
    buffer.Add(0.05, Ramp(50, 50));
    EXPECT_EQ(buffer.Take(out), 0u);  // waiting for the first chunk
    buffer.Add(0.0, Ramp(0, 50));
    buffer.Take(out);
    EXPECT_EQ(out, Ramp(0, 150));
}

TEST(JitterBuffer, PrebufferHoldsTheStartUntilEnoughIsContiguous) {
    AudioJitterBuffer buffer = Buffer(0.1);
    std::vector<std::int16_t> out;
    buffer.Add(0.0, Ramp(0, 50));
    EXPECT_EQ(buffer.Take(out), 0u);
    buffer.Add(0.05, Ramp(50, 50));
    EXPECT_EQ(buffer.Take(out), 100u);
    buffer.Add(0.10, Ramp(100, 10));  // once started, no more prebuffering
    EXPECT_EQ(buffer.Take(out), 10u);
}

TEST(JitterBuffer, EndedUtteranceFlushesAShortPrebuffer) {
    AudioJitterBuffer buffer = Buffer(0.5);
    std::vector<std::int16_t> out;
    buffer.Add(0.0, Ramp(0, 30));
    EXPECT_EQ(buffer.Take(out), 0u);
    buffer.MarkEnded();
    EXPECT_EQ(buffer.Take(out), 30u);
    EXPECT_TRUE(buffer.Drained());
}

TEST(JitterBuffer, MissingChunkBecomesSilenceOnceEnoughIsBufferedBeyondIt) {
    AudioJitterBuffer buffer = Buffer(0.0, 0.1);
    std::vector<std::int16_t> out;
    buffer.Add(0.0, Ramp(0, 50));
    buffer.Add(0.10, Ramp(100, 50));  // 50..100 missing
    EXPECT_EQ(buffer.Take(out), 50u);  // 50 ms buffered past the hole: keep waiting
    buffer.Add(0.15, Ramp(150, 50));
    EXPECT_EQ(buffer.Take(out), 150u);  // 100 ms past it: give up, play silence
    ASSERT_EQ(out.size(), 200u);
    EXPECT_EQ(out[49], 50);
    EXPECT_EQ(out[50], 0);
    EXPECT_EQ(out[99], 0);
    EXPECT_EQ(out[100], 101);
    EXPECT_EQ(buffer.Stats().silence_samples, 50);
}

TEST(JitterBuffer, LateChunkForASpanAlreadyOutIsDropped) {
    AudioJitterBuffer buffer = Buffer(0.0, 0.0);
    std::vector<std::int16_t> out;
    buffer.Add(0.0, Ramp(0, 50));
    buffer.Add(0.10, Ramp(100, 50));
    buffer.Take(out);  // the hole became silence at once (max_gap_wait 0)
    EXPECT_EQ(buffer.Add(0.05, Ramp(50, 50)), AudioJitterBuffer::AddResult::Late);
    EXPECT_EQ(buffer.Stats().late_chunks, 1);
    EXPECT_EQ(buffer.Take(out), 0u);
    EXPECT_EQ(out.size(), 150u);
}

TEST(JitterBuffer, PartlyLateChunkKeepsItsTail) {
    AudioJitterBuffer buffer = Buffer();
    std::vector<std::int16_t> out;
    buffer.Add(0.0, Ramp(0, 60));
    buffer.Take(out);
    EXPECT_EQ(buffer.Add(0.05, Ramp(50, 50)), AudioJitterBuffer::AddResult::Accepted);
    buffer.Take(out);
    EXPECT_EQ(out, Ramp(0, 100));
}

TEST(JitterBuffer, DuplicateChunkIsDropped) {
    AudioJitterBuffer buffer = Buffer(0.2);
    buffer.Add(0.0, Ramp(0, 50));
    EXPECT_EQ(buffer.Add(0.0, Ramp(0, 50)), AudioJitterBuffer::AddResult::Duplicate);
    EXPECT_EQ(buffer.Stats().duplicate_chunks, 1);
    EXPECT_EQ(buffer.BufferedSamples(), 50);
}

TEST(JitterBuffer, EndedWithAHoleFillsItAndDrains) {
    AudioJitterBuffer buffer = Buffer(0.0, 10.0);
    std::vector<std::int16_t> out;
    buffer.Add(0.0, Ramp(0, 10));
    buffer.Add(0.02, Ramp(20, 10));
    buffer.Take(out);
    EXPECT_FALSE(buffer.Drained());
    buffer.MarkEnded();
    buffer.Take(out);
    EXPECT_EQ(out.size(), 30u);
    EXPECT_TRUE(buffer.Drained());
    EXPECT_EQ(buffer.Released(), 30);
}

}  // namespace
}  // namespace talkbridge
