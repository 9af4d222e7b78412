#include "MsgpackTree.h"

#include "TalkBridgeProtocol/Codec.h"

#include <cmath>
#include <cstdio>
#include <new>
#include <set>
#include <utility>

namespace talkbridge {
namespace detail {

namespace {

constexpr std::size_t kMaxDepth = 32;

void RefuseKind(const msgpack::object& value) {
    if (value.type == msgpack::type::EXT) {
        Fail(ErrorCode::Malformed, "msgpack extension types are not part of protocol v1");
    }
    if (value.type == msgpack::type::STR && !IsValidUtf8(value.via.str.ptr, value.via.str.size)) {
        Fail(ErrorCode::Malformed, "a str is not valid UTF-8 (send binary data as msgpack bin)");
    }
}

/// A key that compares equal exactly when Python's dict would merge the two keys
/// (1, 1.0 and true are one key there); NaN never equals anything, so it gets no identity.
bool KeyIdentity(const msgpack::object& key, std::string& out) {
    char buffer[40];
    switch (key.type) {
    case msgpack::type::NIL: out = "n"; return true;
    case msgpack::type::BOOLEAN: out = key.via.boolean ? "#1" : "#0"; return true;
    case msgpack::type::POSITIVE_INTEGER:
        std::snprintf(buffer, sizeof buffer, "#%llu", static_cast<unsigned long long>(key.via.u64));
        break;
    case msgpack::type::NEGATIVE_INTEGER:
        std::snprintf(buffer, sizeof buffer, "#%lld", static_cast<long long>(key.via.i64));
        break;
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64: {
        const double v = key.via.f64;
        if (std::isnan(v)) return false;
        if (std::trunc(v) == v && std::fabs(v) < 9.2e18) {
            std::snprintf(buffer, sizeof buffer, "#%lld", static_cast<long long>(v));
        } else {
            std::snprintf(buffer, sizeof buffer, "#%.17g", v);
        }
        break;
    }
    case msgpack::type::STR: out.assign("s").append(key.via.str.ptr, key.via.str.size); return true;
    case msgpack::type::BIN: out.assign("b").append(key.via.bin.ptr, key.via.bin.size); return true;
    default: Fail(ErrorCode::Malformed, "a map key is an array or a map");
    }
    out = buffer;
    return true;
}

void CheckTree(const msgpack::object& value, std::size_t depth) {
    if (depth > kMaxDepth) Fail(ErrorCode::Malformed, "msgpack nested too deeply");
    RefuseKind(value);
    if (value.type == msgpack::type::ARRAY) {
        for (std::uint32_t i = 0; i < value.via.array.size; ++i) {
            CheckTree(value.via.array.ptr[i], depth + 1);
        }
    } else if (value.type == msgpack::type::MAP) {
        std::set<std::string> seen;
        std::string identity;
        for (std::uint32_t i = 0; i < value.via.map.size; ++i) {
            const msgpack::object_kv& kv = value.via.map.ptr[i];
            RefuseKind(kv.key);
            if (KeyIdentity(kv.key, identity) && !seen.insert(identity).second) {
                Fail(ErrorCode::Malformed, "a map repeats a key");
            }
            CheckTree(kv.val, depth + 1);
        }
    }
}

msgpack::object_handle Parse(const std::uint8_t* data, std::size_t size) {
    const auto cap = static_cast<std::size_t>(size > 0xffffffffu ? 0xffffffffu : size);
    const msgpack::unpack_limit limit(cap, cap, cap, cap, 0xffffffffu, kMaxDepth);
    std::size_t offset = 0;
    msgpack::object_handle handle;
    try {
        handle = msgpack::unpack(reinterpret_cast<const char*>(data), size, offset, nullptr,
                                 nullptr, limit);
    } catch (const msgpack::insufficient_bytes&) {
        Fail(ErrorCode::Malformed, "not a msgpack message (truncated)");
    } catch (const msgpack::depth_size_overflow&) {
        Fail(ErrorCode::Malformed, "msgpack nested too deeply");
    } catch (const msgpack::size_overflow&) {
        Fail(ErrorCode::Malformed, "not a msgpack message (a length exceeds the message)");
    } catch (const std::bad_alloc&) {
        Fail(ErrorCode::Malformed, "not a msgpack message (out of memory)");
    } catch (const std::exception& e) {
        Fail(ErrorCode::Malformed, std::string("not a msgpack message (") + e.what() + ")");
    }
    if (offset != size) Fail(ErrorCode::Malformed, "trailing bytes after the msgpack map");
    return handle;
}

}  // namespace

void Fail(ErrorCode code, std::string message, std::string field) {
    throw DecodeFailure{ProtocolError{code, std::move(message), std::move(field)}};
}

const char* KindName(const msgpack::object& value) {
    switch (value.type) {
    case msgpack::type::NIL: return "nil";
    case msgpack::type::BOOLEAN: return "bool";
    case msgpack::type::POSITIVE_INTEGER:
    case msgpack::type::NEGATIVE_INTEGER: return "int";
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64: return "float";
    case msgpack::type::STR: return "str";
    case msgpack::type::BIN: return "bin";
    case msgpack::type::ARRAY: return "array";
    case msgpack::type::MAP: return "map";
    default: return "ext";
    }
}

bool IsValidUtf8(const char* text, std::size_t size) {
    const auto* s = reinterpret_cast<const unsigned char*>(text);
    std::size_t i = 0;
    while (i < size) {
        const unsigned char c = s[i];
        std::size_t extra = 0;
        std::uint32_t cp = 0;
        if (c < 0x80) { ++i; continue; }
        if ((c & 0xE0) == 0xC0) { extra = 1; cp = c & 0x1F; }
        else if ((c & 0xF0) == 0xE0) { extra = 2; cp = c & 0x0F; }
        else if ((c & 0xF8) == 0xF0) { extra = 3; cp = c & 0x07; }
        else return false;
        if (i + extra >= size) return false;
        for (std::size_t k = 1; k <= extra; ++k) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        static constexpr std::uint32_t kMin[4] = {0, 0x80, 0x800, 0x10000};
        if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += extra + 1;
    }
    return true;
}

void UnpackMessage(const std::uint8_t* data, std::size_t size, MessageMap& out) {
    if (size > kMaxMessageBytes) {
        Fail(ErrorCode::MessageTooLarge, "message of " + std::to_string(size) +
             " bytes exceeds the limit of " + std::to_string(kMaxMessageBytes) + " bytes");
    }
    out.handle = Parse(data, size);
    const msgpack::object& root = out.handle.get();
    CheckTree(root, 0);
    if (root.type != msgpack::type::MAP) {
        Fail(ErrorCode::Malformed, std::string("a message is a msgpack map, got ") + KindName(root));
    }
    for (std::uint32_t i = 0; i < root.via.map.size; ++i) {
        const msgpack::object_kv& kv = root.via.map.ptr[i];
        if (kv.key.type != msgpack::type::STR) Fail(ErrorCode::Malformed, "message keys must be str");
        out.fields[std::string(kv.key.via.str.ptr, kv.key.via.str.size)] = &kv.val;
    }
}

}  // namespace detail
}  // namespace talkbridge
