// Reconnect back-off: the same three cases as the C# core's Backoff* tests (PlayoutTests.cs).
#include <gtest/gtest.h>

#include "TalkBridgeProtocol/Backoff.h"

namespace talkbridge {
namespace {

TEST(Backoff, DoublesUpToTheMaxWithJitterAndResets) {
    Backoff backoff(0.5, 4.0, 0.2, /*seed=*/1);
    const double nominal[] = {0.5, 1.0, 2.0, 4.0, 4.0, 4.0};
    for (double expected : nominal) {
        EXPECT_NEAR(backoff.Next(), expected, expected * 0.2 + 1e-9);
    }
    EXPECT_EQ(backoff.Attempts(), 6);
    backoff.Reset();
    EXPECT_EQ(backoff.Attempts(), 0);
    EXPECT_NEAR(backoff.Next(), 0.5, 0.1);
}

TEST(Backoff, ClientsCutOffTogetherDoNotRetryInStep) {
    Backoff a(0.5, 10.0, 0.2, /*seed=*/1);
    Backoff b(0.5, 10.0, 0.2, /*seed=*/2);
    int differ = 0;
    for (int i = 0; i < 5; ++i) {
        differ += a.Next() != b.Next();
    }
    EXPECT_EQ(differ, 5);
}

TEST(Backoff, NeverWaitsLongerThanTheMax) {
    Backoff backoff(0.5, 3.0, 0.5, /*seed=*/7);
    for (int i = 0; i < 20; ++i) {
        EXPECT_LE(backoff.Next(), 3.0);
    }
}

}  // namespace
}  // namespace talkbridge
