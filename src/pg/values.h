// PostgreSQL column types → Iceberg types, and PostgreSQL's text output → typed Values.
// Pure: no I/O. The policy for values Iceberg cannot hold is documented in docs/types.md and
// reported through ValueNote so callers can count and warn; nothing here ever fails on a value
// PostgreSQL can produce, and nothing crashes on one it cannot.
//
// The text forms assumed are those of a session with DateStyle=ISO, IntervalStyle=postgres,
// extra_float_digits=3 and bytea_output=hex (SessionOptions() sets them); the parsers also
// accept any TimeZone offset and bytea's escape format.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "types/value.h"

namespace pg2iceberg::pg {

namespace oid {
inline constexpr uint32_t kBool = 16, kBytea = 17, kChar = 18, kName = 19, kInt8 = 20,
                          kInt2 = 21, kInt4 = 23, kText = 25, kOid = 26, kJson = 114,
                          kXml = 142, kFloat4 = 700, kFloat8 = 701, kMoney = 790,
                          kBpchar = 1042, kVarchar = 1043, kDate = 1082, kTime = 1083,
                          kTimestamp = 1114, kTimestamptz = 1184, kInterval = 1186,
                          kTimetz = 1266, kNumeric = 1700, kUuid = 2950, kJsonb = 3802;
}  // namespace oid

// libpq `options` that make the server's text output what the parsers expect.
std::string SessionOptions();

struct TypeMapping {
  Type type;
  // Set when the mapping loses something the operator should know about (unconstrained
  // numeric → decimal(38,18), numeric wider than 38 digits → string).
  std::string warning;
};

// `base_oid`: the column's type with domains resolved to their base type.
TypeMapping MapType(uint32_t base_oid, int32_t typmod);

// What happened to a value that Iceberg could not hold as is.
enum class ValueNote {
  kNone,
  kNumericSpecialToNull,  // numeric NaN / Infinity / -Infinity in a decimal column → NULL
  kNumericRounded,        // more fractional digits than the scale: rounded half away from 0
  kNumericOverflowToNull, // more integer digits than precision − scale → NULL
  kInfinityClamped,       // date/timestamp ±infinity (or a timestamp past Iceberg's
                          // range) → the extreme representable value
  kTime2400Clamped,       // time 24:00:00 → 23:59:59.999999
};
std::string_view ValueNoteName(ValueNote n);

// Parses one non-NULL text value of a column whose Iceberg type is `type` and whose
// PostgreSQL base type is `base_oid`. InvalidArgument only for text PostgreSQL would never
// produce for that type (corrupt input).
Result<Value> ParseText(const Type& type, uint32_t base_oid, std::string_view text,
                        ValueNote* note = nullptr);

// Individual parsers, exposed for tests and the snapshot reader.
// nullopt: the value does not fit (note says kNumericOverflowToNull).
Result<std::optional<Decimal128>> ParseDecimal(std::string_view text, int32_t precision,
                                               int32_t scale, ValueNote* note);
Result<int32_t> ParseDate(std::string_view text, ValueNote* note);                // days
Result<int64_t> ParseTime(std::string_view text, ValueNote* note);                // micros
Result<int64_t> ParseTimetzAsUtc(std::string_view text);                          // micros
Result<int64_t> ParseTimestamp(std::string_view text, bool with_zone, ValueNote* note);
Result<std::string> ParseBytea(std::string_view text);
Result<Uuid> ParseUuid(std::string_view text);

// Days since 1970-01-01 for a proleptic Gregorian date (astronomical year: 1 BC = 0).
int64_t DaysFromCivil(int64_t year, unsigned month, unsigned day);

}  // namespace pg2iceberg::pg
