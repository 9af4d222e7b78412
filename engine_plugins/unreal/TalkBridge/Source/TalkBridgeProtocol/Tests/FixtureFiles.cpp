#include "FixtureFiles.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>

#include <gtest/gtest.h>

#include <msgpack/object.hpp>
#include <msgpack/unpack.hpp>

namespace talkbridge {
namespace testing {

Bytes ReadFixture(const std::string& stem) {
    const char* env = std::getenv("TALKBRIDGE_FIXTURES_DIR");
    const std::string dir = env && *env ? env : TALKBRIDGE_FIXTURES_DIR;
    const std::string path = dir + "/" + stem + ".msgpack";
    std::ifstream file(path, std::ios::binary);
    EXPECT_TRUE(file.good()) << "missing fixture " << path;
    return Bytes(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

const std::vector<std::string>& FixtureStems() {
    static const std::vector<std::string> stems = {
        "hello", "say", "audio_in", "mic", "chat", "interrupt", "playback", "ping", "image",
        "welcome", "utterance_start", "utterance_end", "audio", "curves", "curves_f32",
        "clear", "transcript", "reply", "error", "pong", "gesture"};
    return stems;
}

namespace {

std::string Render(const msgpack::object& o) {
    std::ostringstream out;
    switch (o.type) {
    case msgpack::type::NIL: return "nil";
    case msgpack::type::BOOLEAN: return o.via.boolean ? "b:true" : "b:false";
    case msgpack::type::POSITIVE_INTEGER: out << "i:" << o.via.u64; break;
    case msgpack::type::NEGATIVE_INTEGER: out << "i:" << o.via.i64; break;
    case msgpack::type::FLOAT32: out << "f32:" << o.via.f64; break;
    case msgpack::type::FLOAT64: out << "f:" << o.via.f64; break;
    case msgpack::type::STR: return "s:" + std::string(o.via.str.ptr, o.via.str.size);
    case msgpack::type::BIN: out << "bin:" << o.via.bin.size; break;
    case msgpack::type::ARRAY:
        out << "a:[";
        for (std::uint32_t i = 0; i < o.via.array.size; ++i) {
            out << (i ? "," : "") << Render(o.via.array.ptr[i]).substr(2);
        }
        out << "]";
        break;
    case msgpack::type::MAP:
        out << "m:{";
        for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
            out << (i ? "," : "") << Render(o.via.map.ptr[i].key).substr(2) << ":"
                << Render(o.via.map.ptr[i].val).substr(2);
        }
        out << "}";
        break;
    default: return "ext";
    }
    return out.str();
}

}  // namespace

std::map<std::string, std::string> PeekMap(const Bytes& bytes) {
    std::map<std::string, std::string> keys;
    const msgpack::object_handle handle =
        msgpack::unpack(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    const msgpack::object& root = handle.get();
    EXPECT_EQ(root.type, msgpack::type::MAP);
    if (root.type != msgpack::type::MAP) return keys;
    for (std::uint32_t i = 0; i < root.via.map.size; ++i) {
        const msgpack::object_kv& kv = root.via.map.ptr[i];
        keys[std::string(kv.key.via.str.ptr, kv.key.via.str.size)] = Render(kv.val);
    }
    return keys;
}

std::vector<std::int16_t> SinePcm16(int rate, double seconds) {
    const auto count = static_cast<int>(std::lround(rate * seconds));
    std::vector<std::int16_t> samples(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) {
        const double x = 0.5 * std::sin(2.0 * M_PI * 440.0 * i / rate);
        samples[static_cast<std::size_t>(i)] = static_cast<std::int16_t>(std::nearbyint(x * 32767.0));
    }
    return samples;
}

}  // namespace testing
}  // namespace talkbridge
