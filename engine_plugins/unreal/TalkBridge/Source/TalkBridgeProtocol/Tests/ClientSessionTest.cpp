// ClientSession on a virtual clock with a scripted server and a simulated player.
#include <cstring>

#include <gtest/gtest.h>

#include "FixtureFiles.h"
#include "TalkBridgeProtocol/ClientSession.h"
#include "TalkBridgeProtocol/Codec.h"

namespace talkbridge {
namespace {

constexpr int kRate = 1000;
constexpr int kFps = 10;

Bytes F32(const std::vector<float>& values) {
    Bytes out(values.size() * 4);
    std::memcpy(out.data(), values.data(), out.size());  // the test host is little-endian
    return out;
}

Bytes Pcm(int count, std::int16_t value = 1000) {
    Bytes out;
    for (int i = 0; i < count; ++i) {
        out.push_back(static_cast<std::uint8_t>(value & 0xFF));
        out.push_back(static_cast<std::uint8_t>(value >> 8));
    }
    return out;
}

/// Frames where jawOpen = value and eyeBlinkLeft = 0.
Curves Frames(const std::string& id, int seq, double t, const std::vector<float>& jaw) {
    std::vector<float> values;
    for (float v : jaw) {
        values.push_back(v);
        values.push_back(0.0f);
    }
    return Curves{id, seq, t, kFps, static_cast<std::int32_t>(jaw.size()), F32(values)};
}

class SessionTest : public ::testing::Test {
protected:
    SessionTest() {
        SessionConfig config;
        config.jitter.prebuffer = 0.0;
        config.blend_time = 0.0;
        config.idle_delay = 0.0;
        session = std::make_unique<ClientSession>(config);
        Receive(Welcome{1, "s1", "test", kFps, {"jawOpen", "eyeBlinkLeft"}, kRate, CurveEncoding::F32});
        session->TakeEvents();
    }

    void Receive(const ServerMessage& message, double now = 0.0) { session->Receive(message, now); }

    void Start(const std::string& id, int chunks) {
        Receive(Utterance{id, UtteranceState::Start, UtteranceSource::Say, std::string("hi"), std::nullopt});
        for (int c = 0; c < chunks; ++c) {
            Receive(Audio{id, c, c * 0.1, Pcm(100)});
            Receive(Frames(id, c, c * 0.1, {0.1f * (c + 1)}));  // one frame per 0.1 s chunk
        }
    }

    /// Pulls audio into the simulated player; returns samples queued.
    std::size_t Pull() {
        const AudioOut out = session->PullAudio();
        if (out.flush) {
            player_queue = 0;
            played = 0;
            ++flushes;
        }
        player_queue += out.samples.size();
        return out.samples.size();
    }

    void Play(std::int64_t samples) {
        played = std::min<std::int64_t>(played + samples, static_cast<std::int64_t>(player_queue));
        session->SetPlayedSamples(played);
    }

    float Jaw(double now) {
        std::vector<float> out;
        EXPECT_TRUE(session->Sample(now, out));
        return out.empty() ? -1.0f : out[0];
    }

    std::vector<std::map<std::string, std::string>> Outgoing() {
        std::vector<std::map<std::string, std::string>> messages;
        for (const Bytes& bytes : session->TakeOutgoing()) messages.push_back(testing::PeekMap(bytes));
        return messages;
    }

