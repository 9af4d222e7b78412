// Live: a real `talkbridge serve` at env TALKBRIDGE_URL says a sentence; the protocol core
// decodes all of it, plays it on a simulated player and samples the face on the audio clock.
// Without TALKBRIDGE_URL the tests skip; with it, any misbehaviour of the server fails them.
#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include <gtest/gtest.h>

#include "TalkBridgeProtocol/ClientSession.h"
#include "TalkBridgeProtocol/Codec.h"
#include "TalkBridgeProtocol/Payload.h"
#include "WebSocketClient.h"

namespace talkbridge {
namespace {

constexpr double kTimeout = 20.0;

/// One received utterance, as the server sent it (idle curves left out).
struct Received {
    std::vector<ServerMessage> messages;  ///< start, audio/curves..., end
    std::int64_t audio_samples = 0;
    std::vector<std::pair<double, std::vector<float>>> frames;  ///< (time, values)
};

class LiveServer : public ::testing::Test {
protected:
    void SetUp() override {
        const char* url = std::getenv("TALKBRIDGE_URL");
        if (!url || !*url) GTEST_SKIP() << "set TALKBRIDGE_URL=ws://HOST:PORT/v1/stream to run the live tests";
        std::string error;
        client = testing::WebSocketClient::Connect(url, kTimeout, error);
        ASSERT_TRUE(client) << error;
        Hello hello;
        hello.client = "talkbridge-unreal-tests/0.1";
        ASSERT_TRUE(client->Send(Encode(hello), error)) << error;
        const ServerMessage first = Next();
        ASSERT_TRUE(std::holds_alternative<Welcome>(first)) << "first message: " << TypeName(first);
        welcome = std::get<Welcome>(first);
        ASSERT_EQ(welcome.channels.size(), 52u);
        ASSERT_EQ(welcome.encoding, CurveEncoding::F16);
        ASSERT_EQ(welcome.audio_rate, 48000);
    }

    void TearDown() override {
        if (client) client->Close();
    }

    /// The next message; a decode failure, a text frame or a timeout fails the test.
    ServerMessage Next() {
        Bytes bytes;
        bool binary = false;
        std::string error;
        if (!client->Receive(bytes, binary, kTimeout, error)) {
            ADD_FAILURE() << error;
            throw std::runtime_error(error);
        }
        EXPECT_TRUE(binary) << "protocol v1 uses binary frames only";
        Result<ServerMessage> decoded = DecodeServer(bytes);
        if (!decoded) {
            ADD_FAILURE() << WireCode(decoded.Error().code) << ": " << decoded.Error().message;
            throw std::runtime_error("undecodable message");
        }
        return decoded.Value();
    }

    /// The next message that is not an idle curves message.
    ServerMessage NextNonIdle() {
        for (;;) {
            ServerMessage message = Next();
            const auto* curves = std::get_if<Curves>(&message);
            if (!curves || curves->id != IdleId()) return message;
            EXPECT_TRUE(DecodeCurveData(*curves, 52, welcome.encoding).Ok());
        }
    }

    void Say(const std::string& id, const std::string& text) {
        std::string error;
        talkbridge::Say say;
        say.text = text;
        say.id = id;
        ASSERT_TRUE(client->Send(Encode(say), error)) << error;
    }

    /// Receives utterance `id` from start to end and checks the streaming rules on the way.
    Received ReceiveUtterance(const std::string& id) {
        Received got;
        const ServerMessage start = NextNonIdle();
        EXPECT_TRUE(std::holds_alternative<Utterance>(start)) << TypeName(start);
        got.messages.push_back(start);
        std::int32_t next_audio_seq = 0, next_curves_seq = 0;
        for (;;) {
            ServerMessage message = NextNonIdle();
            got.messages.push_back(message);
            if (const auto* audio = std::get_if<Audio>(&message)) {
                EXPECT_EQ(audio->id, id);
                EXPECT_EQ(audio->seq, next_audio_seq++);
                EXPECT_NEAR(audio->t * welcome.audio_rate, static_cast<double>(got.audio_samples), 0.5)
                    << "audio spans are contiguous";
                got.audio_samples += static_cast<std::int64_t>(audio->data.size() / 2);
            } else if (const auto* curves = std::get_if<Curves>(&message)) {
                EXPECT_EQ(curves->id, id);
                EXPECT_EQ(curves->seq, next_curves_seq++);
                Result<CurveFrames> frames = DecodeCurveData(*curves, 52, welcome.encoding);
                EXPECT_TRUE(frames.Ok());
                if (!frames.Ok()) continue;
                for (int k = 0; k < frames.Value().n; ++k) {
                    const float* row = frames.Value().Row(k);
                    got.frames.emplace_back(curves->t + static_cast<double>(k) / curves->fps,
                                            std::vector<float>(row, row + 52));
                }
            } else if (const auto* utterance = std::get_if<Utterance>(&message)) {
                EXPECT_EQ(utterance->id, id);
                EXPECT_EQ(utterance->state, UtteranceState::End);
                return got;
            } else if (const auto* gesture = std::get_if<Gesture>(&message)) {
                EXPECT_EQ(gesture->id, id) << "a body cue of this utterance";  // as the C# live test
            } else {
                ADD_FAILURE() << "unexpected " << TypeName(message) << " inside an utterance";
            }
        }
    }

