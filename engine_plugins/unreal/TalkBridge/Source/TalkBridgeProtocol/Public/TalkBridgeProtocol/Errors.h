// Typed faults of the protocol core, and the Result every decoding step returns.
//
// The codes are the wire codes of bridge/protocol/errors.py for the same faults, so a log line
// from the plugin and one from the server name a bad message the same way:
//
//   ProtocolError            code            what was wrong with bytes from the server
//   ├── TextFrame            text_frame      a text frame (protocol v1 is binary only)
//   ├── Malformed            malformed       not msgpack, not a map, trailing bytes, bad UTF-8,
//   │                                        repeated keys, extension types, nesting too deep
//   ├── MissingType          missing_type
//   ├── UnknownType          unknown_type    (also a client type sent by the server)
//   ├── InvalidField         invalid_field   .field names the key: missing, wrong type, range
//   └── MessageTooLarge      message_too_large
//
// Nothing in this module throws across its API: every entry point returns a Result.
#pragma once

#include <string>
#include <utility>
#include <variant>

#include "TalkBridgeProtocol/Api.h"

namespace talkbridge {

enum class ErrorCode { TextFrame, Malformed, MissingType, UnknownType, InvalidField, MessageTooLarge };

/// The stable wire code of an ErrorCode ("malformed", "invalid_field", ...).
TALKBRIDGEPROTOCOL_API const char* WireCode(ErrorCode code);

struct ProtocolError {
    ErrorCode code = ErrorCode::Malformed;
    std::string message;
    std::string field;  ///< the offending key, for InvalidField
};

/// A value or the ProtocolError that prevented it.
template <class T>
class Result {
public:
    Result(T value) : state_(std::move(value)) {}                  // NOLINT: implicit by design
    Result(ProtocolError error) : state_(std::move(error)) {}      // NOLINT
    bool Ok() const { return state_.index() == 0; }
    explicit operator bool() const { return Ok(); }
    const T& Value() const { return std::get<0>(state_); }
    T& Value() { return std::get<0>(state_); }
    const ProtocolError& Error() const { return std::get<1>(state_); }

private:
    std::variant<T, ProtocolError> state_;
};

}  // namespace talkbridge