    std::unique_ptr<ClientSession> session;
    std::size_t player_queue = 0;
    std::int64_t played = 0;
    int flushes = 0;
};

TEST(ClientSessionBasics, NothingBeforeTheWelcome) {
    ClientSession session;
    std::vector<float> out;
    EXPECT_FALSE(session.Sample(0.0, out));
    session.Receive(Clear{"u1"}, 0.0);
    auto events = session.TakeEvents();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(std::get<ErrorEvent>(events[0]).code, "hello_required");
    EXPECT_FALSE(std::get<ErrorEvent>(events[0]).from_server);
}

TEST(ClientSessionBasics, HelloAndSayBytes) {
    SessionConfig config;
    config.hello.client = "talkbridge-unreal/0.1";
    config.hello.token = "s3cret";
    ClientSession session(config);
    EXPECT_EQ(session.HelloMessage(), testing::ReadFixture("hello"));
    std::string id;
    const auto say = testing::PeekMap(session.SayMessage(Say{"Hi"}, &id));
    EXPECT_EQ(id, "ue-1");
    EXPECT_EQ(say.at("id"), "s:ue-1");
    session.SayMessage(Say{"Again"}, &id);
    EXPECT_EQ(id, "ue-2");
}

TEST_F(SessionTest, UtterancePlaysOnThePlayersClock) {
    Start("u1", 2);
    Receive(Utterance{"u1", UtteranceState::End, UtteranceSource::Say, std::nullopt, EndReason::Done});
    EXPECT_EQ(Pull(), 200u);
    EXPECT_FALSE(session->Speaking());
    Play(50);
    EXPECT_TRUE(session->Speaking());
    EXPECT_NEAR(session->CurrentPosition(), 0.05, 1e-9);
    auto events = session->TakeEvents();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(std::get<UtteranceStartedEvent>(events[0]).id, "u1");
    EXPECT_EQ(std::get<UtteranceStartedEvent>(events[0]).text, "hi");
    auto out = Outgoing();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].at("state"), "s:started");
    // jawOpen frames: t=0 → 0.1, t=0.1 → 0.2; position 0.05 is halfway
    EXPECT_NEAR(Jaw(0.0), 0.15f, 1e-6);
    Play(70);  // position 0.12: past the last frame, held
    EXPECT_NEAR(Jaw(0.1), 0.2f, 1e-6);
    Play(80);
    events = session->TakeEvents();
    ASSERT_EQ(events.size(), 1u);
    const auto& finished = std::get<UtteranceFinishedEvent>(events[0]);
    EXPECT_FALSE(finished.interrupted);
    EXPECT_EQ(finished.reason, std::optional<EndReason>(EndReason::Done));
    EXPECT_NEAR(finished.position, 0.2, 1e-9);
    out = Outgoing();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].at("state"), "s:finished");
    EXPECT_EQ(out[0].at("position"), "f:0.2");
    EXPECT_EQ(out[0].at("interrupted"), "b:false");
    EXPECT_FALSE(session->Speaking());
}

TEST_F(SessionTest, ClearIsHonouredAtOnce) {
    Start("u1", 3);
    Pull();
    Play(120);
    session->TakeEvents();
    Outgoing();
    Receive(Clear{"u1"});
    auto events = session->TakeEvents();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_TRUE(std::get<UtteranceFinishedEvent>(events[0]).interrupted);
    auto out = Outgoing();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].at("interrupted"), "b:true");
    EXPECT_EQ(out[0].at("position"), "f:0.12");
    Play(10);  // a stale count from before the flush is ignored
    EXPECT_FALSE(session->Speaking());
    EXPECT_EQ(Pull(), 0u);
    EXPECT_EQ(flushes, 1);
    Receive(Audio{"u1", 3, 0.3, Pcm(100)});  // what was in flight is ignored
    Receive(Frames("u1", 3, 0.3, {0.9f}));
    EXPECT_EQ(session->IgnoredMessages(), 2);
    EXPECT_EQ(Jaw(1.0), 0.0f);  // no idle yet: neutral
}

TEST_F(SessionTest, LocalInterruptDropsEverythingAndSaysSo) {
    Start("u1", 1);
    Start("u2", 1);
    Pull();
    Play(10);
    const auto bytes = testing::PeekMap(session->Interrupt());
    EXPECT_EQ(bytes, (std::map<std::string, std::string>{{"type", "s:interrupt"}}));
    EXPECT_EQ(session->QueuedUtterances(), 0u);
    auto events = session->TakeEvents();
    ASSERT_EQ(events.size(), 3u);  // started u1, finished u2, finished u1
    EXPECT_EQ(std::get<UtteranceFinishedEvent>(events[1]).id, "u2");
    EXPECT_TRUE(std::get<UtteranceFinishedEvent>(events[2]).interrupted);
    Pull();
    EXPECT_EQ(flushes, 1);
}

TEST_F(SessionTest, ClearOfAQueuedUtteranceLeavesThePlayingOneAlone) {
    Start("u1", 1);
    Start("u2", 1);
    Pull();
    Play(10);
    Receive(Clear{"u2"});
    EXPECT_EQ(Pull(), 0u);
    EXPECT_EQ(flushes, 0);
    EXPECT_EQ(session->CurrentUtterance(), std::optional<std::string>("u1"));
}

