// Server bytes → ServerMessage: the field rules of bridge/protocol/codec.py, one builder per type.
#include <cmath>
#include <iterator>
#include <limits>
#include <new>

#include "FieldReader.h"
#include "TalkBridgeProtocol/Codec.h"
#include "WireNames.h"

namespace talkbridge {

namespace {

using detail::FieldReader;

constexpr double kAnyClock = -std::numeric_limits<double>::infinity();
constexpr std::int64_t kMaxCount = std::numeric_limits<std::int32_t>::max();

int Fps(const FieldReader& f) { return static_cast<int>(f.Int("fps", 1, 240)); }
int Rate(const FieldReader& f) { return static_cast<int>(f.Int("audio_rate", 8000, 192000)); }
std::int32_t Count(const FieldReader& f, const char* name) {
    return static_cast<std::int32_t>(f.Int(name, 0, kMaxCount));
}

ServerMessage BuildWelcome(const FieldReader& f) {
    Welcome m;
    m.protocol = static_cast<int>(f.Int("protocol", std::numeric_limits<int>::min(),
                                        std::numeric_limits<int>::max()));
    m.session = f.Str("session");
    m.server = f.Str("server");
    m.fps = Fps(f);
    m.channels = f.Names("channels");
    m.audio_rate = Rate(f);
    m.encoding = static_cast<CurveEncoding>(f.Enum("encoding", detail::kEncodingNames));
    return m;
}

ServerMessage BuildUtterance(const FieldReader& f) {
    Utterance m;
    m.id = f.Str("id");
    m.state = static_cast<UtteranceState>(f.Enum("state", detail::kUtteranceStateNames));
    m.source = static_cast<UtteranceSource>(f.Enum("source", detail::kSourceNames));
    m.text = f.OptStr("text");
    if (auto reason = f.OptEnum("reason", detail::kReasonNames)) m.reason = static_cast<EndReason>(*reason);
    return m;
}

ServerMessage BuildAudio(const FieldReader& f) {
    Audio m;
    m.id = f.Str("id");
    m.seq = Count(f, "seq");
    m.t = f.Number("t", 0.0);
    m.data = f.Bin("data");
    return m;
}

ServerMessage BuildCurves(const FieldReader& f) {
    Curves m;
    m.id = f.Str("id");
    m.seq = Count(f, "seq");
    m.t = f.Number("t", 0.0);
    m.fps = Fps(f);
    m.n = Count(f, "n");
    m.data = f.Bin("data");
    return m;
}

ServerMessage BuildClear(const FieldReader& f) { return Clear{f.Str("id")}; }
ServerMessage BuildTranscript(const FieldReader& f) { return Transcript{f.Str("text"), f.Bool("final")}; }
ServerMessage BuildReply(const FieldReader& f) { return Reply{f.Str("id"), f.Str("text"), f.Bool("final")}; }

ServerMessage BuildError(const FieldReader& f) {
    ServerError m;
    m.code = f.Str("code");
    m.message = f.Str("message");
    m.fatal = f.OptBool("fatal").value_or(false);
    m.ref = f.OptStr("ref");
    return m;
}

ServerMessage BuildPong(const FieldReader& f) { return Pong{f.Number("t", kAnyClock), f.Number("server_t", kAnyClock)}; }

ServerMessage BuildGesture(const FieldReader& f) {
    Gesture m;
    m.id = f.Str("id");
    m.t = f.Number("t", 0.0);
    m.name = f.Str("name");
    m.duration = f.Number("duration", 0.0);
    m.strength = f.Number("strength", 0.0, 1.0);
    return m;
}

using Builder = ServerMessage (*)(const FieldReader&);
/// In ServerMessage's alternative order, which is also the order of kServerTypeNames.
constexpr Builder kBuilders[] = {BuildWelcome, BuildUtterance, BuildAudio, BuildCurves,
                                 BuildClear,   BuildTranscript, BuildReply, BuildError,
                                 BuildPong,    BuildGesture};
static_assert(std::size(kBuilders) == std::variant_size_v<ServerMessage>, "one builder per type");

int IndexOf(const std::string& name, const char* const* names) {
    for (int i = 0; names[i] != nullptr; ++i) {
        if (name == names[i]) return i;
    }
    return -1;
}

std::string KnownTypes() {
    std::string known;
    for (int i = 0; detail::kServerTypeNames[i] != nullptr; ++i) {
        known += (i ? ", " : "") + std::string(detail::kServerTypeNames[i]);
    }
    return known;
}

int MessageIndex(const detail::MessageMap& map) {
    const auto it = map.fields.find("type");
    if (it == map.fields.end() || it->second->type == msgpack::type::NIL) {
        detail::Fail(ErrorCode::MissingType, "the message has no 'type'");
    }
    const msgpack::object& type = *it->second;
    if (type.type != msgpack::type::STR) {
        detail::Fail(ErrorCode::InvalidField,
                     std::string("type: expected str, got ") + detail::KindName(type), "type");
    }
    const std::string name(type.via.str.ptr, type.via.str.size);
    const int index = IndexOf(name, detail::kServerTypeNames);
    if (index < 0) {
        const bool other_side = IndexOf(name, detail::kClientTypeNames) >= 0;
        const std::string shown = name.size() <= 38 ? name : name.substr(0, 35) + "...";
        detail::Fail(ErrorCode::UnknownType, "unknown message type '" + shown + "'" +
                     (other_side ? " (it travels the other way)" : "") + "; known: " + KnownTypes());
    }
    return index;
}

}  // namespace

const char* WireCode(ErrorCode code) {
    switch (code) {
    case ErrorCode::TextFrame: return "text_frame";
    case ErrorCode::Malformed: return "malformed";
    case ErrorCode::MissingType: return "missing_type";
    case ErrorCode::UnknownType: return "unknown_type";
    case ErrorCode::InvalidField: return "invalid_field";
    case ErrorCode::MessageTooLarge: return "message_too_large";
    }
    return "malformed";
}

Result<ServerMessage> DecodeServer(const std::uint8_t* data, std::size_t size) {
    if (data == nullptr && size != 0) return ProtocolError{ErrorCode::Malformed, "no data", {}};
    try {
        detail::MessageMap map;
        detail::UnpackMessage(data, size, map);
        const int index = MessageIndex(map);
        return kBuilders[index](FieldReader(detail::kServerTypeNames[index], map));
    } catch (const detail::DecodeFailure& failure) {
        return failure.error;
    } catch (const std::bad_alloc&) {
        return ProtocolError{ErrorCode::Malformed, "out of memory while decoding", {}};
    } catch (...) {
        return ProtocolError{ErrorCode::Malformed, "not a msgpack message", {}};
    }
}

const char* TypeName(const ServerMessage& message) { return detail::kServerTypeNames[message.index()]; }
const char* TypeName(const ClientMessage& message) { return detail::kClientTypeNames[message.index()]; }

const char* ToWire(CurveEncoding value) { return detail::kEncodingNames[static_cast<int>(value)]; }
const char* ToWire(UtteranceState value) { return detail::kUtteranceStateNames[static_cast<int>(value)]; }
const char* ToWire(UtteranceSource value) { return detail::kSourceNames[static_cast<int>(value)]; }
const char* ToWire(EndReason value) { return detail::kReasonNames[static_cast<int>(value)]; }
const char* ToWire(PlaybackState value) { return detail::kPlaybackStateNames[static_cast<int>(value)]; }

}  // namespace talkbridge
