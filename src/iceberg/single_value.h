// Iceberg's binary single-value serialization (spec Appendix D), used for the lower and
// upper bounds of data files in manifests and wherever a single typed value travels as bytes,
// plus the bound truncation Iceberg Java applies to string and binary metrics.
//
// Encodings (integers little-endian unless noted):
//   boolean       1 byte: 0x00 false, 0x01 true (any non-zero byte decodes as true)
//   int, date     4 bytes (date: days from 1970-01-01)
//   long          8 bytes
//   float         4 bytes IEEE 754 (bit pattern kept, -0.0 and NaN too)
//   double        8 bytes IEEE 754 (likewise)
//   time, timestamp, timestamptz
//                 8 bytes of microseconds
//   string        the UTF-8 bytes, no length
//   binary        the bytes as they are
//   uuid          16 bytes big-endian
//   decimal       the unscaled value as big-endian two's complement in the fewest bytes
//                 that hold it (Java's BigInteger.toByteArray(): 0 -> 00, 127 -> 7F,
//                 128 -> 00 80, -1 -> FF, -129 -> FF 7F)
//
// Decoding accepts the narrower encodings the spec allows after type promotion: 4 bytes for
// a long (written as int), for a double (written as float) and for a timestamp (written as a
// date, read back as midnight UTC of that day).
//
// Pure functions; thread-safe. Errors: InvalidArgument for a value that does not fit its type
// (or null, which has no encoding), DataLoss for bytes that cannot be the encoding of a value
// of the type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "types/value.h"

namespace pg2iceberg::iceberg {

// Iceberg Java truncates string and binary column bounds to 16 characters/bytes by default
// (table property write.metadata.metrics.default = "truncate(16)").
inline constexpr int32_t kDefaultMetricsTruncateLength = 16;

// OK when `value` is non-null and holds the representation `type` uses (int32_t for int,
// Decimal128 with the type's scale for decimal, …); InvalidArgument otherwise.
Status CheckValueType(const Type& type, const Value& value);

// The minimal big-endian two's-complement bytes of a 128-bit integer (at least one byte).
std::string MinimalBigEndianBytes(__int128 value);

// The inverse: 1 to 16 big-endian two's-complement bytes, sign-extended. DataLoss otherwise.
Result<__int128> FromBigEndianBytes(std::string_view bytes);

// Appendix D bytes of a non-null value of `type`.
Result<std::string> SerializeSingleValue(const Type& type, const Value& value);

// The value of `type` that `bytes` encode (see the promotion rules above).
Result<Value> DeserializeSingleValue(const Type& type, std::string_view bytes);

// Metric bound truncation, as Iceberg Java's UnicodeUtil.truncateStringMin/Max and
// BinaryUtil.truncateBinaryMin/Max. `length` counts Unicode code points for strings and bytes
// for binary, and must be positive.
//
//   lower bound: the first `length` units (a prefix sorts before the value, so it is still a
//                lower bound). Values within the limit come back unchanged.
//   upper bound: values within the limit come back unchanged. Longer ones are cut to `length`
//                units and the last unit is incremented, carrying leftwards over units that
//                cannot be incremented (byte 0xFF; code point U+10FFFF) by dropping them. If no
//                unit can be incremented there is no upper bound: std::nullopt, and the caller
//                must omit the bound. A code point incremented into the surrogate range
//                (U+D800..U+DFFF, not encodable in UTF-8) becomes U+E000, the next scalar
//                value.
//
// Strings must be valid UTF-8 (InvalidArgument otherwise); comparison order is that of the
// UTF-8 bytes, which equals code point order.
Result<std::string> TruncateStringLowerBound(std::string_view utf8, int32_t length);
Result<std::optional<std::string>> TruncateStringUpperBound(std::string_view utf8,
                                                            int32_t length);
Result<std::string> TruncateBinaryLowerBound(std::string_view bytes, int32_t length);
Result<std::optional<std::string>> TruncateBinaryUpperBound(std::string_view bytes,
                                                            int32_t length);

// The same on Values: strings and Binary are truncated as above, every other value is returned
// unchanged (its bound needs no truncation). Null is InvalidArgument.
Result<Value> TruncateLowerBound(const Value& value, int32_t length);
Result<std::optional<Value>> TruncateUpperBound(const Value& value, int32_t length);

}  // namespace pg2iceberg::iceberg