TEST_F(SessionTest, UtterancesPlayOneAfterAnother) {
    Start("u1", 1);
    Start("u2", 1);
    Receive(Utterance{"u1", UtteranceState::End, UtteranceSource::Say, std::nullopt, EndReason::Done});
    Receive(Utterance{"u2", UtteranceState::End, UtteranceSource::Say, std::nullopt, EndReason::Done});
    EXPECT_EQ(Pull(), 100u);  // only the first is handed to the player
    Play(100);
    EXPECT_EQ(session->QueuedUtterances(), 1u);
    EXPECT_EQ(Pull(), 100u);
    Play(30);
    EXPECT_EQ(session->CurrentUtterance(), std::optional<std::string>("u2"));
    EXPECT_NEAR(session->CurrentPosition(), 0.03, 1e-9);
}

TEST_F(SessionTest, ReorderedChunksAndPositionReports) {
    Receive(Utterance{"u1", UtteranceState::Start, UtteranceSource::Say, std::nullopt, std::nullopt});
    for (int c : {1, 0, 3, 2, 5, 4}) Receive(Audio{"u1", c, c * 0.1, Pcm(100, static_cast<std::int16_t>(c + 1))});
    Receive(Frames("u1", 0, 0.0, {0.0f, 0.1f, 0.2f, 0.3f, 0.4f, 0.5f}));
    AudioOut out = session->PullAudio();
    ASSERT_EQ(out.samples.size(), 600u);
    for (int c = 0; c < 6; ++c) EXPECT_EQ(out.samples[static_cast<std::size_t>(c * 100)], c + 1);
    player_queue = 600;
    for (int i = 0; i < 6; ++i) Play(100);
    int positions = 0;
    for (const auto& message : Outgoing()) positions += message.at("state") == "s:position";
    EXPECT_EQ(positions, 1);  // at 0.5 s (report_interval)
}

TEST(ClientSessionBlend, IdleBlendsInAndOutAroundSpeech) {
    SessionConfig config;
    config.jitter.prebuffer = 0.0;
    config.blend_time = 0.2;
    config.idle_delay = 0.0;
    ClientSession session(config);
    session.Receive(Welcome{1, "s", "t", kFps, {"jawOpen", "eyeBlinkLeft"}, kRate, CurveEncoding::F32}, 0.0);
    session.Receive(Frames("idle", 0, 0.0, {0.0f}), 0.0);
    session.Receive(Utterance{"u1", UtteranceState::Start, UtteranceSource::Say, std::nullopt, std::nullopt}, 0.0);
    session.Receive(Audio{"u1", 0, 0.0, Pcm(1000)}, 0.0);
    session.Receive(Frames("u1", 0, 0.0, {1.0f, 1.0f}), 0.0);
    session.Receive(Utterance{"u1", UtteranceState::End, UtteranceSource::Say, std::nullopt, EndReason::Done}, 0.0);
    std::vector<float> out;
    ASSERT_TRUE(session.Sample(0.0, out));
    EXPECT_EQ(out[0], 0.0f);  // idle
    session.PullAudio();
    session.SetPlayedSamples(1);
    session.Sample(0.1, out);
    EXPECT_NEAR(out[0], 0.5f, 1e-6);  // halfway into speech
    session.Sample(0.2, out);
    EXPECT_NEAR(out[0], 1.0f, 1e-6);
    session.SetPlayedSamples(1000);  // finished
    session.Sample(0.3, out);
    EXPECT_NEAR(out[0], 0.5f, 1e-6);  // halfway back to idle
    session.Sample(0.5, out);
    EXPECT_EQ(out[0], 0.0f);
}

std::vector<GestureEvent> Gestures(const std::vector<SessionEvent>& events) {
    std::vector<GestureEvent> out;
    for (const SessionEvent& e : events) {
        if (const auto* g = std::get_if<GestureEvent>(&e)) out.push_back(*g);
    }
    return out;
}

