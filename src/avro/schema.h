// Avro schemas: the model, its JSON form (parse and render) and the writer-side validity rules.
//
// pg2iceberg writes Iceberg manifests and manifest lists, which are Avro object container files
// whose schemas carry Iceberg's extra attributes (`field-id` on record fields, `element-id`,
// `key-id`, `value-id` on arrays and maps, `logicalType` on types). This model therefore keeps
// every attribute it does not interpret, so a schema survives parse -> render unchanged in
// meaning (key order and whitespace may differ).
//
// A `Schema` is an immutable, cheap-to-copy handle to a node that may be shared by several
// parents (a schema is a DAG). Named types (record, enum, fixed) are rendered in full at their
// first occurrence and by name afterwards, which is how Avro references a type by name.
//
// Contract:
//   * Schema::Parse accepts what a reader needs: any schema Java Avro, fastavro or the Iceberg
//     libraries write. It returns InvalidArgument for malformed JSON or structure (unknown
//     type, missing `fields`, duplicate field, redefined name, nested union, ...) and
//     Unimplemented for recursive schemas (a named type used inside its own definition), which
//     Iceberg never writes. Name spelling and default values are not checked on parse. Keys
//     the model spends (type, name, namespace, doc, fields, symbols, size, items, values) are
//     not attributes: misplaced ones, such as "name" on an int, are dropped, as Java drops them.
//   * Schema::Validate applies what a writer must satisfy so that Java Avro accepts the file:
//     names match [A-Za-z_][A-Za-z0-9_]*, defaults match their types (a union's default matches
//     its first branch), each named type is defined once. The container writer calls it.
//   * Builders (Schema::Record, ...) never fail; Validate reports their mistakes.
//   * Nesting deeper than kMaxSchemaDepth (or JSON deeper than kMaxJsonDepth) is rejected by
//     Parse.
//
// Logical types are attributes only: a `date` is an int, a `decimal` a fixed or bytes.
// Thread safety: a Schema is immutable and may be shared across threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace pg2iceberg::avro {

enum class Type : uint8_t {
  kNull,
  kBoolean,
  kInt,
  kLong,
  kFloat,
  kDouble,
  kBytes,
  kString,
  kRecord,
  kEnum,
  kArray,
  kMap,
  kUnion,
  kFixed,
};

// The Avro spelling: "null", "boolean", ..., "fixed".
std::string_view TypeName(Type type);

// Nesting limit of schemas (and therefore of decoded values).
inline constexpr int kMaxSchemaDepth = 64;

// Nesting limit of any JSON the codec takes (schemas, defaults): JSON copies, comparisons
// and dumps recurse, so deeper documents are rejected up front.
inline constexpr int kMaxJsonDepth = 4 * kMaxSchemaDepth;

namespace internal {
struct SchemaNode;
// True when `json` nests deeper than `limit` levels. Iterative: safe on hostile input.
bool JsonNestsDeeperThan(const nlohmann::json& json, int limit);
}  // namespace internal

struct Field;

class Schema {
 public:
  // The null schema.
  Schema();

  static Schema Null();
  static Schema Boolean();
  static Schema Int();
  static Schema Long();
  static Schema Float();
  static Schema Double();
  static Schema Bytes();
  static Schema String();
  // `full_name` may be dotted ("ns.Name"): the part before the last dot is the namespace.
  static Schema Record(std::string full_name, std::vector<Field> fields, std::string doc = {});
  static Schema Enum(std::string full_name, std::vector<std::string> symbols,
                     std::string doc = {});
  static Schema Fixed(std::string full_name, int64_t size);
  static Schema Array(Schema items);
  static Schema Map(Schema values);
  static Schema Union(std::vector<Schema> branches);
  // ["null", value]: Iceberg's optional field.
  static Schema Optional(Schema value);

  // A copy carrying one more attribute (or a replaced one), e.g. ("logicalType", "map") or
  // ("element-id", 133). Validate rejects reserved keys ("type", "name", "fields", ...) and any
  // attribute on a union, which Avro JSON cannot express.
  Schema WithAttribute(std::string key, nlohmann::json value) const;

  // Parses Avro schema JSON text, or an already parsed JSON document.
  static Result<Schema> Parse(std::string_view json_text);
  static Result<Schema> FromJson(const nlohmann::json& json);

  // Compact JSON, keys in Java Avro's order, extra attributes after the standard keys.
  std::string ToString() const;

  // OK when a writer may use this schema; see the contract above. InvalidArgument otherwise.
  Status Validate() const;

  Type type() const;
  bool is_named() const;  // record, enum or fixed

  // Named types: the simple name, the namespace ("" for none), and "namespace.name".
  const std::string& name() const;
  const std::string& name_space() const;
  std::string full_name() const;
  // Record, enum and fixed documentation ("" when absent).
  const std::string& doc() const;

  const std::vector<Field>& fields() const;           // record; empty otherwise
  const Field* FindField(std::string_view name) const;  // record; nullptr if absent
  int FieldIndex(std::string_view name) const;          // record; -1 if absent
  const std::vector<std::string>& symbols() const;    // enum; empty otherwise
  int64_t fixed_size() const;                          // fixed; 0 otherwise
  // Array items, map values; the null schema for other types.
  const Schema& items() const;
  const Schema& values() const;
  const std::vector<Schema>& branches() const;  // union; empty otherwise

  // Attributes beyond the ones the model interprets: logicalType, field ids, aliases, ...
  // Always a JSON object (possibly empty).
  const nlohmann::json& attributes() const;
  // The attribute's value, or nullptr.
  const nlohmann::json* attribute(std::string_view key) const;

  // The fewest bytes one value of this schema takes in binary encoding (0 for null, an
  // empty record or fixed(0)). The decoder uses it to bound counts by the bytes left.
  int64_t min_encoded_size() const;

  // Structural equality: types, names, docs, attributes, fields, defaults.
  bool operator==(const Schema& other) const;

 private:
  explicit Schema(std::shared_ptr<const internal::SchemaNode> node);
  friend struct internal::SchemaNode;
  std::shared_ptr<const internal::SchemaNode> node_;
};

// A record field. Members are in Avro JSON order, for designated initializers:
//   Field{.name = "id", .type = Schema::Long(), .attributes = {{"field-id", 1}}}
struct Field {
  std::string name;
  Schema type;
  std::string doc;
  // The JSON `default`, used when a reader finds the field missing and by the encoder when a
  // record Datum omits the field. Absent when the field has no default.
  std::optional<nlohmann::json> default_value;
  // Extra attributes: `field-id`, `aliases`, `order`, ... Must be an object (or null = none).
  nlohmann::json attributes = nlohmann::json::object();

  bool operator==(const Field& other) const;
};

}  // namespace pg2iceberg::avro
