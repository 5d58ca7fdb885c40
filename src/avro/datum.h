// Datum: a generic Avro value, what the encoder takes and the decoder returns.
//
// A Datum is a plain value (copyable, movable, not thread-safe when shared mutably). Its type
// mirrors the Avro types; records and maps keep their entries in order:
//
//   Datum entry = Datum::Record({
//       {"status", Datum::Int(1)},
//       {"snapshot_id", Datum::Long(42)},     // schema ["null","long"]: branch picked by type
//       {"file_path", Datum::String("s3://b/t/data/0.parquet")},
//   });
//
// Accessors have a precondition on type(): `long_value()` on a string returns 0 (and asserts in
// debug builds). Reading code that meets values decoded from untrusted files checks type()
// first, or runs Resolve() against the schema it expects, after which the accessors are safe.
//
// Decoded values are exact: unions keep their branch index, enums their symbol and index,
// maps their order and any duplicate keys. Floats compare by bit pattern (NaN == NaN).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "avro/schema.h"
#include "base/status.h"

namespace pg2iceberg::avro {

class Datum {
 public:
  // A named value: a record field or a map entry.
  using Entry = std::pair<std::string, Datum>;

  Datum() = default;  // null

  static Datum Null() { return Datum(); }
  static Datum Boolean(bool value);
  static Datum Int(int32_t value);
  static Datum Long(int64_t value);
  static Datum Float(float value);
  static Datum Double(double value);
  static Datum Bytes(std::string value);
  static Datum String(std::string value);
  static Datum Fixed(std::string value);
  // By symbol; the encoder finds its index in the schema (and ignores `index`). Decoded enums
  // carry both.
  static Datum Enum(std::string symbol, int32_t index = -1);
  static Datum Record(std::vector<Entry> fields);
  static Datum Array(std::vector<Datum> items);
  static Datum Map(std::vector<Entry> entries);
  // An explicit union branch. The encoder also accepts a non-union Datum for a union schema
  // and picks the first branch of the same type (then the first that accepts it).
  static Datum Union(int32_t branch, Datum value);

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }

  bool bool_value() const;
  int32_t int_value() const;
  int64_t long_value() const;    // int or long
  float float_value() const;
  double double_value() const;   // float or double
  const std::string& bytes_value() const;   // bytes
  const std::string& string_value() const;  // string
  const std::string& fixed_value() const;   // fixed
  const std::string& enum_symbol() const;
  int32_t enum_index() const;  // -1 for an enum built by symbol

  const std::vector<Entry>& fields() const;       // record
  const Datum* FindField(std::string_view name) const;  // record; nullptr if absent
  const std::vector<Datum>& items() const;        // array
  const std::vector<Entry>& map_entries() const;  // map
  int32_t union_branch() const;
  const Datum& union_value() const;
  // The branch value of a union, or this Datum itself.
  const Datum& Unwrapped() const;

  // For building in place; the precondition on type() applies.
  std::vector<Entry>* mutable_fields();
  std::vector<Datum>* mutable_items();
  std::vector<Entry>* mutable_map_entries();

  bool operator==(const Datum& other) const;

  // JSON-like rendering for logs and test failures; bytes are hex-escaped.
  std::string DebugString() const;

 private:
  Type type_ = Type::kNull;
  int64_t long_ = 0;    // boolean, int, long, enum index, union branch
  double double_ = 0;   // float, double
  std::string bytes_;   // bytes, string, fixed, enum symbol
  std::vector<Datum> items_;    // array items; a union's single value
  std::vector<Entry> entries_;  // record fields, map entries
};

// Writes DebugString() (so test frameworks print Datums readably).
std::ostream& operator<<(std::ostream& os, const Datum& datum);

// Converts a JSON value in Avro's JSON encoding for defaults (spec "Complex Types: Records"):
// bytes and fixed are strings of code points 0-255, a union takes its first branch, a record
// falls back to its fields' defaults. InvalidArgument when `json` does not fit `schema`.
Result<Datum> DatumFromJson(const Schema& schema, const nlohmann::json& json);

// Schema resolution on values: returns `value` (as decoded with some writer schema) shaped as
// `reader_schema` expects. Records are matched by field name (extra fields dropped, missing
// ones filled from the reader's defaults), enums by symbol, unions by the first reader branch
// the value resolves to; int promotes to long/float/double, long to float/double, float to
// double, string and bytes to each other. Named-type names and aliases are not compared.
// InvalidArgument when the value cannot be read as `reader_schema`.
// After OK, the result conforms exactly to `reader_schema` and its accessors are safe.
Result<Datum> Resolve(const Schema& reader_schema, const Datum& value);

}  // namespace pg2iceberg::avro
