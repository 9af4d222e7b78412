// Untrusted bytes → one checked msgpack map (private to the module).
//
// UnpackMessage does everything bridge/protocol/codec.py's _unpack/_decode do before fields
// are looked at: msgpack syntax, no trailing bytes, no extension types, every str valid
// UTF-8, no repeated map keys, map keys never arrays or maps, bounded nesting, and a top
// level that is a map keyed by str. Element counts are capped by the input length, so a
// header that promises 4 billion entries can't turn into a 96 GB allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "MsgpackInclude.h"
#include "TalkBridgeProtocol/Errors.h"

namespace talkbridge {
namespace detail {

/// Thrown inside the module only; DecodeServer turns it into a Result.
struct DecodeFailure {
    ProtocolError error;
};

[[noreturn]] void Fail(ErrorCode code, std::string message, std::string field = {});

/// The top-level map: key → value; the handle owns the memory the values point into.
struct MessageMap {
    msgpack::object_handle handle;
    std::map<std::string, const msgpack::object*> fields;
};

/// Parses and checks; throws DecodeFailure (never anything else) on bad input.
void UnpackMessage(const std::uint8_t* data, std::size_t size, MessageMap& out);

/// msgpack's name for an object's type ("int", "float", "str", "bin", "array", "map", ...).
const char* KindName(const msgpack::object& value);

bool IsValidUtf8(const char* text, std::size_t size);

}  // namespace detail
}  // namespace talkbridge
