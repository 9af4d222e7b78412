// Bytes ⇄ messages for wire protocol v1: the one place server bytes become C++ values.
//
// DecodeServer is total: any input, random bytes included, yields a message or a typed
// ProtocolError, never an exception or a crash. It applies the rules of
// bridge/protocol/codec.py: nil counts as absent, unknown keys are ignored, ints are refused
// where floats are fine the other way round, every str must be valid UTF-8.
// Encode is deterministic and byte-identical to the Python codec: "type" first, then the
// fields in declaration order, absent optionals left off, floats always as float64.
#pragma once

#include <cstddef>
#include <cstdint>

#include "TalkBridgeProtocol/Api.h"
#include "TalkBridgeProtocol/Errors.h"
#include "TalkBridgeProtocol/Messages.h"

namespace talkbridge {

constexpr std::size_t kMaxMessageBytes = std::size_t{1} << 20;

TALKBRIDGEPROTOCOL_API Result<ServerMessage> DecodeServer(const std::uint8_t* data, std::size_t size);
inline Result<ServerMessage> DecodeServer(const Bytes& bytes) {
    return DecodeServer(bytes.data(), bytes.size());
}

TALKBRIDGEPROTOCOL_API Bytes Encode(const ClientMessage& message);

/// The "type" string of a message ("welcome", "curves", "hello", ...).
TALKBRIDGEPROTOCOL_API const char* TypeName(const ServerMessage& message);
TALKBRIDGEPROTOCOL_API const char* TypeName(const ClientMessage& message);

TALKBRIDGEPROTOCOL_API const char* ToWire(CurveEncoding value);
TALKBRIDGEPROTOCOL_API const char* ToWire(UtteranceState value);
TALKBRIDGEPROTOCOL_API const char* ToWire(UtteranceSource value);
TALKBRIDGEPROTOCOL_API const char* ToWire(EndReason value);
TALKBRIDGEPROTOCOL_API const char* ToWire(PlaybackState value);

}  // namespace talkbridge
