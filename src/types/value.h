// The neutral data model shared by the source and the sink: Iceberg's primitive types and a
// value of one of them. The PostgreSQL side produces Values (pg/values.h maps each column type
// to a Type and parses text output into a Value), staging and Iceberg consume them. Pure.
//
// Representations follow the Iceberg spec:
//   date          days since 1970-01-01
//   time          microseconds since midnight (timetz is normalised to UTC)
//   timestamp     microseconds since 1970-01-01T00:00:00 (no zone)
//   timestamptz   microseconds since 1970-01-01T00:00:00Z
//   decimal(p,s)  unscaled 128-bit integer with the type's scale, |unscaled| < 10^p, p ≤ 38
//   uuid          16 bytes, big-endian as written in text
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <variant>

#include "base/status.h"

namespace pg2iceberg {

enum class TypeId {
  kBoolean,
  kInt,
  kLong,
  kFloat,
  kDouble,
  kDecimal,
  kDate,
  kTime,
  kTimestamp,
  kTimestampTz,
  kString,
  kUuid,
  kBinary,
};

struct Type {
  TypeId id = TypeId::kString;
  int32_t precision = 0;  // decimal only
  int32_t scale = 0;      // decimal only

  static Type Decimal(int32_t p, int32_t s) { return Type{TypeId::kDecimal, p, s}; }
  // Iceberg's JSON name: "int", "decimal(10,2)", "timestamptz", …
  std::string ToString() const;
  static Result<Type> Parse(std::string_view iceberg_name);
  bool operator==(const Type&) const = default;
};

struct Decimal128 {
  __int128 unscaled = 0;
  int32_t scale = 0;
  auto operator<=>(const Decimal128&) const = default;
  std::string ToString() const;  // "-12.30" for unscaled -1230, scale 2
};

struct Date { int32_t days = 0; auto operator<=>(const Date&) const = default; };
struct Time { int64_t micros = 0; auto operator<=>(const Time&) const = default; };
struct Timestamp { int64_t micros = 0; auto operator<=>(const Timestamp&) const = default; };
struct TimestampTz { int64_t micros = 0; auto operator<=>(const TimestampTz&) const = default; };
struct Uuid { std::array<uint8_t, 16> bytes{}; auto operator<=>(const Uuid&) const = default; };
struct Binary { std::string bytes; auto operator<=>(const Binary&) const = default; };

// std::monostate is NULL.
using Value = std::variant<std::monostate, bool, int32_t, int64_t, float, double, Decimal128,
                           Date, Time, Timestamp, TimestampTz, std::string, Uuid, Binary>;

inline bool IsNull(const Value& v) { return std::holds_alternative<std::monostate>(v); }

// `v` converted to the wider column type `to` after an allowed type promotion (int → long,
// float → double, decimal to a larger scale); any other value is returned unchanged.
Value WidenValue(const Value& v, const Type& to);
// The same, moving `v` (a string or binary value is not copied).
Value WidenValue(Value&& v, const Type& to);

// A readable rendering for tests and messages (not a wire format).
std::string DebugString(const Value& v);

}  // namespace pg2iceberg
