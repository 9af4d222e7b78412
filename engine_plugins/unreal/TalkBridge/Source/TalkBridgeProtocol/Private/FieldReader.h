// Typed, range-checked access to the fields of one decoded message (private to the module).
//
// The checks mirror the _SCHEMAS table of bridge/protocol/codec.py: a nil value counts as
// absent, a required field that is absent or nil is an InvalidField, ints never stand in for
// bools, floats accept ints ("many encoders write 1.0 as the int 1") but ints refuse floats.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "MsgpackTree.h"
#include "TalkBridgeProtocol/Messages.h"

namespace talkbridge {
namespace detail {

class FieldReader {
public:
    FieldReader(const char* type, const MessageMap& map) : type_(type), map_(map) {}

    std::string Str(const char* name) const;
    std::optional<std::string> OptStr(const char* name) const;
    bool Bool(const char* name) const;
    std::optional<bool> OptBool(const char* name) const;
    std::int64_t Int(const char* name, std::int64_t lo, std::int64_t hi) const;
    /// Any finite number not below lo (pass -inf for "any").
    double Number(const char* name, double lo) const;
    /// Any finite number in lo..hi.
    double Number(const char* name, double lo, double hi) const;
    Bytes Bin(const char* name) const;
    std::vector<std::string> Names(const char* name) const;
    /// The index of the field's value in `allowed` (a null-terminated list of strings).
    int Enum(const char* name, const char* const* allowed) const;
    std::optional<int> OptEnum(const char* name, const char* const* allowed) const;

private:
    const msgpack::object* Find(const char* name) const;
    const msgpack::object& Require(const char* name) const;
    [[noreturn]] void Reject(const char* name, const std::string& why) const;
    [[noreturn]] void Expected(const char* name, const char* what, const msgpack::object& got) const;

    const char* type_;
    const MessageMap& map_;
};

}  // namespace detail
}  // namespace talkbridge
