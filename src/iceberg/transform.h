// Iceberg partition transforms (spec "Partition Transforms", Appendix B for the bucket hash),
// applied to the shared pg2iceberg::Value model, and the human-readable partition values that
// Iceberg Java writes into data file paths. See docs/transforms.md.
//
//   transform    source types                                  result type
//   identity     any                                           source type
//   bucket[N]    int long decimal date time timestamp          int
//                timestamptz string uuid binary
//   truncate[W]  int long decimal string binary                source type
//   year         date timestamp timestamptz                    int, years from 1970
//   month        date timestamp timestamptz                    int, months from 1970-01
//   day          date timestamp timestamptz                    int, days from 1970-01-01
//   hour         timestamp timestamptz                         int, hours from 1970-01-01T00
//   void         any                                           source type, always null
//
// `day` follows the spec text, whose result type is `int`; Iceberg Java reports `date` for the
// same transform. Both are the same 4-byte day count in manifests and single-value bytes, and
// the human string is the same "2025-01-15" either way.
//
// Time transforms floor towards negative infinity, so 1969-12-31T23:59:59.999999 is day -1,
// hour -1, month -1 and year -1. Null in gives null out for every transform.
//
// Transform is a small value type: copyable, comparable, immutable, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "types/value.h"

namespace pg2iceberg::iceberg {

enum class TransformKind { kIdentity, kBucket, kTruncate, kYear, kMonth, kDay, kHour, kVoid };

class Transform {
 public:
  // Identity.
  Transform() = default;

  static Transform Identity() { return Transform(TransformKind::kIdentity, 0); }
  static Transform Year() { return Transform(TransformKind::kYear, 0); }
  static Transform Month() { return Transform(TransformKind::kMonth, 0); }
  static Transform Day() { return Transform(TransformKind::kDay, 0); }
  static Transform Hour() { return Transform(TransformKind::kHour, 0); }
  static Transform Void() { return Transform(TransformKind::kVoid, 0); }
  // InvalidArgument unless num_buckets > 0.
  static Result<Transform> Bucket(int32_t num_buckets);
  // InvalidArgument unless width > 0.
  static Result<Transform> Truncate(int32_t width);

  // The spec's JSON form: "identity", "year", "month", "day", "hour", "void", "bucket[16]",
  // "truncate[4]" (names case-insensitive). InvalidArgument for anything else.
  static Result<Transform> Parse(std::string_view text);
  // The spec's JSON form, as Parse accepts it.
  std::string ToString() const;

  TransformKind kind() const { return kind_; }
  // N of bucket[N], W of truncate[W]; 0 for the others.
  int32_t param() const { return param_; }

  // OK when this transform accepts a source column of `source` type; otherwise
  // InvalidArgument naming the transform, the type and the types it does accept, e.g.
  // "bucket[16] cannot be applied to boolean; bucket accepts int, long, …".
  Status CanApply(const Type& source) const;

  // The partition field type this transform produces from `source` (CanApply's errors).
  Result<Type> ResultType(const Type& source) const;

  // The partition value of `value`, a value of type `source`. InvalidArgument when the
  // transform cannot apply to the type, when the value does not hold the type's
  // representation, when a string is not valid UTF-8 (truncate), or when a time transform's
  // result does not fit an int (timestamps more than ~245,000 years from 1970 for hour).
  Result<Value> Apply(const Type& source, const Value& value) const;
  // The same with the source type taken from the value's representation (a Decimal128 is a
  // decimal(38, its scale)). Null gives null.
  Result<Value> Apply(const Value& value) const;

  // The human-readable partition value of `transformed` (a result of Apply on a `source`
  // column), as Iceberg Java's Transform.toHumanString writes it into partition paths:
  //   year "2025", month "2025-01", day "2025-01-15", hour "2025-01-15-10", bucket "7",
  //   null and void "null"; identity and truncate by source type: date "2025-01-15",
  //   time "10:15:30.5" (LocalTime.toString), timestamp "2025-01-15T10:15:30.123456",
  //   timestamptz "2025-01-15T10:15:30+00:00", decimal as BigDecimal.toString, float and
  //   double as Java's Float/Double.toString ("1.0", "1.0E10"), uuid lowercase, binary base64,
  //   string as is. Not yet URL-escaped: see EscapePartitionPathComponent.
  Result<std::string> ToHumanString(const Type& source, const Value& transformed) const;

  // Whether a < b implies apply(a) <= apply(b) (identity, truncate and the time transforms).
  bool PreservesOrder() const;

  bool operator==(const Transform&) const = default;

 private:
  Transform(TransformKind kind, int32_t param) : kind_(kind), param_(param) {}

  TransformKind kind_ = TransformKind::kIdentity;
  int32_t param_ = 0;
};

// Iceberg's 32-bit hash of a value (spec Appendix B), the input of bucket[N]. Defined for
// every type, including the ones bucket does not accept (boolean, float, double), whose
// hashes the spec also fixes. InvalidArgument for null.
Result<int32_t> IcebergHash(const Value& value);

// Escapes one component of a partition path as Iceberg Java does (java.net.URLEncoder with
// UTF-8): ASCII letters, digits and ".-*_" stay, space becomes "+", every other byte is %XX
// with upper-case hex.
std::string EscapePartitionPathComponent(std::string_view text);

// "name=value" for a data file path, both parts escaped; join several with "/".
std::string PartitionPathSegment(std::string_view field_name, std::string_view human_value);

}  // namespace pg2iceberg::iceberg
