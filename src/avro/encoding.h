// Avro binary encoding (Avro 1.11 specification, "Binary Encoding") of Datums, plus the
// primitives the object container format is built from.
//
//   int, long     zig-zag, then little-endian base-128 varint (1..5 / 1..10 bytes)
//   float, double IEEE 754, little-endian, 4 / 8 bytes
//   boolean       one byte, 0 or 1
//   bytes, string long length, then the bytes (strings are UTF-8)
//   fixed         exactly `size` bytes;  enum: int index;  union: long branch index, value
//   record        the fields in schema order, nothing else
//   array, map    blocks: long count, items (map: string key, value); count 0 ends. A negative
//                 count -n is followed by the block's size in bytes, then n items.
//
// The encoder writes arrays and maps as one positive-count block plus the terminating 0, as
// Java Avro does, and validates Datums against the schema (see Encode).
//
// The decoder treats its input as hostile: every read is bounds-checked, declared counts and
// lengths are checked against the bytes left before anything is allocated, nesting is limited
// by the schema (itself limited to kMaxSchemaDepth), and values that take no bytes (null, empty
// records, fixed(0)) are capped by a budget. Malformed input yields DataLoss, never a crash;
// memory stays proportional to the input (each decoded value costs at least one input byte or
// one unit of the budget).
//
// Pure functions over memory; no I/O, no threads. BinaryReader is a cursor (not thread-safe).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "avro/datum.h"
#include "avro/schema.h"
#include "base/status.h"

namespace pg2iceberg::avro {

// Values that take zero bytes that one BinaryReader may produce (in arrays, maps or as the
// records of container blocks) before it fails with DataLoss.
inline constexpr int64_t kDefaultZeroSizeBudget = int64_t{1} << 20;

void AppendInt(int32_t value, std::string* out);
void AppendLong(int64_t value, std::string* out);
void AppendFloat(float value, std::string* out);
void AppendDouble(double value, std::string* out);
// Length (as a long) followed by the bytes.
void AppendBytes(std::string_view value, std::string* out);

// True when `s` is well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF).
bool IsValidUtf8(std::string_view s);

// A bounds-checked cursor over encoded bytes. Reads return DataLoss on truncated or malformed
// input and leave the position unspecified after an error.
class BinaryReader {
 public:
  explicit BinaryReader(std::string_view data,
                        int64_t zero_size_budget = kDefaultZeroSizeBudget)
      : data_(data), zero_size_budget_(zero_size_budget) {}

  Result<bool> ReadBoolean();
  Result<int32_t> ReadInt();
  Result<int64_t> ReadLong();
  Result<float> ReadFloat();
  Result<double> ReadDouble();
  // A length-prefixed byte string; the view points into the input.
  Result<std::string_view> ReadBytes();
  // Exactly `size` bytes.
  Result<std::string_view> ReadFixed(int64_t size);

  size_t position() const { return pos_; }
  size_t remaining() const { return data_.size() - pos_; }
  bool at_end() const { return pos_ == data_.size(); }

  // Takes `n` zero-size values from the budget; DataLoss when it runs out.
  Status ChargeZeroSize(int64_t n);
  int64_t zero_size_budget() const { return zero_size_budget_; }

 private:
  Status Truncated(std::string_view what, size_t need) const;

  std::string_view data_;
  size_t pos_ = 0;
  int64_t zero_size_budget_;
};

// Appends the encoding of `value` as `schema` to `*out`. On error `*out` is left as it was.
//
// The Datum must match the schema, with these conveniences:
//   * a long or double schema also takes an int or float Datum (widened);
//   * a union takes an explicit Datum::Union, or any other Datum, encoded as the first branch
//     of the same type (else the first branch that accepts it);
//   * a record Datum may list fields in any order (schema order is fastest) and may omit
//     fields that have a default; fields the schema lacks are an error;
//   * an enum Datum is matched by symbol.
// InvalidArgument names the path to the offending value, e.g. "data_file.partition.id_bucket:
// expected int, got string". Strings and map keys must be valid UTF-8.
Status Encode(const Schema& schema, const Datum& value, std::string* out);

// Decodes one value of `schema` at the reader's position and advances past it.
Result<Datum> Decode(const Schema& schema, BinaryReader* in);

// Decodes `bytes` as exactly one value of `schema`; trailing bytes are DataLoss.
Result<Datum> DecodeExactly(const Schema& schema, std::string_view bytes);

}  // namespace pg2iceberg::avro
