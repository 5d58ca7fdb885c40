// Iceberg schemas: fields with stable ids, nested types for tables written by other engines,
// and the identifier fields (our primary key). Pure values; copy freely.
//
// pg2iceberg writes only primitive columns (types/value.h), but it must read and rewrite
// metadata that others wrote: struct, list and map types are modelled, and any type this
// build does not know (v3 variant, geometry, timestamp_ns, fixed[L], …) is kept verbatim as
// kOpaque so a schema round-trips unchanged.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "types/value.h"

namespace pg2iceberg::iceberg {

struct Field;

struct DataType {
  enum class Kind { kPrimitive, kStruct, kList, kMap, kOpaque };
  Kind kind = Kind::kPrimitive;
  Type primitive;             // kPrimitive
  std::vector<Field> fields;  // kStruct: the fields; kList: [element]; kMap: [key, value]
  std::string opaque;         // kOpaque: the type as written in JSON, e.g. "fixed[16]"

  // Defined below Field: building a DataType needs Field complete (clang with libstdc++).
  static DataType Primitive(Type t);
  static DataType Opaque(std::string text);
  bool is_primitive() const { return kind == Kind::kPrimitive; }
  bool operator==(const DataType&) const;
};

struct Field {
  int32_t id = 0;
  std::string name;
  bool required = false;
  DataType type;
  std::string doc;
  // v3 defaults, kept as JSON text when present (round-tripped, not interpreted).
  std::optional<std::string> initial_default_json;
  std::optional<std::string> write_default_json;
  bool operator==(const Field&) const = default;
};

inline DataType DataType::Primitive(Type t) { return DataType{Kind::kPrimitive, t, {}, {}}; }
inline DataType DataType::Opaque(std::string text) {
  return DataType{Kind::kOpaque, {}, {}, std::move(text)};
}

class Schema {
 public:
  Schema() = default;
  Schema(int32_t schema_id, std::vector<Field> fields, std::vector<int32_t> identifier_ids = {})
      : schema_id_(schema_id), fields_(std::move(fields)), identifier_ids_(std::move(identifier_ids)) {}

  int32_t schema_id() const { return schema_id_; }
  const std::vector<Field>& fields() const { return fields_; }
  const std::vector<int32_t>& identifier_field_ids() const { return identifier_ids_; }

  // Top-level or nested field by id; nullptr when absent.
  const Field* FindById(int32_t id) const;
  // Top-level field by exact name; nullptr when absent.
  const Field* FindByName(const std::string& name) const;
  // The highest id used anywhere in the schema (for assigning new ids).
  int32_t HighestFieldId() const;

  bool operator==(const Schema&) const = default;

 private:
  int32_t schema_id_ = 0;
  std::vector<Field> fields_;
  std::vector<int32_t> identifier_ids_;
};

}  // namespace pg2iceberg::iceberg
