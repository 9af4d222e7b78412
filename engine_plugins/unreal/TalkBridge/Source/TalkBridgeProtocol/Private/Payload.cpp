#include "TalkBridgeProtocol/Payload.h"

#include <cmath>
#include <cstring>
#include <string>

namespace talkbridge {

float HalfToFloat(std::uint16_t bits) {
    const float sign = (bits & 0x8000u) ? -1.0f : 1.0f;
    const int exponent = (bits >> 10) & 0x1F;
    const int mantissa = bits & 0x3FF;
    if (exponent == 0) return sign * std::ldexp(static_cast<float>(mantissa), -24);
    if (exponent == 31) return mantissa ? std::nanf("") : sign * INFINITY;
    return sign * std::ldexp(static_cast<float>(mantissa | 0x400), exponent - 25);
}

namespace {

float ReadF16(const std::uint8_t* p) {
    return HalfToFloat(static_cast<std::uint16_t>(p[0] | (p[1] << 8)));
}

float ReadF32(const std::uint8_t* p) {
    const std::uint32_t bits = static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
                               (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
    float value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
}

ProtocolError Invalid(std::string message, const char* field) {
    return ProtocolError{ErrorCode::InvalidField, std::move(message), field};
}

}  // namespace

Result<CurveFrames> DecodeCurveData(const Curves& message, int channels, CurveEncoding encoding) {
    if (message.n < 0 || channels < 0) return Invalid("negative curve shape", "n");
    const std::size_t width = encoding == CurveEncoding::F16 ? 2 : 4;
    const std::uint64_t expected = static_cast<std::uint64_t>(message.n) * static_cast<std::uint64_t>(channels) * width;
    if (message.data.size() != expected) {
        return Invalid("curves.data has " + std::to_string(message.data.size()) + " bytes; " +
                       std::to_string(message.n) + " frames x " + std::to_string(channels) + " channels of " +
                       (width == 2 ? "f16" : "f32") + " take " + std::to_string(expected), "data");
    }
    CurveFrames frames;
    frames.n = message.n;
    frames.channels = channels;
    frames.values.resize(static_cast<std::size_t>(expected / width));
    const std::uint8_t* p = message.data.data();
    for (float& value : frames.values) {
        value = width == 2 ? ReadF16(p) : ReadF32(p);
        p += width;
    }
    return frames;
}

Result<std::vector<std::int16_t>> DecodePcm16(const Bytes& data) {
    if (data.size() % 2) {
        return Invalid("PCM16 data has an odd length (" + std::to_string(data.size()) + " bytes)", "data");
    }
    std::vector<std::int16_t> samples(data.size() / 2);
    for (std::size_t i = 0; i < samples.size(); ++i) {
        samples[i] = static_cast<std::int16_t>(static_cast<std::uint16_t>(data[2 * i] | (data[2 * i + 1] << 8)));
    }
    return samples;
}

Bytes EncodePcm16(const float* samples, std::size_t count) {
    Bytes out(count * 2);
    for (std::size_t i = 0; i < count; ++i) {
        float x = std::isnan(samples[i]) ? 0.0f : samples[i];
        x = x < -1.0f ? -1.0f : (x > 1.0f ? 1.0f : x);
        const auto value = static_cast<std::int16_t>(std::nearbyint(static_cast<double>(x) * 32767.0));
        out[2 * i] = static_cast<std::uint8_t>(value & 0xFF);
        out[2 * i + 1] = static_cast<std::uint8_t>((static_cast<std::uint16_t>(value) >> 8) & 0xFF);
    }
    return out;
}

}  // namespace talkbridge