    std::unique_ptr<testing::WebSocketClient> client;
    Welcome welcome;
};

TEST_F(LiveServer, SayPlaysInSyncOnTheAudioClock) {
    Say("live-1", "Hello from the Unreal plugin tests, nice to meet you.");
    const Received got = ReceiveUtterance("live-1");
    ASSERT_GT(got.audio_samples, 0);
    ASSERT_GT(got.frames.size(), 10u);
    const auto& end = std::get<Utterance>(got.messages.back());
    EXPECT_EQ(end.reason, std::optional<EndReason>(EndReason::Done));

    const double audio_seconds = static_cast<double>(got.audio_samples) / welcome.audio_rate;
    const double curve_seconds = static_cast<double>(got.frames.size()) / welcome.fps;
    EXPECT_LE(std::fabs(audio_seconds - curve_seconds), 1.0 / welcome.fps + 1e-9)
        << "audio " << audio_seconds << " s, curves " << curve_seconds << " s";

    // Replay into the client session (all but the end, so it stays the playing utterance),
    // hand all its audio to a simulated player, and sample the face at every frame's time.
    SessionConfig config;
    config.blend_time = 0.0;
    ClientSession session(config);
    session.Receive(welcome, 0.0);
    for (std::size_t i = 0; i + 1 < got.messages.size(); ++i) session.Receive(got.messages[i], 0.0);
    const AudioOut audio = session.PullAudio();
    const auto queued = static_cast<std::int64_t>(audio.samples.size());
    EXPECT_GE(queued, got.audio_samples - static_cast<std::int64_t>(0.1 * welcome.audio_rate));
    session.Receive(got.messages.back(), 0.0);  // the end: the jitter buffer lets go of the rest
    const std::int64_t total = queued + static_cast<std::int64_t>(session.PullAudio().samples.size());
    EXPECT_EQ(total, got.audio_samples);

    std::vector<float> face;
    int beyond_audio = 0;
    for (std::size_t f = 0; f < got.frames.size(); ++f) {
        const auto played = static_cast<std::int64_t>(std::llround(got.frames[f].first * welcome.audio_rate));
        if (played >= total) {  // the utterance is over by then: at most the one extra frame
            ++beyond_audio;
            continue;
        }
        session.SetPlayedSamples(played);
        ASSERT_TRUE(session.Speaking() || played == 0);
        if (played == 0) session.SetPlayedSamples(1);  // position 1/48000 s: still frame 0 at f16 precision
        ASSERT_TRUE(session.Sample(static_cast<double>(f), face));
        for (int c = 0; c < 52; ++c) {
            const float expected = got.frames[f].second[static_cast<std::size_t>(c)];
            ASSERT_NEAR(face[static_cast<std::size_t>(c)], expected, 2e-3f)
                << welcome.channels[static_cast<std::size_t>(c)] << " at frame " << f;
        }
    }
    EXPECT_LE(beyond_audio, 1);
    session.SetPlayedSamples(total);
    bool finished = false;
    for (const SessionEvent& event : session.TakeEvents()) {
        finished = finished || std::holds_alternative<UtteranceFinishedEvent>(event);
    }
    EXPECT_TRUE(finished);
}

TEST_F(LiveServer, InterruptGetsClearThenEndAndNothingMore) {
    Say("live-2", "This is a long sentence that will be interrupted long before it could ever finish "
                  "playing, because the test stops it right after the first audio arrives.");
    const ServerMessage start = NextNonIdle();
    ASSERT_TRUE(std::holds_alternative<Utterance>(start));
    ServerMessage message = NextNonIdle();
    while (!std::holds_alternative<Audio>(message)) message = NextNonIdle();
    std::string error;
    ASSERT_TRUE(client->Send(Encode(talkbridge::Interrupt{std::string("live-2")}), error)) << error;
    bool cleared = false;
    for (;;) {
        message = NextNonIdle();
        if (const auto* clear = std::get_if<Clear>(&message)) {
            EXPECT_EQ(clear->id, "live-2");
            cleared = true;
        } else if (const auto* end = std::get_if<Utterance>(&message)) {
            EXPECT_TRUE(cleared) << "clear comes before the end";
            EXPECT_EQ(end->reason, std::optional<EndReason>(EndReason::Interrupted));
            break;
        } else {
            EXPECT_FALSE(cleared) << TypeName(message) << " after the clear";
        }
    }
    ASSERT_TRUE(client->Send(Encode(Ping{1.5}), error)) << error;
    message = NextNonIdle();
    ASSERT_TRUE(std::holds_alternative<Pong>(message)) << TypeName(message) << " after the end";
    EXPECT_EQ(std::get<Pong>(message).t, 1.5);
}

}  // namespace
}  // namespace talkbridge
