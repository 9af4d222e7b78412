// ClientMessage → bytes, byte-identical to bridge/protocol/codec.py's encode(): "type" first,
// then the fields in declaration order, absent optionals left off, floats always float64,
// ints in their smallest msgpack form, str/bin with their smallest length header.
#include <cstring>
#include <type_traits>

#include "MsgpackInclude.h"
#include "TalkBridgeProtocol/Codec.h"

namespace talkbridge {

namespace {

class MapWriter {
public:
    explicit MapWriter(const char* type) : packer_(body_) { Str("type", type); }

    MapWriter& Str(const char* key, const std::string& value) {
        Key(key);
        String(value);
        return *this;
    }
    MapWriter& OptStr(const char* key, const std::optional<std::string>& value) {
        return value ? Str(key, *value) : *this;
    }
    MapWriter& Int(const char* key, std::int64_t value) { Key(key); packer_.pack_int64(value); return *this; }
    MapWriter& Float(const char* key, double value) {
        Key(key);
        Float64(value);
        return *this;
    }
    MapWriter& Bool(const char* key, bool value) {
        Key(key);
        value ? packer_.pack_true() : packer_.pack_false();
        return *this;
    }
    MapWriter& Bin(const char* key, const Bytes& value) {
        Key(key);
        packer_.pack_bin(static_cast<std::uint32_t>(value.size()));
        packer_.pack_bin_body(reinterpret_cast<const char*>(value.data()), static_cast<std::uint32_t>(value.size()));
        return *this;
    }
    MapWriter& Names(const char* key, const std::vector<std::string>& names) {
        Key(key);
        packer_.pack_array(static_cast<std::uint32_t>(names.size()));
        for (const std::string& name : names) String(name);
        return *this;
    }
    MapWriter& Emotion(const char* key, const talkbridge::Emotion& emotion) {
        if (const auto* name = std::get_if<std::string>(&emotion)) return Str(key, *name);
        if (const auto* blend = std::get_if<EmotionBlend>(&emotion)) {
            Key(key);
            packer_.pack_map(static_cast<std::uint32_t>(blend->size()));
            for (const auto& entry : *blend) {
                String(entry.first);
                Float64(entry.second);
            }
        }
        return *this;
    }

    Bytes Finish() const {
        msgpack::sbuffer head;
        msgpack::packer<msgpack::sbuffer>(head).pack_map(count_);
        Bytes out(head.data(), head.data() + head.size());
        out.insert(out.end(), body_.data(), body_.data() + body_.size());
        return out;
    }

private:
    void Key(const char* key) {
        String(key);
        ++count_;
    }
    /// Always float64 (0xcb), as Python writes floats; msgpack-cxx's pack_double would
    /// write 2.0 as the int 2.
    void Float64(double value) {
        std::uint64_t bits;
        std::memcpy(&bits, &value, sizeof bits);
        char buffer[9];
        buffer[0] = static_cast<char>(0xcb);
        for (int i = 0; i < 8; ++i) buffer[1 + i] = static_cast<char>((bits >> (56 - 8 * i)) & 0xFF);
        body_.write(buffer, sizeof buffer);
    }
    void String(const std::string& value) {
        packer_.pack_str(static_cast<std::uint32_t>(value.size()));
        packer_.pack_str_body(value.data(), static_cast<std::uint32_t>(value.size()));
    }

    msgpack::sbuffer body_;
    msgpack::packer<msgpack::sbuffer> packer_;
    std::uint32_t count_ = 0;
};

Bytes EncodeOne(const Hello& m) {
    return MapWriter("hello").Int("protocol", m.protocol).Str("client", m.client).OptStr("token", m.token)
        .Int("fps", m.fps).Names("channels", m.channels).Int("audio_rate", m.audio_rate)
        .Str("encoding", ToWire(m.encoding)).Finish();
}

Bytes EncodeOne(const Say& m) {
    return MapWriter("say").Str("text", m.text).OptStr("id", m.id).OptStr("voice", m.voice)
        .OptStr("lang", m.lang).Emotion("emotion", m.emotion).Finish();
}

Bytes EncodeOne(const AudioIn& m) {
    return MapWriter("audio_in").Str("id", m.id).Int("rate", m.rate).Bin("data", m.data)
        .Bool("end", m.end).Finish();
}

Bytes EncodeOne(const Mic& m) { return MapWriter("mic").Int("rate", m.rate).Bin("data", m.data).Finish(); }
Bytes EncodeOne(const Chat& m) { return MapWriter("chat").Str("text", m.text).Finish(); }
Bytes EncodeOne(const Interrupt& m) { return MapWriter("interrupt").OptStr("id", m.id).Finish(); }
Bytes EncodeOne(const Ping& m) { return MapWriter("ping").Float("t", m.t).Finish(); }

Bytes EncodeOne(const Image& m) {
    MapWriter writer("image");
    writer.Bin("data", m.data);
    if (m.t) writer.Float("t", *m.t);
    return writer.OptStr("prompt", m.prompt).Finish();
}

Bytes EncodeOne(const Playback& m) {
    MapWriter writer("playback");
    writer.Str("id", m.id).Str("state", ToWire(m.state)).Float("position", m.position);
    if (m.interrupted) writer.Bool("interrupted", *m.interrupted);
    return writer.Finish();
}

}  // namespace

Bytes Encode(const ClientMessage& message) {
    return std::visit([](const auto& m) { return EncodeOne(m); }, message);
}

}  // namespace talkbridge
