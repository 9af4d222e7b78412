#include "FieldReader.h"

#include <cmath>
#include <cstdio>
#include <limits>

namespace talkbridge {
namespace detail {

namespace {

std::string AsString(const msgpack::object& value) {
    return std::string(value.via.str.ptr, value.via.str.size);
}

std::string FormatNumber(double value) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%g", value);
    return buffer;
}

std::string Shown(const std::string& text) {
    return text.size() <= 40 ? "'" + text + "'" : "'" + text.substr(0, 37) + "...'";
}

}  // namespace

const msgpack::object* FieldReader::Find(const char* name) const {
    const auto it = map_.fields.find(name);
    if (it == map_.fields.end() || it->second->type == msgpack::type::NIL) return nullptr;
    return it->second;
}

const msgpack::object& FieldReader::Require(const char* name) const {
    if (const msgpack::object* value = Find(name)) return *value;
    const bool present = map_.fields.count(name) != 0;
    Fail(ErrorCode::InvalidField,
         std::string(type_) + "." + name + (present ? " must not be nil" : " is required"), name);
}

void FieldReader::Reject(const char* name, const std::string& why) const {
    Fail(ErrorCode::InvalidField, std::string(type_) + "." + name + ": " + why, name);
}

void FieldReader::Expected(const char* name, const char* what, const msgpack::object& got) const {
    Reject(name, std::string("expected ") + what + ", got " + KindName(got));
}

std::string FieldReader::Str(const char* name) const {
    const msgpack::object& value = Require(name);
    if (value.type != msgpack::type::STR) Expected(name, "str", value);
    return AsString(value);
}

std::optional<std::string> FieldReader::OptStr(const char* name) const {
    if (!Find(name)) return std::nullopt;
    return Str(name);
}

bool FieldReader::Bool(const char* name) const {
    const msgpack::object& value = Require(name);
    if (value.type != msgpack::type::BOOLEAN) Expected(name, "bool", value);
    return value.via.boolean;
}

std::optional<bool> FieldReader::OptBool(const char* name) const {
    if (!Find(name)) return std::nullopt;
    return Bool(name);
}

std::int64_t FieldReader::Int(const char* name, std::int64_t lo, std::int64_t hi) const {
    const msgpack::object& value = Require(name);
    bool in_range = false;
    std::string shown;
    if (value.type == msgpack::type::POSITIVE_INTEGER) {
        in_range = value.via.u64 <= static_cast<std::uint64_t>(hi) &&
                   (lo <= 0 || value.via.u64 >= static_cast<std::uint64_t>(lo));
        shown = std::to_string(value.via.u64);
    } else if (value.type == msgpack::type::NEGATIVE_INTEGER) {
        in_range = value.via.i64 >= lo && value.via.i64 <= hi;
        shown = std::to_string(value.via.i64);
    } else {
        Expected(name, "int", value);
    }
    if (!in_range) {
        Reject(name, "must be " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " + shown);
    }
    return value.type == msgpack::type::POSITIVE_INTEGER ? static_cast<std::int64_t>(value.via.u64)
                                                         : value.via.i64;
}

double FieldReader::Number(const char* name, double lo) const {
    const msgpack::object& value = Require(name);
    double number = 0.0;
    switch (value.type) {
    case msgpack::type::POSITIVE_INTEGER: number = static_cast<double>(value.via.u64); break;
    case msgpack::type::NEGATIVE_INTEGER: number = static_cast<double>(value.via.i64); break;
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64: number = value.via.f64; break;
    default: Expected(name, "float", value);
    }
    if (!std::isfinite(number)) Reject(name, "must be finite, got " + FormatNumber(number));
    if (number < lo) Reject(name, "must be >= " + FormatNumber(lo) + ", got " + FormatNumber(number));
    return number;
}

double FieldReader::Number(const char* name, double lo, double hi) const {
    const double number = Number(name, lo);
    if (number > hi) {
        Reject(name, "must be " + FormatNumber(lo) + ".." + FormatNumber(hi) + ", got " + FormatNumber(number));
    }
    return number;
}

Bytes FieldReader::Bin(const char* name) const {
    const msgpack::object& value = Require(name);
    if (value.type != msgpack::type::BIN) Expected(name, "bin", value);
    const auto* begin = reinterpret_cast<const std::uint8_t*>(value.via.bin.ptr);
    return Bytes(begin, begin + value.via.bin.size);
}

std::vector<std::string> FieldReader::Names(const char* name) const {
    const msgpack::object& value = Require(name);
    if (value.type != msgpack::type::ARRAY) Expected(name, "array of str", value);
    if (value.via.array.size == 0) Reject(name, "must not be empty");
    std::vector<std::string> names;
    names.reserve(value.via.array.size);
    for (std::uint32_t i = 0; i < value.via.array.size; ++i) {
        const msgpack::object& item = value.via.array.ptr[i];
        if (item.type != msgpack::type::STR) {
            Reject(name, "entry " + std::to_string(i) + ": expected str, got " + KindName(item));
        }
        names.push_back(AsString(item));
    }
    return names;
}

int FieldReader::Enum(const char* name, const char* const* allowed) const {
    const std::string text = Str(name);
    std::string listed;
    for (int i = 0; allowed[i] != nullptr; ++i) {
        if (text == allowed[i]) return i;
        listed += (i ? ", " : "") + std::string(allowed[i]);
    }
    Reject(name, "must be one of " + listed + "; got " + Shown(text));
}

std::optional<int> FieldReader::OptEnum(const char* name, const char* const* allowed) const {
    if (!Find(name)) return std::nullopt;
    return Enum(name, allowed);
}

}  // namespace detail
}  // namespace talkbridge
