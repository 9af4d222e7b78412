#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "TalkBridgeProtocol/Channels.h"
#include "TalkBridgeProtocol/Payload.h"

namespace talkbridge {
namespace {

TEST(Payload, HalfFloats) {
    EXPECT_EQ(HalfToFloat(0x0000), 0.0f);
    EXPECT_EQ(HalfToFloat(0x3C00), 1.0f);
    EXPECT_EQ(HalfToFloat(0xBC00), -1.0f);
    EXPECT_EQ(HalfToFloat(0x3800), 0.5f);
    EXPECT_EQ(HalfToFloat(0x7BFF), 65504.0f);
    EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
    EXPECT_EQ(HalfToFloat(0x0400), std::ldexp(1.0f, -14));  // smallest normal
    EXPECT_TRUE(std::isinf(HalfToFloat(0x7C00)));
    EXPECT_TRUE(std::isnan(HalfToFloat(0x7E00)));
    EXPECT_TRUE(std::signbit(HalfToFloat(0x8000)));
}

TEST(Payload, CurveDataMustMatchTheShape) {
    Curves m;
    m.n = 2;
    m.data = Bytes(2 * 3 * 2, 0);
    EXPECT_TRUE(DecodeCurveData(m, 3, CurveEncoding::F16).Ok());
    Result<CurveFrames> wrong = DecodeCurveData(m, 3, CurveEncoding::F32);
    ASSERT_FALSE(wrong.Ok());
    EXPECT_EQ(wrong.Error().code, ErrorCode::InvalidField);
    EXPECT_EQ(wrong.Error().field, "data");
    m.n = std::numeric_limits<std::int32_t>::max();  // no overflow, no giant allocation
    EXPECT_FALSE(DecodeCurveData(m, 1 << 20, CurveEncoding::F32).Ok());
    m.n = 0;
    m.data.clear();
    Result<CurveFrames> empty = DecodeCurveData(m, 52, CurveEncoding::F16);
    ASSERT_TRUE(empty.Ok());
    EXPECT_EQ(empty.Value().n, 0);
}

TEST(Payload, CurveDataIsLittleEndianRowMajor) {
    Curves m;
    m.n = 2;
    m.data = {0x00, 0x3C, 0x00, 0x38, 0x00, 0xBC, 0x00, 0x00};  // [[1, .5], [-1, 0]]
    Result<CurveFrames> frames = DecodeCurveData(m, 2, CurveEncoding::F16);
    ASSERT_TRUE(frames.Ok());
    EXPECT_EQ(frames.Value().Row(0)[0], 1.0f);
    EXPECT_EQ(frames.Value().Row(0)[1], 0.5f);
    EXPECT_EQ(frames.Value().Row(1)[0], -1.0f);
    m.n = 1;
    m.data = {0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xBF};  // [[1, -.5]] as f32
    frames = DecodeCurveData(m, 2, CurveEncoding::F32);
    ASSERT_TRUE(frames.Ok());
    EXPECT_EQ(frames.Value().Row(0)[1], -0.5f);
}

TEST(Payload, Pcm16RoundTrip) {
    const float in[] = {0.0f, 1.0f, -1.0f, 2.0f, -2.0f, 0.5f, std::nanf("")};
    const Bytes bytes = EncodePcm16(in, 7);
    ASSERT_EQ(bytes.size(), 14u);
    Result<std::vector<std::int16_t>> pcm = DecodePcm16(bytes);
    ASSERT_TRUE(pcm.Ok());
    EXPECT_EQ(pcm.Value(), (std::vector<std::int16_t>{0, 32767, -32767, 32767, -32767, 16384, 0}));
    EXPECT_FALSE(DecodePcm16(Bytes(3, 0)).Ok());
}

TEST(Payload, LiveLinkNames) {
    ASSERT_EQ(Arkit52Names().size(), 52u);
    EXPECT_EQ(Arkit52Names()[17], "jawOpen");
    EXPECT_EQ(Arkit52Names()[51], "tongueOut");
    EXPECT_EQ(LiveLinkCurveName("eyeBlinkLeft"), "EyeBlinkLeft");
    EXPECT_EQ(LiveLinkCurveName("headYaw"), "HeadYaw");
    EXPECT_EQ(LiveLinkCurveName("rightEyePitch"), "RightEyePitch");
    EXPECT_EQ(LiveLinkCurveName("viseme_aa"), "viseme_aa");
}

}  // namespace
}  // namespace talkbridge