TEST_F(SessionTest, AGestureFiresWhenThePlayerReachesItsTimeNotWhenItArrives) {
    Start("u1", 5);
    Receive(Gesture{"u1", 0.35, "tilt", 0.5, 0.5});
    Receive(Gesture{"u1", 0.25, "nod", 0.6, 0.75});  // out of order: fired by t
    Pull();
    Play(200);
    EXPECT_TRUE(Gestures(session->TakeEvents()).empty());
    Play(60);  // 0.26 s
    auto fired = Gestures(session->TakeEvents());
    ASSERT_EQ(fired.size(), 1u);
    EXPECT_EQ(fired[0].gesture.name, "nod");
    EXPECT_EQ(fired[0].gesture.id, "u1");
    EXPECT_EQ(fired[0].gesture.strength, 0.75);
    Play(100);  // 0.36 s
    fired = Gestures(session->TakeEvents());
    ASSERT_EQ(fired.size(), 1u);
    EXPECT_EQ(fired[0].gesture.name, "tilt");
    Receive(Gesture{"u1", 0.1, "beat", 0.3, 0.5});  // late: its time has passed, fire now
    ASSERT_EQ(Gestures(session->TakeEvents()).size(), 1u);
}

TEST_F(SessionTest, GesturesOfAClearedOrUnknownUtteranceNeverFire) {
    Start("u1", 5);
    Receive(Gesture{"u1", 0.2, "nod", 0.6, 0.75});
    Receive(Gesture{"nope", 0.0, "nod", 0.6, 0.75});
    EXPECT_EQ(session->IgnoredMessages(), 1);
    Pull();
    Play(100);
    Receive(Clear{"u1"});
    Pull();
    Play(300);
    EXPECT_TRUE(Gestures(session->TakeEvents()).empty());
}

TEST_F(SessionTest, AMessageTypeNewerThanThisCoreIsSkippedWithoutAnError) {
    // {"type": "wink", "id": "u1"}: what a later server may send.
    const Bytes future = {0x82, 0xa4, 't', 'y', 'p', 'e', 0xa4, 'w', 'i', 'n', 'k', 0xa2, 'i', 'd', 0xa2, 'u', '1'};
    session->Receive(future.data(), future.size(), 0.0);
    EXPECT_TRUE(session->TakeEvents().empty());
    EXPECT_EQ(session->UnknownServerMessages(), 1);
    const Bytes hello = testing::ReadFixture("hello");  // a client message from the server is a fault
    session->Receive(hello.data(), hello.size(), 0.0);
    const auto events = session->TakeEvents();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(std::get<ErrorEvent>(events[0]).code, "unknown_type");
}

TEST_F(SessionTest, UndecodableBytesBecomeALocalErrorAndTheSessionGoesOn) {
    const Bytes junk = {0x93, 0x01};
    session->Receive(junk.data(), junk.size(), 0.0);
    auto events = session->TakeEvents();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(std::get<ErrorEvent>(events[0]).code, "malformed");
    Receive(Curves{"u1", 0, 0.0, kFps, 1, Bytes(3)});  // wrong payload size
    events = session->TakeEvents();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(std::get<ErrorEvent>(events[0]).code, "invalid_field");
    const Bytes clear = testing::ReadFixture("error");
    session->Receive(clear.data(), clear.size(), 0.0);
    events = session->TakeEvents();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_TRUE(std::get<ErrorEvent>(events[0]).from_server);
    EXPECT_EQ(std::get<ErrorEvent>(events[0]).ref, "u2");
}

TEST_F(SessionTest, EventsAreHandedOverAfterReceiveNeverFiredFromInsideIt) {
    // The deferral rule, in the core: Receive() only queues; the owner takes the batch and
    // fires it. A handler that re-enters the session (a Blueprint's OnError calling
    // Disconnect/Connect, or feeding more bytes) leaves the batch it is in untouched, and
    // what it causes comes in the next batch, in order.
    const Bytes error = testing::ReadFixture("error");
    session->Receive(error.data(), error.size(), 0.0);
    const Bytes junk = {0x93, 0x01};
    const auto batch = session->TakeEvents();
    ASSERT_EQ(batch.size(), 1u);
    std::size_t fired = 0;
    for (const SessionEvent& event : batch) {
        ++fired;
        EXPECT_TRUE(std::get<ErrorEvent>(event).from_server);
        session->Receive(junk.data(), junk.size(), 0.0);  // the handler re-enters
        session->Receive(junk.data(), junk.size(), 0.0);
    }
    EXPECT_EQ(fired, 1u);
    const auto next = session->TakeEvents();
    ASSERT_EQ(next.size(), 2u);
    EXPECT_EQ(std::get<ErrorEvent>(next[0]).code, "malformed");
    EXPECT_FALSE(std::get<ErrorEvent>(next[1]).from_server);
    EXPECT_TRUE(session->TakeEvents().empty());
}

}  // namespace
}  // namespace talkbridge
