// Every golden message of tests/fixtures/protocol: server ones decode to their exact values,
// client ones are what Encode writes, byte for byte.
#include <array>
#include <map>

#include <gtest/gtest.h>

#include "FixtureFiles.h"
#include "TalkBridgeProtocol/Channels.h"
#include "TalkBridgeProtocol/Codec.h"
#include "TalkBridgeProtocol/Payload.h"

namespace talkbridge {
namespace {

using testing::PeekMap;
using testing::ReadFixture;

template <class T>
T DecodeAs(const std::string& stem) {
    Result<ServerMessage> result = DecodeServer(ReadFixture(stem));
    EXPECT_TRUE(result.Ok()) << stem << ": " << (result.Ok() ? "" : result.Error().message);
    if (!result.Ok()) return T{};
    EXPECT_TRUE(std::holds_alternative<T>(result.Value())) << stem << " decoded as " << TypeName(result.Value());
    return std::holds_alternative<T>(result.Value()) ? std::get<T>(result.Value()) : T{};
}

TEST(CodecFixtures, Welcome) {
    const Welcome m = DecodeAs<Welcome>("welcome");
    EXPECT_EQ(m.protocol, 1);
    EXPECT_EQ(m.session, "s1");
    EXPECT_EQ(m.server, "talkbridge/0.1.0");
    EXPECT_EQ(m.fps, 60);
    EXPECT_EQ(m.channels, Arkit52Names());
    EXPECT_EQ(m.audio_rate, 48000);
    EXPECT_EQ(m.encoding, CurveEncoding::F16);
}

TEST(CodecFixtures, UtteranceStartAndEnd) {
    const Utterance start = DecodeAs<Utterance>("utterance_start");
    EXPECT_EQ(start.id, "u1");
    EXPECT_EQ(start.state, UtteranceState::Start);
    EXPECT_EQ(start.source, UtteranceSource::Say);
    EXPECT_EQ(start.text, std::optional<std::string>("Hello there! Nice to meet you."));
    EXPECT_FALSE(start.reason.has_value());

    const Utterance end = DecodeAs<Utterance>("utterance_end");
    EXPECT_EQ(end.id, "u1");
    EXPECT_EQ(end.state, UtteranceState::End);
    EXPECT_EQ(end.source, UtteranceSource::Say);
    EXPECT_FALSE(end.text.has_value());
    EXPECT_EQ(end.reason, std::optional<EndReason>(EndReason::Done));
}

TEST(CodecFixtures, AudioIsTheFixtureTone) {
    const Audio m = DecodeAs<Audio>("audio");
    EXPECT_EQ(m.id, "u1");
    EXPECT_EQ(m.seq, 0);
    EXPECT_EQ(m.t, 0.0);
    ASSERT_EQ(m.data.size(), 960u);
    Result<std::vector<std::int16_t>> pcm = DecodePcm16(m.data);
    ASSERT_TRUE(pcm.Ok());
    EXPECT_EQ(pcm.Value(), testing::SinePcm16(48000));
    EXPECT_EQ(pcm.Value()[1], 943);  // bytes af 03
}

void ExpectFixtureFrames(const CurveFrames& frames) {
    ASSERT_EQ(frames.n, 3);
    ASSERT_EQ(frames.channels, 52);
    const std::map<std::string, std::array<float, 3>> weights = {
        {"eyeBlinkLeft", {0.0f, 0.5f, 1.0f}},      {"eyeBlinkRight", {0.0f, 0.5f, 1.0f}},
        {"jawOpen", {0.25f, 0.5f, 0.375f}},         {"mouthFunnel", {0.0f, 0.125f, 0.25f}},
        {"mouthSmileLeft", {0.0625f, 0.0625f, 0.0625f}}, {"mouthSmileRight", {0.0625f, 0.0625f, 0.0625f}},
        {"browInnerUp", {0.1875f, 0.125f, 0.0625f}}};
    for (int c = 0; c < 52; ++c) {
        const std::string& name = Arkit52Names()[static_cast<std::size_t>(c)];
        const auto it = weights.find(name);
        for (int k = 0; k < 3; ++k) {
            const float expected = it == weights.end() ? 0.0f : it->second[static_cast<std::size_t>(k)];
            EXPECT_EQ(frames.Row(k)[c], expected) << name << " frame " << k;
        }
    }
}

TEST(CodecFixtures, CurvesF16) {
    const Curves m = DecodeAs<Curves>("curves");
    EXPECT_EQ(m.id, "u1");
    EXPECT_EQ(m.seq, 0);
    EXPECT_EQ(m.t, 0.0);
    EXPECT_EQ(m.fps, 60);
    EXPECT_EQ(m.n, 3);
    EXPECT_EQ(m.data.size(), 3u * 52u * 2u);
    Result<CurveFrames> frames = DecodeCurveData(m, 52, CurveEncoding::F16);
    ASSERT_TRUE(frames.Ok()) << frames.Error().message;
    ExpectFixtureFrames(frames.Value());
}

TEST(CodecFixtures, CurvesF32) {
    const Curves m = DecodeAs<Curves>("curves_f32");
    EXPECT_EQ(m.n, 3);
    EXPECT_EQ(m.data.size(), 3u * 52u * 4u);
    Result<CurveFrames> frames = DecodeCurveData(m, 52, CurveEncoding::F32);
    ASSERT_TRUE(frames.Ok()) << frames.Error().message;
    ExpectFixtureFrames(frames.Value());
}

TEST(CodecFixtures, SmallServerMessages) {
    EXPECT_EQ(DecodeAs<Clear>("clear").id, "u1");
    const Transcript transcript = DecodeAs<Transcript>("transcript");
    EXPECT_EQ(transcript.text, "what's the weather like");
    EXPECT_TRUE(transcript.final);
    const Reply reply = DecodeAs<Reply>("reply");
    EXPECT_EQ(reply.id, "d1");
    EXPECT_EQ(reply.text, "Sunny all afternoon.");
    EXPECT_FALSE(reply.final);
    const ServerError error = DecodeAs<ServerError>("error");
    EXPECT_EQ(error.code, "unknown_voice");
    EXPECT_EQ(error.message, "unknown voice 'nobody'; available: piper:en_US-joe-medium, espeak:en");
    EXPECT_FALSE(error.fatal);
    EXPECT_EQ(error.ref, std::optional<std::string>("u2"));
    const Pong pong = DecodeAs<Pong>("pong");
    EXPECT_EQ(pong.t, 12.5);
    EXPECT_EQ(pong.server_t, 3.25);
}

TEST(CodecFixtures, Gesture) {
    const Gesture m = DecodeAs<Gesture>("gesture");
    EXPECT_EQ(m.id, "u1");
    EXPECT_EQ(m.t, 0.25);
    EXPECT_EQ(m.name, "nod");
    EXPECT_EQ(m.duration, 0.625);
    EXPECT_EQ(m.strength, 0.75);
    EXPECT_STREQ(TypeName(ServerMessage{m}), "gesture");
}

TEST(CodecFixtures, ClientFixturesAreRefusedAsServerMessages) {
    for (const char* stem : {"hello", "say", "audio_in", "mic", "chat", "interrupt", "playback", "ping", "image"}) {
        Result<ServerMessage> result = DecodeServer(ReadFixture(stem));
        ASSERT_FALSE(result.Ok()) << stem;
        EXPECT_EQ(result.Error().code, ErrorCode::UnknownType) << stem;
        EXPECT_NE(result.Error().message.find("travels the other way"), std::string::npos);
    }
}

// ---- client messages: Encode writes the fixtures byte for byte ----------------------------

Bytes Pcm(const std::vector<std::int16_t>& samples) {
    Bytes out;
    for (std::int16_t s : samples) {
        out.push_back(static_cast<std::uint8_t>(s & 0xFF));
        out.push_back(static_cast<std::uint8_t>((static_cast<std::uint16_t>(s) >> 8) & 0xFF));
    }
    return out;
}

/// The image fixture's picture: the 2×2 RGB PNG of bridge/tools/fixtures.py (FIXTURE_PNG).
Bytes FixturePng() {
    return {
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d,
        0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02,
        0x08, 0x02, 0x00, 0x00, 0x00, 0xfd, 0xd4, 0x9a, 0x73, 0x00, 0x00, 0x00,
        0x19, 0x49, 0x44, 0x41, 0x54, 0x78, 0x01, 0x01, 0x0e, 0x00, 0xf1, 0xff,
        0x00, 0xff, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff,
        0xff, 0xff, 0x1f, 0xee, 0x05, 0xfb, 0xde, 0xdd, 0xec, 0x2b, 0x00, 0x00,
        0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};
}

std::map<std::string, ClientMessage> ClientFixtures() {
    Hello hello;
    hello.client = "talkbridge-unreal/0.1";
    hello.token = "s3cret";
    Say say;
    say.text = "Hello there! Nice to meet you.";
    say.id = "u1";
    say.voice = "piper:en_US-joe-medium";
    say.lang = "en";
    say.emotion = EmotionBlend{{"happy", 0.75}};
    const Bytes tone = Pcm(testing::SinePcm16(16000));
    return {{"hello", hello},
            {"say", say},
            {"audio_in", AudioIn{"perf1", 16000, tone, false}},
            {"mic", Mic{16000, tone}},
            {"chat", Chat{"What's the weather like?"}},
            {"interrupt", talkbridge::Interrupt{std::string("u1")}},
            {"playback", Playback{"u1", PlaybackState::Finished, 1.5, false}},
            {"ping", Ping{12.5}},
            {"image", Image{FixturePng(), 3.5, std::string("What am I holding?")}}};
}

TEST(CodecFixtures, EncodeWritesEveryClientFixtureByteForByte) {
    for (const auto& entry : ClientFixtures()) {
        EXPECT_EQ(Encode(entry.second), ReadFixture(entry.first)) << entry.first;
        EXPECT_STREQ(TypeName(entry.second), PeekMap(ReadFixture(entry.first))["type"].substr(2).c_str());
    }
}

TEST(CodecFixtures, EncodedClientMessagesCarryTheExpectedKeys) {
    const auto fixtures = ClientFixtures();
    using Keys = std::map<std::string, std::string>;
    EXPECT_EQ(PeekMap(Encode(fixtures.at("hello"))),
              (Keys{{"type", "s:hello"}, {"protocol", "i:1"}, {"client", "s:talkbridge-unreal/0.1"},
                    {"token", "s:s3cret"}, {"fps", "i:60"}, {"channels", "a:[arkit52]"},
                    {"audio_rate", "i:48000"}, {"encoding", "s:f16"}}));
    EXPECT_EQ(PeekMap(Encode(fixtures.at("say"))),
              (Keys{{"type", "s:say"}, {"text", "s:Hello there! Nice to meet you."}, {"id", "s:u1"},
                    {"voice", "s:piper:en_US-joe-medium"}, {"lang", "s:en"}, {"emotion", "m:{happy:0.75}"}}));
    EXPECT_EQ(PeekMap(Encode(fixtures.at("audio_in"))),
              (Keys{{"type", "s:audio_in"}, {"id", "s:perf1"}, {"rate", "i:16000"}, {"data", "bin:320"},
                    {"end", "b:false"}}));
    EXPECT_EQ(PeekMap(Encode(fixtures.at("mic"))), (Keys{{"type", "s:mic"}, {"rate", "i:16000"}, {"data", "bin:320"}}));
    EXPECT_EQ(PeekMap(Encode(fixtures.at("chat"))), (Keys{{"type", "s:chat"}, {"text", "s:What's the weather like?"}}));
    EXPECT_EQ(PeekMap(Encode(fixtures.at("interrupt"))), (Keys{{"type", "s:interrupt"}, {"id", "s:u1"}}));
    EXPECT_EQ(PeekMap(Encode(fixtures.at("playback"))),
              (Keys{{"type", "s:playback"}, {"id", "s:u1"}, {"state", "s:finished"}, {"position", "f:1.5"},
                    {"interrupted", "b:false"}}));
    EXPECT_EQ(PeekMap(Encode(fixtures.at("ping"))), (Keys{{"type", "s:ping"}, {"t", "f:12.5"}}));
    EXPECT_EQ(PeekMap(Encode(fixtures.at("image"))),
              (Keys{{"type", "s:image"}, {"data", "bin:82"}, {"t", "f:3.5"}, {"prompt", "s:What am I holding?"}}));
}

TEST(CodecFixtures, OptionalFieldsAreLeftOff) {
    using Keys = std::map<std::string, std::string>;
    EXPECT_EQ(PeekMap(Encode(talkbridge::Interrupt{})), (Keys{{"type", "s:interrupt"}}));
    EXPECT_EQ(PeekMap(Encode(Image{FixturePng(), std::nullopt, std::nullopt})),
              (Keys{{"type", "s:image"}, {"data", "bin:82"}}));
    EXPECT_EQ(PeekMap(Encode(Image{FixturePng(), 2.0, std::nullopt})).at("t"), "f:2");  // float64, not int
    Say say;
    say.text = "hi";
    say.emotion = std::string("happy");
    EXPECT_EQ(PeekMap(Encode(say)), (Keys{{"type", "s:say"}, {"text", "s:hi"}, {"emotion", "s:happy"}}));
    EXPECT_EQ(PeekMap(Encode(Playback{"u9", PlaybackState::Position, 2.0, std::nullopt})),
              (Keys{{"type", "s:playback"}, {"id", "s:u9"}, {"state", "s:position"}, {"position", "f:2"}}));
    Hello hello;
    hello.client = "c";
    hello.channels = {"arkit52", "head", "eyes"};
    hello.encoding = CurveEncoding::F32;
    const auto keys = PeekMap(Encode(hello));
    EXPECT_EQ(keys.count("token"), 0u);
    EXPECT_EQ(keys.at("channels"), "a:[arkit52,head,eyes]");
    EXPECT_EQ(keys.at("encoding"), "s:f32");
}

TEST(CodecFixtures, EveryStemIsCovered) {
    EXPECT_EQ(testing::FixtureStems().size(), 21u);
    for (const std::string& stem : testing::FixtureStems()) EXPECT_FALSE(ReadFixture(stem).empty()) << stem;
}

}  // namespace
}  // namespace talkbridge
