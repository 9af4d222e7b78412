// Test helpers: the golden messages of tests/fixtures/protocol and msgpack peeking.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "TalkBridgeProtocol/Messages.h"

namespace talkbridge {
namespace testing {

/// The bytes of tests/fixtures/protocol/<stem>.msgpack (env TALKBRIDGE_FIXTURES_DIR overrides
/// the directory compiled in); fails the current test when the file is missing.
Bytes ReadFixture(const std::string& stem);

/// Every fixture stem, client and server messages.
const std::vector<std::string>& FixtureStems();

/// Top-level keys of a msgpack map, each with a short rendering of its value
/// ("s:hello", "i:1", "f:12.5", "b:true", "bin:960", "a:[arkit52]", "m:{happy:0.75}", "nil").
std::map<std::string, std::string> PeekMap(const Bytes& bytes);

/// The fixture's 440 Hz tone, computed like bridge/protocol/fixtures.py's sine_pcm16.
std::vector<std::int16_t> SinePcm16(int rate, double seconds = 0.01);

}  // namespace testing
}  // namespace talkbridge
