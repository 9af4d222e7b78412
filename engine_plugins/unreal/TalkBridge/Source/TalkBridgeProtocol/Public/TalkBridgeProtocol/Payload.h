// The binary payloads inside messages: curve frames (f16/f32 LE) and PCM16 LE mono.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "TalkBridgeProtocol/Api.h"
#include "TalkBridgeProtocol/Errors.h"
#include "TalkBridgeProtocol/Messages.h"

namespace talkbridge {

/// n frames × channels weights, row-major, as float.
struct CurveFrames {
    int n = 0;
    int channels = 0;
    std::vector<float> values;
    const float* Row(int frame) const { return values.data() + static_cast<std::size_t>(frame) * channels; }
};

/// IEEE 754 binary16 → float, subnormals, infinities and NaN included.
TALKBRIDGEPROTOCOL_API float HalfToFloat(std::uint16_t bits);

/// `curves.data` → frames; a size that doesn't match n × channels is an InvalidField.
TALKBRIDGEPROTOCOL_API Result<CurveFrames> DecodeCurveData(const Curves& message, int channels,
                                                           CurveEncoding encoding);

/// PCM16 LE bytes → samples; an odd length can't be PCM16.
TALKBRIDGEPROTOCOL_API Result<std::vector<std::int16_t>> DecodePcm16(const Bytes& data);

/// Float samples in [-1, 1] → PCM16 LE (clipped, NaN as 0, rounded like the server's codec).
TALKBRIDGEPROTOCOL_API Bytes EncodePcm16(const float* samples, std::size_t count);

}  // namespace talkbridge
