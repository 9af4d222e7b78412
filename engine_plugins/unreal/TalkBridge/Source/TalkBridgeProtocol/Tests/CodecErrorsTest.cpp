// Bad input from the server: each fault has its typed error, and no input crashes the decoder.
#include <cstring>
#include <functional>
#include <random>

#include <gtest/gtest.h>

#include <msgpack/pack.hpp>
#include <msgpack/sbuffer.hpp>

#include "FixtureFiles.h"
#include "TalkBridgeProtocol/Codec.h"

namespace talkbridge {
namespace {

/// msgpack-cxx's packer with the few value overloads these tests need (the vendored subset
/// has no adaptors, so the packer's generic pack<T> is hidden on purpose).
struct Packer : msgpack::packer<msgpack::sbuffer> {
    explicit Packer(msgpack::sbuffer& buffer) : msgpack::packer<msgpack::sbuffer>(buffer), out(buffer) {}
    void pack(const std::string& s) {
        pack_str(static_cast<std::uint32_t>(s.size()));
        pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
    }
    void pack(int v) { pack_int64(v); }
    /// A float64 even when integral (pack_double would write 1.0 as the int 1).
    void pack_f64(double v) {
        std::uint64_t bits;
        std::memcpy(&bits, &v, sizeof bits);
        char buffer[9] = {static_cast<char>(0xcb)};
        for (int i = 0; i < 8; ++i) buffer[1 + i] = static_cast<char>((bits >> (56 - 8 * i)) & 0xFF);
        out.write(buffer, sizeof buffer);
    }
    msgpack::sbuffer& out;
    void pack(std::uint64_t v) { pack_uint64(v); }
    void pack(bool v) { v ? pack_true() : pack_false(); }
    void pack(const std::vector<int>& values) {
        pack_array(static_cast<std::uint32_t>(values.size()));
        for (int v : values) pack_int64(v);
    }
};

Bytes Pack(const std::function<void(Packer&)>& write) {
    msgpack::sbuffer buffer;
    Packer packer(buffer);
    write(packer);
    return Bytes(buffer.data(), buffer.data() + buffer.size());
}

Bytes Raw(std::initializer_list<int> bytes) {
    Bytes out;
    for (int b : bytes) out.push_back(static_cast<std::uint8_t>(b));
    return out;
}

ProtocolError ErrorOf(const Bytes& bytes) {
    Result<ServerMessage> result = DecodeServer(bytes);
    EXPECT_FALSE(result.Ok());
    return result.Ok() ? ProtocolError{} : result.Error();
}

/// A `clear` map with extra pairs written by `more`, and `count` pairs in all.
Bytes ClearWith(std::uint32_t extra, const std::function<void(Packer&)>& more) {
    return Pack([&](Packer& p) {
        p.pack_map(2 + extra);
        p.pack(std::string("type"));
        p.pack(std::string("clear"));
        p.pack(std::string("id"));
        p.pack(std::string("u1"));
        more(p);
    });
}

TEST(CodecErrors, NotMsgpackOrNotAMap) {
    EXPECT_EQ(ErrorOf({}).code, ErrorCode::Malformed);
    EXPECT_EQ(ErrorOf(Raw({0xc1})).code, ErrorCode::Malformed);  // never used byte
    EXPECT_EQ(ErrorOf(Pack([](Packer& p) { p.pack(42); })).code, ErrorCode::Malformed);
    EXPECT_EQ(ErrorOf(Pack([](Packer& p) { p.pack(std::vector<int>{1, 2}); })).message,
              "a message is a msgpack map, got array");
}

TEST(CodecErrors, TrailingBytesAndTruncation) {
    Bytes clear = testing::ReadFixture("clear");
    clear.push_back(0xc0);
    EXPECT_EQ(ErrorOf(clear).message, "trailing bytes after the msgpack map");
    const Bytes curves = testing::ReadFixture("curves");
    for (std::size_t size = 0; size < curves.size(); ++size) {
        EXPECT_EQ(ErrorOf(Bytes(curves.begin(), curves.begin() + size)).code, ErrorCode::Malformed) << size;
    }
}

TEST(CodecErrors, HugeLengthHeadersDoNotAllocate) {
    EXPECT_EQ(ErrorOf(Raw({0xdd, 0xff, 0xff, 0xff, 0xff})).code, ErrorCode::Malformed);  // array32
    EXPECT_EQ(ErrorOf(Raw({0xdf, 0xff, 0xff, 0xff, 0xff})).code, ErrorCode::Malformed);  // map32
    EXPECT_EQ(ErrorOf(Raw({0xc6, 0xff, 0xff, 0xff, 0xff, 0})).code, ErrorCode::Malformed);  // bin32
    EXPECT_EQ(ErrorOf(Raw({0xdb, 0x7f, 0xff, 0xff, 0xff, 'a'})).code, ErrorCode::Malformed);  // str32
}

TEST(CodecErrors, ExtensionsBadUtf8RepeatedKeysAndDepth) {
    EXPECT_NE(ErrorOf(ClearWith(1, [](Packer& p) {
                  p.pack(std::string("x"));
                  p.pack_ext(1, 5);
                  p.pack_ext_body("\x01", 1);
              })).message.find("extension"), std::string::npos);
    EXPECT_NE(ErrorOf(ClearWith(1, [](Packer& p) {
                  p.pack(std::string("x"));
                  p.pack_str(2);
                  p.pack_str_body("\xc3\x28", 2);
              })).message.find("UTF-8"), std::string::npos);
    EXPECT_EQ(ErrorOf(ClearWith(1, [](Packer& p) {
                  p.pack(std::string("id"));
                  p.pack(std::string("u2"));
              })).message, "a map repeats a key");
    EXPECT_EQ(ErrorOf(ClearWith(1, [](Packer& p) {  // 1 and 1.0 are one key to the server
                  p.pack(std::string("x"));
                  p.pack_map(2);
                  p.pack(1);
                  p.pack(0);
                  p.pack_f64(1.0);
                  p.pack(0);
              })).message, "a map repeats a key");
    EXPECT_EQ(ErrorOf(Pack([](Packer& p) {
                  p.pack_map(1);
                  p.pack(7);
                  p.pack(std::string("clear"));
              })).message, "message keys must be str");
    Bytes deep(200, 0x91);  // [[[[...]]]]
    deep.push_back(0xc0);
    EXPECT_EQ(ErrorOf(deep).code, ErrorCode::Malformed);
}

TEST(CodecErrors, TypeMissingUnknownOrNotAString) {
    EXPECT_EQ(ErrorOf(Pack([](Packer& p) { p.pack_map(0); })).code, ErrorCode::MissingType);
    EXPECT_EQ(ErrorOf(Pack([](Packer& p) {
                  p.pack_map(1);
                  p.pack(std::string("type"));
                  p.pack_nil();
              })).code, ErrorCode::MissingType);
    const ProtocolError unknown = ErrorOf(Pack([](Packer& p) {
        p.pack_map(1);
        p.pack(std::string("type"));
        p.pack(std::string("dance"));
    }));
    EXPECT_EQ(unknown.code, ErrorCode::UnknownType);
    EXPECT_STREQ(WireCode(unknown.code), "unknown_type");
    const ProtocolError not_str = ErrorOf(Pack([](Packer& p) {
        p.pack_map(1);
        p.pack(std::string("type"));
        p.pack(3);
    }));
    EXPECT_EQ(not_str.code, ErrorCode::InvalidField);
    EXPECT_EQ(not_str.field, "type");
}

/// An `audio` message with one field replaced (or removed when `write` is null).
Bytes AudioWith(const std::string& field, const std::function<void(Packer&)>& write) {
    const std::vector<std::pair<std::string, std::function<void(Packer&)>>> fields = {
        {"id", [](Packer& p) { p.pack(std::string("u1")); }},
        {"seq", [](Packer& p) { p.pack(3); }},
        {"t", [](Packer& p) { p.pack_f64(0.15); }},
        {"data", [](Packer& p) { p.pack_bin(2); p.pack_bin_body("\0\0", 2); }}};
    return Pack([&](Packer& p) {
        p.pack_map(write ? 5 : 4);
        p.pack(std::string("type"));
        p.pack(std::string("audio"));
        for (const auto& f : fields) {
            if (f.first == field && !write) continue;
            p.pack(f.first);
            (f.first == field ? write : f.second)(p);
        }
    });
}

TEST(CodecErrors, InvalidFieldsNameTheField) {
    const auto expect = [](const Bytes& bytes, const std::string& field, const std::string& message) {
        const ProtocolError e = ErrorOf(bytes);
        EXPECT_EQ(e.code, ErrorCode::InvalidField) << message;
        EXPECT_EQ(e.field, field);
        EXPECT_EQ(e.message, message);
    };
    expect(AudioWith("id", nullptr), "id", "audio.id is required");
    expect(AudioWith("id", [](Packer& p) { p.pack_nil(); }), "id", "audio.id must not be nil");
    expect(AudioWith("seq", [](Packer& p) { p.pack_f64(1.0); }), "seq", "audio.seq: expected int, got float");
    expect(AudioWith("seq", [](Packer& p) { p.pack(-1); }), "seq", "audio.seq: must be 0..2147483647, got -1");
    expect(AudioWith("seq", [](Packer& p) { p.pack(std::uint64_t{1} << 40); }), "seq",
           "audio.seq: must be 0..2147483647, got 1099511627776");
    expect(AudioWith("seq", [](Packer& p) { p.pack(true); }), "seq", "audio.seq: expected int, got bool");
    expect(AudioWith("t", [](Packer& p) { p.pack_f64(-0.5); }), "t", "audio.t: must be >= 0, got -0.5");
    expect(AudioWith("t", [](Packer& p) { p.pack_f64(std::nan("")); }), "t", "audio.t: must be finite, got nan");
    expect(AudioWith("data", [](Packer& p) { p.pack(std::string("pcm")); }), "data", "audio.data: expected bin, got str");
}

TEST(CodecErrors, IntsStandInForFloatsAndUnknownKeysAreIgnored) {
    Result<ServerMessage> ok = DecodeServer(AudioWith("t", [](Packer& p) { p.pack(2); }));
    ASSERT_TRUE(ok.Ok()) << ok.Error().message;
    EXPECT_EQ(std::get<Audio>(ok.Value()).t, 2.0);
    Result<ServerMessage> extra = DecodeServer(ClearWith(1, [](Packer& p) {
        p.pack(std::string("future"));
        p.pack(std::vector<int>{1, 2, 3});
    }));
    ASSERT_TRUE(extra.Ok());
    EXPECT_EQ(std::get<Clear>(extra.Value()).id, "u1");
}

TEST(CodecErrors, EnumsAndRanges) {
    const ProtocolError state = ErrorOf(Pack([](Packer& p) {
        p.pack_map(4);
        p.pack(std::string("type")); p.pack(std::string("utterance"));
        p.pack(std::string("id")); p.pack(std::string("u1"));
        p.pack(std::string("state")); p.pack(std::string("paused"));
        p.pack(std::string("source")); p.pack(std::string("say"));
    }));
    EXPECT_EQ(state.field, "state");
    EXPECT_EQ(state.message, "utterance.state: must be one of start, end; got 'paused'");
}

TEST(CodecErrors, AGesturesStrengthIsAWeight) {
    const auto gesture = [](double strength) {
        return Pack([strength](Packer& p) {
            p.pack_map(6);
            p.pack(std::string("type")); p.pack(std::string("gesture"));
            p.pack(std::string("id")); p.pack(std::string("u1"));
            p.pack(std::string("t")); p.pack_f64(0.5);
            p.pack(std::string("name")); p.pack(std::string("nod"));
            p.pack(std::string("duration")); p.pack_f64(0.6);
            p.pack(std::string("strength")); p.pack_f64(strength);
        });
    };
    const ProtocolError strong = ErrorOf(gesture(1.5));
    EXPECT_EQ(strong.code, ErrorCode::InvalidField);
    EXPECT_EQ(strong.field, "strength");
    EXPECT_EQ(strong.message, "gesture.strength: must be 0..1, got 1.5");
    Result<ServerMessage> ok = DecodeServer(gesture(1.0));
    ASSERT_TRUE(ok.Ok()) << ok.Error().message;
    EXPECT_EQ(std::get<Gesture>(ok.Value()).strength, 1.0);
}

TEST(CodecErrors, OversizedMessagesAreRefusedUnread) {
    const Bytes big(kMaxMessageBytes + 1, 0x00);
    EXPECT_EQ(ErrorOf(big).code, ErrorCode::MessageTooLarge);
}

TEST(CodecErrors, RandomBytesNeverCrash) {
    std::mt19937 rng(1234);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_int_distribution<int> length(0, 64);
    for (int i = 0; i < 20000; ++i) {
        Bytes bytes(static_cast<std::size_t>(length(rng)));
        for (auto& b : bytes) b = static_cast<std::uint8_t>(byte(rng));
        if (!bytes.empty() && i % 2) bytes[0] = static_cast<std::uint8_t>(0x80 | (bytes[0] & 0x0f));  // a fixmap
        (void)DecodeServer(bytes);
    }
}

TEST(CodecErrors, MutatedFixturesNeverCrash) {
    std::mt19937 rng(99);
    for (const std::string& stem : testing::FixtureStems()) {
        const Bytes original = testing::ReadFixture(stem);
        std::uniform_int_distribution<std::size_t> where(0, original.size() - 1);
        std::uniform_int_distribution<int> byte(0, 255);
        for (int i = 0; i < 2000; ++i) {
            Bytes bytes = original;
            for (int flips = 1 + i % 4; flips > 0; --flips) bytes[where(rng)] = static_cast<std::uint8_t>(byte(rng));
            Result<ServerMessage> result = DecodeServer(bytes);
            if (!result.Ok()) EXPECT_FALSE(result.Error().message.empty());
        }
    }
}

}  // namespace
}  // namespace talkbridge
