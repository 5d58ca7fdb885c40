#include "iceberg/metadata.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "iceberg/metadata_json.h"

namespace pg2iceberg::iceberg {

using Json = nlohmann::ordered_json;

// ---------------------------------------------------------------------------------------------
// Reading helpers. Every accessor takes the JSON path of the object it reads from, so errors
// name the exact key ("snapshots[2].summary.operation").
namespace json_internal {

std::string JoinPath(std::string_view path, std::string_view key) {
  if (path.empty()) return std::string(key);
  return std::string(path) + "." + std::string(key);
}

std::string IndexPath(std::string_view path, size_t i) {
  return std::string(path) + "[" + std::to_string(i) + "]";
}

std::string Describe(const Json& j) {
  std::string kind = j.type_name();
  std::string text = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  if (j.is_object() || j.is_array()) return kind;
  return kind + " " + text;
}

Status Malformed(std::string_view what, std::string_view path, std::string_view expected,
                 const Json& found) {
  return InvalidArgument(std::string(what) + ": \"" + std::string(path) + "\" must be " +
                         std::string(expected) + ", found " + Describe(found));
}

Status Missing(std::string_view what, std::string_view path) {
  return InvalidArgument(std::string(what) + ": required key \"" + std::string(path) +
                         "\" is missing");
}

Result<Json> ParseText(std::string_view text, std::string_view what) {
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {
    return InvalidArgument(std::string(what) + " is not valid JSON: " + e.what());
  }
}

Status ExpectObject(const Ctx& c, const Json& j, std::string_view path) {
  if (!j.is_object()) return Malformed(c.what, path, "an object", j);
  return Status::Ok();
}

const Json* Find(const Json& obj, std::string_view key) {
  auto it = obj.find(std::string(key));
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

Result<const Json*> Require(const Ctx& c, const Json& obj, std::string_view key,
                            std::string_view path) {
  const Json* j = Find(obj, key);
  if (j == nullptr) return Missing(c.what, JoinPath(path, key));
  return j;
}

Result<int64_t> AsLong(const Ctx& c, const Json& j, std::string_view path) {
  if (j.is_number_unsigned()) {
    uint64_t u = j.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Malformed(c.what, path, "a 64-bit integer", j);
    }
    return static_cast<int64_t>(u);
  }
  if (j.is_number_integer()) return j.get<int64_t>();
  return Malformed(c.what, path, "an integer", j);
}

Result<int32_t> AsInt(const Ctx& c, const Json& j, std::string_view path) {
  PG2I_ASSIGN_OR_RETURN(int64_t v, AsLong(c, j, path));
  if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
    return Malformed(c.what, path, "a 32-bit integer", j);
  }
  return static_cast<int32_t>(v);
}

Result<std::string> AsString(const Ctx& c, const Json& j, std::string_view path) {
  if (!j.is_string()) return Malformed(c.what, path, "a string", j);
  return j.get<std::string>();
}

Result<bool> AsBool(const Ctx& c, const Json& j, std::string_view path) {
  if (!j.is_boolean()) return Malformed(c.what, path, "a boolean", j);
  return j.get<bool>();
}

Result<int64_t> GetLong(const Ctx& c, const Json& obj, std::string_view key,
                        std::string_view path) {
  PG2I_ASSIGN_OR_RETURN(const Json* j, Require(c, obj, key, path));
  return AsLong(c, *j, JoinPath(path, key));
}

Result<int32_t> GetInt(const Ctx& c, const Json& obj, std::string_view key,
                       std::string_view path) {
  PG2I_ASSIGN_OR_RETURN(const Json* j, Require(c, obj, key, path));
  return AsInt(c, *j, JoinPath(path, key));
}

Result<std::string> GetString(const Ctx& c, const Json& obj, std::string_view key,
                              std::string_view path) {
  PG2I_ASSIGN_OR_RETURN(const Json* j, Require(c, obj, key, path));
  return AsString(c, *j, JoinPath(path, key));
}

Result<bool> GetBool(const Ctx& c, const Json& obj, std::string_view key,
                     std::string_view path) {
  PG2I_ASSIGN_OR_RETURN(const Json* j, Require(c, obj, key, path));
  return AsBool(c, *j, JoinPath(path, key));
}

Result<std::optional<int64_t>> OptLong(const Ctx& c, const Json& obj, std::string_view key,
                                       std::string_view path) {
  const Json* j = Find(obj, key);
  if (j == nullptr) return std::optional<int64_t>();
  PG2I_ASSIGN_OR_RETURN(int64_t v, AsLong(c, *j, JoinPath(path, key)));
  return std::optional<int64_t>(v);
}

Result<std::optional<int32_t>> OptInt(const Ctx& c, const Json& obj, std::string_view key,
                                      std::string_view path) {
  const Json* j = Find(obj, key);
  if (j == nullptr) return std::optional<int32_t>();
  PG2I_ASSIGN_OR_RETURN(int32_t v, AsInt(c, *j, JoinPath(path, key)));
  return std::optional<int32_t>(v);
}

Result<std::optional<std::string>> OptString(const Ctx& c, const Json& obj,
                                             std::string_view key, std::string_view path) {
  const Json* j = Find(obj, key);
  if (j == nullptr) return std::optional<std::string>();
  PG2I_ASSIGN_OR_RETURN(std::string v, AsString(c, *j, JoinPath(path, key)));
  return std::optional<std::string>(std::move(v));
}

Result<const Json*> GetArray(const Ctx& c, const Json& obj, std::string_view key,
                             std::string_view path) {
  PG2I_ASSIGN_OR_RETURN(const Json* j, Require(c, obj, key, path));
  if (!j->is_array()) return Malformed(c.what, JoinPath(path, key), "an array", *j);
  return j;
}

Result<const Json*> OptArray(const Ctx& c, const Json& obj, std::string_view key,
                             std::string_view path) {
  const Json* j = Find(obj, key);
  if (j != nullptr && !j->is_array()) {
    return Malformed(c.what, JoinPath(path, key), "an array", *j);
  }
  return j;
}

Result<std::map<std::string, std::string>> AsStringMap(const Ctx& c, const Json& j,
                                                       std::string_view path) {
  if (!j.is_object()) return Malformed(c.what, path, "an object of strings", j);
  std::map<std::string, std::string> out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_string()) {
      return Malformed(c.what, JoinPath(path, it.key()), "a string", it.value());
    }
    out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

std::string Compact(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Json RawToJson(const std::string& text) {
  try {
    return Json::parse(text);
  } catch (const Json::exception&) {
    return Json();  // documented: text that is not JSON is written as null
  }
}

// ---------------------------------------------------------------------------------------------
// Types, fields, schemas.

std::string PrimitiveName(const Type& t) {
  // Iceberg Java writes "decimal(P, S)"; every reader accepts it.
  if (t.id == TypeId::kDecimal) {
    return "decimal(" + std::to_string(t.precision) + ", " + std::to_string(t.scale) + ")";
  }
  return t.ToString();
}

Result<DataType> ParseType(const Ctx& c, const Json& j, std::string_view path);

Result<Field> ParseField(const Ctx& c, const Json& j, std::string_view path) {
  PG2I_RETURN_IF_ERROR(ExpectObject(c, j, path));
  Field f;
  PG2I_ASSIGN_OR_RETURN(f.id, GetInt(c, j, "id", path));
  PG2I_ASSIGN_OR_RETURN(f.name, GetString(c, j, "name", path));
  PG2I_ASSIGN_OR_RETURN(f.required, GetBool(c, j, "required", path));
  PG2I_ASSIGN_OR_RETURN(const Json* type, Require(c, j, "type", path));
  PG2I_ASSIGN_OR_RETURN(f.type, ParseType(c, *type, JoinPath(path, "type")));
  PG2I_ASSIGN_OR_RETURN(std::optional<std::string> doc, OptString(c, j, "doc", path));
  f.doc = doc.value_or("");
  if (const Json* d = Find(j, "initial-default")) f.initial_default_json = Compact(*d);
  if (const Json* d = Find(j, "write-default")) f.write_default_json = Compact(*d);
  return f;
}

Result<std::vector<Field>> ParseFields(const Ctx& c, const Json& obj, std::string_view path) {
  PG2I_ASSIGN_OR_RETURN(const Json* arr, GetArray(c, obj, "fields", path));
  std::vector<Field> fields;
  fields.reserve(arr->size());
  std::string fields_path = JoinPath(path, "fields");
  for (size_t i = 0; i < arr->size(); ++i) {
    PG2I_ASSIGN_OR_RETURN(Field f, ParseField(c, (*arr)[i], IndexPath(fields_path, i)));
    fields.push_back(std::move(f));
  }
  return fields;
}

Result<DataType> ParseType(const Ctx& c, const Json& j, std::string_view path) {
  if (j.is_string()) {
    std::string text = j.get<std::string>();
    Result<Type> t = Type::Parse(text);
    if (t.ok()) return DataType::Primitive(*t);
    // fixed[L], timestamp_ns, variant, unknown, geometry(…): kept verbatim.
    return DataType::Opaque(std::move(text));
  }
  if (!j.is_object()) return Malformed(c.what, path, "a type name or a type object", j);
  PG2I_ASSIGN_OR_RETURN(std::string kind, GetString(c, j, "type", path));
  DataType t;
  if (kind == "struct") {
    t.kind = DataType::Kind::kStruct;
    PG2I_ASSIGN_OR_RETURN(t.fields, ParseFields(c, j, path));
    return t;
  }
  if (kind == "list") {
    t.kind = DataType::Kind::kList;
    Field element;
    element.name = "element";
    PG2I_ASSIGN_OR_RETURN(element.id, GetInt(c, j, "element-id", path));
    PG2I_ASSIGN_OR_RETURN(element.required, GetBool(c, j, "element-required", path));
    PG2I_ASSIGN_OR_RETURN(const Json* et, Require(c, j, "element", path));
    PG2I_ASSIGN_OR_RETURN(element.type, ParseType(c, *et, JoinPath(path, "element")));
    t.fields.push_back(std::move(element));
    return t;
  }
  if (kind == "map") {
    t.kind = DataType::Kind::kMap;
    Field key;
    key.name = "key";
    key.required = true;
    PG2I_ASSIGN_OR_RETURN(key.id, GetInt(c, j, "key-id", path));
    PG2I_ASSIGN_OR_RETURN(const Json* kt, Require(c, j, "key", path));
    PG2I_ASSIGN_OR_RETURN(key.type, ParseType(c, *kt, JoinPath(path, "key")));
    Field value;
    value.name = "value";
    PG2I_ASSIGN_OR_RETURN(value.id, GetInt(c, j, "value-id", path));
    PG2I_ASSIGN_OR_RETURN(value.required, GetBool(c, j, "value-required", path));
    PG2I_ASSIGN_OR_RETURN(const Json* vt, Require(c, j, "value", path));
    PG2I_ASSIGN_OR_RETURN(value.type, ParseType(c, *vt, JoinPath(path, "value")));
    t.fields.push_back(std::move(key));
    t.fields.push_back(std::move(value));
    return t;
  }
  return InvalidArgument(std::string(c.what) + ": \"" + JoinPath(path, "type") +
                         "\" must be struct, list or map, found \"" + kind + "\"");
}

Result<Schema> ParseSchemaJson(const Ctx& c, const Json& j, std::string_view path) {
  PG2I_RETURN_IF_ERROR(ExpectObject(c, j, path));
  if (const Json* type = Find(j, "type");
      type != nullptr && !(type->is_string() && type->get<std::string>() == "struct")) {
    return Malformed(c.what, JoinPath(path, "type"), "\"struct\"", *type);
  }
  PG2I_ASSIGN_OR_RETURN(std::optional<int32_t> id, OptInt(c, j, "schema-id", path));
  PG2I_ASSIGN_OR_RETURN(std::vector<Field> fields, ParseFields(c, j, path));
  std::vector<int32_t> identifiers;
  PG2I_ASSIGN_OR_RETURN(const Json* ids, OptArray(c, j, "identifier-field-ids", path));
  if (ids != nullptr) {
    std::string ids_path = JoinPath(path, "identifier-field-ids");
    for (size_t i = 0; i < ids->size(); ++i) {
      PG2I_ASSIGN_OR_RETURN(int32_t v, AsInt(c, (*ids)[i], IndexPath(ids_path, i)));
      identifiers.push_back(v);
    }
  }
  return Schema(id.value_or(0), std::move(fields), std::move(identifiers));
}

Json TypeToJson(const DataType& t);

Json FieldToJson(const Field& f) {
  Json j = Json::object();
  j["id"] = f.id;
  j["name"] = f.name;
  j["required"] = f.required;
  j["type"] = TypeToJson(f.type);
  if (!f.doc.empty()) j["doc"] = f.doc;
  if (f.initial_default_json) j["initial-default"] = RawToJson(*f.initial_default_json);
  if (f.write_default_json) j["write-default"] = RawToJson(*f.write_default_json);
  return j;
}

Json FieldsToJson(const std::vector<Field>& fields) {
  Json arr = Json::array();
  for (const Field& f : fields) arr.push_back(FieldToJson(f));
  return arr;
}

Json TypeToJson(const DataType& t) {
  static const Field kMissing{0, "", false, DataType::Opaque("unknown"), "", {}, {}};
  switch (t.kind) {
    case DataType::Kind::kPrimitive:
      return PrimitiveName(t.primitive);
    case DataType::Kind::kOpaque:
      return t.opaque;
    case DataType::Kind::kStruct: {
      Json j = Json::object();
      j["type"] = "struct";
      j["fields"] = FieldsToJson(t.fields);
      return j;
    }
    case DataType::Kind::kList: {
      const Field& e = t.fields.empty() ? kMissing : t.fields[0];
      Json j = Json::object();
      j["type"] = "list";
      j["element-id"] = e.id;
      j["element"] = TypeToJson(e.type);
      j["element-required"] = e.required;
      return j;
    }
    case DataType::Kind::kMap: {
      const Field& k = t.fields.size() > 0 ? t.fields[0] : kMissing;
      const Field& v = t.fields.size() > 1 ? t.fields[1] : kMissing;
      Json j = Json::object();
      j["type"] = "map";
      j["key-id"] = k.id;
      j["key"] = TypeToJson(k.type);
      j["value-id"] = v.id;
      j["value"] = TypeToJson(v.type);
      j["value-required"] = v.required;
      return j;
    }
  }
  return "unknown";
}

Json SchemaToJson(const Schema& s) {
  Json j = Json::object();
  j["type"] = "struct";
  j["schema-id"] = s.schema_id();
  if (!s.identifier_field_ids().empty()) j["identifier-field-ids"] = s.identifier_field_ids();
  j["fields"] = FieldsToJson(s.fields());
  return j;
}

// ---------------------------------------------------------------------------------------------
// Partition specs and sort orders.

Result<std::vector<PartitionField>> ParseSpecFields(const Ctx& c, const Json& arr,
                                                    std::string_view path,
                                                    MissingFieldId missing_id) {
  if (!arr.is_array()) return Malformed(c.what, path, "an array", arr);
  std::vector<PartitionField> fields;
  for (size_t i = 0; i < arr.size(); ++i) {
    const Json& fj = arr[i];
    std::string fp = IndexPath(path, i);
    PG2I_RETURN_IF_ERROR(ExpectObject(c, fj, fp));
    PartitionField f;
    PG2I_ASSIGN_OR_RETURN(f.name, GetString(c, fj, "name", fp));
    PG2I_ASSIGN_OR_RETURN(f.transform, GetString(c, fj, "transform", fp));
    if (Find(fj, "source-id") == nullptr && Find(fj, "source-ids") != nullptr) {
      // v3 multi-argument transforms: only the one-argument form is modelled.
      const Json& ids = fj["source-ids"];
      std::string ip = JoinPath(fp, "source-ids");
      if (!ids.is_array() || ids.size() != 1) {
        return Unimplemented(std::string(c.what) + ": \"" + ip +
                             "\" lists several source columns; multi-argument partition "
                             "transforms are not supported by this build");
      }
      PG2I_ASSIGN_OR_RETURN(f.source_id, AsInt(c, ids[0], IndexPath(ip, 0)));
    } else {
      PG2I_ASSIGN_OR_RETURN(f.source_id, GetInt(c, fj, "source-id", fp));
    }
    if (missing_id == MissingFieldId::kError) {
      PG2I_ASSIGN_OR_RETURN(f.field_id, GetInt(c, fj, "field-id", fp));
    } else {
      PG2I_ASSIGN_OR_RETURN(std::optional<int32_t> id, OptInt(c, fj, "field-id", fp));
      f.field_id = id.value_or(missing_id == MissingFieldId::kPositional
                                   ? 1000 + static_cast<int32_t>(i)
                                   : 0);
    }
    fields.push_back(std::move(f));
  }
  return fields;
}

Result<PartitionSpec> ParseSpecJson(const Ctx& c, const Json& j, std::string_view path,
                                    MissingFieldId missing_id) {
  PG2I_RETURN_IF_ERROR(ExpectObject(c, j, path));
  PartitionSpec spec;
  if (missing_id == MissingFieldId::kUnassigned) {
    PG2I_ASSIGN_OR_RETURN(std::optional<int32_t> id, OptInt(c, j, "spec-id", path));
    spec.spec_id = id.value_or(0);
  } else {
    PG2I_ASSIGN_OR_RETURN(spec.spec_id, GetInt(c, j, "spec-id", path));
  }
  PG2I_ASSIGN_OR_RETURN(const Json* arr, GetArray(c, j, "fields", path));
  PG2I_ASSIGN_OR_RETURN(spec.fields,
                        ParseSpecFields(c, *arr, JoinPath(path, "fields"), missing_id));
  return spec;
}

Json SpecFieldsToJson(const PartitionSpec& spec) {
  Json arr = Json::array();
  for (const PartitionField& f : spec.fields) {
    Json j = Json::object();
    j["name"] = f.name;
    j["transform"] = f.transform;
    j["source-id"] = f.source_id;
    if (f.field_id > 0) j["field-id"] = f.field_id;  // <= 0: unassigned (REST add-spec)
    arr.push_back(std::move(j));
  }
  return arr;
}

Json SpecToJson(const PartitionSpec& spec) {
  Json j = Json::object();
  j["spec-id"] = spec.spec_id;
  j["fields"] = SpecFieldsToJson(spec);
  return j;
}

Result<SortOrder> ParseSortOrderJson(const Ctx& c, const Json& j, std::string_view path) {
  PG2I_RETURN_IF_ERROR(ExpectObject(c, j, path));
  SortOrder order;
  PG2I_ASSIGN_OR_RETURN(order.order_id, GetInt(c, j, "order-id", path));
  PG2I_ASSIGN_OR_RETURN(const Json* arr, GetArray(c, j, "fields", path));
  std::string fields_path = JoinPath(path, "fields");
  for (size_t i = 0; i < arr->size(); ++i) {
    const Json& fj = (*arr)[i];
    std::string fp = IndexPath(fields_path, i);
    PG2I_RETURN_IF_ERROR(ExpectObject(c, fj, fp));
    SortField f;
    PG2I_ASSIGN_OR_RETURN(f.transform, GetString(c, fj, "transform", fp));
    PG2I_ASSIGN_OR_RETURN(f.source_id, GetInt(c, fj, "source-id", fp));
    PG2I_ASSIGN_OR_RETURN(f.direction, GetString(c, fj, "direction", fp));
    PG2I_ASSIGN_OR_RETURN(f.null_order, GetString(c, fj, "null-order", fp));
    std::transform(f.direction.begin(), f.direction.end(), f.direction.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    std::transform(f.null_order.begin(), f.null_order.end(), f.null_order.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    if (f.direction != "asc" && f.direction != "desc") {
      return Malformed(c.what, JoinPath(fp, "direction"), "\"asc\" or \"desc\"",
                       fj["direction"]);
    }
    if (f.null_order != "nulls-first" && f.null_order != "nulls-last") {
      return Malformed(c.what, JoinPath(fp, "null-order"), "\"nulls-first\" or \"nulls-last\"",
                       fj["null-order"]);
    }
    order.fields.push_back(std::move(f));
  }
  return order;
}

Json SortOrderToJson(const SortOrder& order) {
  Json j = Json::object();
  j["order-id"] = order.order_id;
  Json arr = Json::array();
  for (const SortField& f : order.fields) {
    Json fj = Json::object();
    fj["transform"] = f.transform;
    fj["source-id"] = f.source_id;
    fj["direction"] = f.direction;
    fj["null-order"] = f.null_order;
    arr.push_back(std::move(fj));
  }
  j["fields"] = std::move(arr);
  return j;
}

// ---------------------------------------------------------------------------------------------
// Snapshots and refs.

Result<Snapshot> ParseSnapshotJson(const Ctx& c, const Json& j, std::string_view path) {
  PG2I_RETURN_IF_ERROR(ExpectObject(c, j, path));
  static const std::set<std::string> kKnown = {
      "snapshot-id", "parent-snapshot-id", "sequence-number", "timestamp-ms", "manifest-list",
      "summary",     "schema-id",          "first-row-id",    "added-rows"};
  Snapshot s;
  PG2I_ASSIGN_OR_RETURN(s.snapshot_id, GetLong(c, j, "snapshot-id", path));
  PG2I_ASSIGN_OR_RETURN(s.parent_snapshot_id, OptLong(c, j, "parent-snapshot-id", path));
  PG2I_ASSIGN_OR_RETURN(std::optional<int64_t> seq, OptLong(c, j, "sequence-number", path));
  s.sequence_number = seq.value_or(0);
  PG2I_ASSIGN_OR_RETURN(s.timestamp_ms, GetLong(c, j, "timestamp-ms", path));
  PG2I_ASSIGN_OR_RETURN(std::optional<std::string> list,
                        OptString(c, j, "manifest-list", path));
  if (list) {
    s.manifest_list = std::move(*list);
  } else if (Find(j, "manifests") == nullptr) {
    // v1 may embed the manifest paths instead ("manifests", kept in extra).
    return Missing(c.what, JoinPath(path, "manifest-list"));
  }
  if (const Json* summary = Find(j, "summary")) {
    std::string sp = JoinPath(path, "summary");
    PG2I_ASSIGN_OR_RETURN(s.summary, AsStringMap(c, *summary, sp));
    // Iceberg Java 1.11 reads a summary without "operation" as an overwrite; so do we.
    if (s.summary.count("operation") == 0) s.summary["operation"] = "overwrite";
  }
  PG2I_ASSIGN_OR_RETURN(s.schema_id, OptInt(c, j, "schema-id", path));
  PG2I_ASSIGN_OR_RETURN(s.first_row_id, OptLong(c, j, "first-row-id", path));
  PG2I_ASSIGN_OR_RETURN(s.added_rows, OptLong(c, j, "added-rows", path));
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (kKnown.count(it.key()) == 0) s.extra[it.key()] = Compact(it.value());
  }
  return s;
}

Json SnapshotToJson(const Snapshot& s, int32_t format_version) {
  Json j = Json::object();
  if (format_version > 1 || s.sequence_number != 0) j["sequence-number"] = s.sequence_number;
  j["snapshot-id"] = s.snapshot_id;
  if (s.parent_snapshot_id) j["parent-snapshot-id"] = *s.parent_snapshot_id;
  j["timestamp-ms"] = s.timestamp_ms;
  if (!s.summary.empty()) {
    Json summary = Json::object();
    // "operation" first, as every writer puts it; then the rest in key order.
    if (auto it = s.summary.find("operation"); it != s.summary.end()) {
      summary["operation"] = it->second;
    }
    for (const auto& [k, v] : s.summary) {
      if (k != "operation") summary[k] = v;
    }
    j["summary"] = std::move(summary);
  }
  if (!s.manifest_list.empty() || s.extra.count("manifests") == 0) {
    j["manifest-list"] = s.manifest_list;
  }
  if (s.schema_id) j["schema-id"] = *s.schema_id;
  if (s.first_row_id) j["first-row-id"] = *s.first_row_id;
  if (s.added_rows) j["added-rows"] = *s.added_rows;
  for (const auto& [k, v] : s.extra) j[k] = RawToJson(v);
  return j;
}

Result<SnapshotRef> ParseRefJson(const Ctx& c, const Json& j, std::string_view path) {
  PG2I_RETURN_IF_ERROR(ExpectObject(c, j, path));
  SnapshotRef r;
  PG2I_ASSIGN_OR_RETURN(r.snapshot_id, GetLong(c, j, "snapshot-id", path));
  PG2I_ASSIGN_OR_RETURN(r.type, GetString(c, j, "type", path));
  std::transform(r.type.begin(), r.type.end(), r.type.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (r.type != "branch" && r.type != "tag") {
    return Malformed(c.what, JoinPath(path, "type"), "\"branch\" or \"tag\"", j["type"]);
  }
  PG2I_ASSIGN_OR_RETURN(r.min_snapshots_to_keep, OptInt(c, j, "min-snapshots-to-keep", path));
  PG2I_ASSIGN_OR_RETURN(r.max_snapshot_age_ms, OptLong(c, j, "max-snapshot-age-ms", path));
  PG2I_ASSIGN_OR_RETURN(r.max_ref_age_ms, OptLong(c, j, "max-ref-age-ms", path));
  return r;
}

Json RefToJson(const SnapshotRef& r) {
  Json j = Json::object();
  j["snapshot-id"] = r.snapshot_id;
  j["type"] = r.type;
  if (r.min_snapshots_to_keep) j["min-snapshots-to-keep"] = *r.min_snapshots_to_keep;
  if (r.max_snapshot_age_ms) j["max-snapshot-age-ms"] = *r.max_snapshot_age_ms;
  if (r.max_ref_age_ms) j["max-ref-age-ms"] = *r.max_ref_age_ms;
  return j;
}

}  // namespace json_internal

namespace {

using namespace json_internal;  // NOLINT(google-build-using-namespace)

constexpr int32_t kMaxReadableFormatVersion = 3;

Result<TableMetadata> ParseTableMetadataJson(const Json& doc) {
  const Ctx c{"table metadata"};
  if (!doc.is_object()) return Malformed(c.what, "(document)", "an object", doc);
  static const std::set<std::string> kKnown = {
      "format-version",  "table-uuid",        "location",
      "last-sequence-number", "last-updated-ms", "last-column-id",
      "schema",          "schemas",           "current-schema-id",
      "partition-spec",  "partition-specs",   "default-spec-id",
      "last-partition-id", "default-sort-order-id", "sort-orders",
      "properties",      "current-snapshot-id", "snapshots",
      "snapshot-log",    "metadata-log",      "refs",
      "next-row-id"};

  TableMetadata m;
  PG2I_ASSIGN_OR_RETURN(m.format_version, GetInt(c, doc, "format-version", ""));
  if (m.format_version > kMaxReadableFormatVersion) {
    return Unimplemented("table metadata: \"format-version\" " +
                         std::to_string(m.format_version) +
                         " is newer than this build supports (1 to 3); upgrade pg2iceberg");
  }
  if (m.format_version < 1) {
    return Malformed(c.what, "format-version", "1, 2 or 3", doc["format-version"]);
  }
  const bool v1 = m.format_version == 1;

  if (v1) {
    PG2I_ASSIGN_OR_RETURN(std::optional<std::string> uuid,
                          OptString(c, doc, "table-uuid", ""));
    m.table_uuid = uuid.value_or("");
  } else {
    PG2I_ASSIGN_OR_RETURN(m.table_uuid, GetString(c, doc, "table-uuid", ""));
  }
  PG2I_ASSIGN_OR_RETURN(m.location, GetString(c, doc, "location", ""));
  if (v1) {
    PG2I_ASSIGN_OR_RETURN(std::optional<int64_t> seq,
                          OptLong(c, doc, "last-sequence-number", ""));
    m.last_sequence_number = seq.value_or(0);
  } else {
    PG2I_ASSIGN_OR_RETURN(m.last_sequence_number, GetLong(c, doc, "last-sequence-number", ""));
  }
  PG2I_ASSIGN_OR_RETURN(m.last_updated_ms, GetLong(c, doc, "last-updated-ms", ""));
  PG2I_ASSIGN_OR_RETURN(m.last_column_id, GetInt(c, doc, "last-column-id", ""));

  // Schemas: the list, or (v1 files of old writers) the single "schema".
  PG2I_ASSIGN_OR_RETURN(const Json* schemas, OptArray(c, doc, "schemas", ""));
  if (schemas != nullptr) {
    PG2I_ASSIGN_OR_RETURN(m.current_schema_id, GetInt(c, doc, "current-schema-id", ""));
    for (size_t i = 0; i < schemas->size(); ++i) {
      PG2I_ASSIGN_OR_RETURN(Schema s,
                            ParseSchemaJson(c, (*schemas)[i], IndexPath("schemas", i)));
      m.schemas.push_back(std::move(s));
    }
  } else if (v1) {
    PG2I_ASSIGN_OR_RETURN(const Json* schema, Require(c, doc, "schema", ""));
    PG2I_ASSIGN_OR_RETURN(Schema s, ParseSchemaJson(c, *schema, "schema"));
    m.current_schema_id = s.schema_id();
    m.schemas.push_back(std::move(s));
  } else {
    return Missing(c.what, "schemas");
  }
  if (m.CurrentSchema() == nullptr) {
    return InvalidArgument("table metadata: \"current-schema-id\" " +
                           std::to_string(m.current_schema_id) +
                           " names no schema in \"schemas\"");
  }

  // Partition specs: the list, or (old v1) the default spec's fields as "partition-spec".
  PG2I_ASSIGN_OR_RETURN(const Json* specs, OptArray(c, doc, "partition-specs", ""));
  if (specs != nullptr) {
    PG2I_ASSIGN_OR_RETURN(m.default_spec_id, GetInt(c, doc, "default-spec-id", ""));
    for (size_t i = 0; i < specs->size(); ++i) {
      PG2I_ASSIGN_OR_RETURN(PartitionSpec spec,
                            ParseSpecJson(c, (*specs)[i], IndexPath("partition-specs", i),
                                          v1 ? MissingFieldId::kPositional
                                             : MissingFieldId::kError));
      m.partition_specs.push_back(std::move(spec));
    }
  } else if (v1) {
    PG2I_ASSIGN_OR_RETURN(const Json* fields, Require(c, doc, "partition-spec", ""));
    PartitionSpec spec;
    PG2I_ASSIGN_OR_RETURN(spec.fields, ParseSpecFields(c, *fields, "partition-spec",
                                                       MissingFieldId::kPositional));
    m.default_spec_id = 0;
    m.partition_specs.push_back(std::move(spec));
  } else {
    return Missing(c.what, "partition-specs");
  }
  if (m.DefaultSpec() == nullptr) {
    return InvalidArgument("table metadata: \"default-spec-id\" " +
                           std::to_string(m.default_spec_id) +
                           " names no spec in \"partition-specs\"");
  }
  PG2I_ASSIGN_OR_RETURN(std::optional<int32_t> last_partition_id,
                        OptInt(c, doc, "last-partition-id", ""));
  if (last_partition_id) {
    m.last_partition_id = *last_partition_id;
  } else if (v1) {
    m.last_partition_id = 999;
    for (const PartitionSpec& spec : m.partition_specs) {
      for (const PartitionField& f : spec.fields) {
        m.last_partition_id = std::max(m.last_partition_id, f.field_id);
      }
    }
  } else {
    return Missing(c.what, "last-partition-id");
  }

  PG2I_ASSIGN_OR_RETURN(const Json* orders, OptArray(c, doc, "sort-orders", ""));
  if (orders != nullptr) {
    PG2I_ASSIGN_OR_RETURN(m.default_sort_order_id, GetInt(c, doc, "default-sort-order-id", ""));
    for (size_t i = 0; i < orders->size(); ++i) {
      PG2I_ASSIGN_OR_RETURN(SortOrder o,
                            ParseSortOrderJson(c, (*orders)[i], IndexPath("sort-orders", i)));
      m.sort_orders.push_back(std::move(o));
    }
  } else if (v1) {
    m.sort_orders.push_back(SortOrder{});
    m.default_sort_order_id = 0;
  } else {
    return Missing(c.what, "sort-orders");
  }
  if (std::none_of(m.sort_orders.begin(), m.sort_orders.end(),
                   [&](const SortOrder& o) { return o.order_id == m.default_sort_order_id; })) {
    return InvalidArgument("table metadata: \"default-sort-order-id\" " +
                           std::to_string(m.default_sort_order_id) +
                           " names no order in \"sort-orders\"");
  }

  if (const Json* props = Find(doc, "properties")) {
    PG2I_ASSIGN_OR_RETURN(m.properties, AsStringMap(c, *props, "properties"));
  }

  PG2I_ASSIGN_OR_RETURN(std::optional<int64_t> current,
                        OptLong(c, doc, "current-snapshot-id", ""));
  if (current && *current != -1) m.current_snapshot_id = current;

  PG2I_ASSIGN_OR_RETURN(const Json* snapshots, OptArray(c, doc, "snapshots", ""));
  if (snapshots != nullptr) {
    for (size_t i = 0; i < snapshots->size(); ++i) {
      PG2I_ASSIGN_OR_RETURN(Snapshot s,
                            ParseSnapshotJson(c, (*snapshots)[i], IndexPath("snapshots", i)));
      m.snapshots.push_back(std::move(s));
    }
  }
  if (m.current_snapshot_id && m.CurrentSnapshot() == nullptr) {
    return InvalidArgument("table metadata: \"current-snapshot-id\" " +
                           std::to_string(*m.current_snapshot_id) +
                           " names no snapshot in \"snapshots\"");
  }

  if (const Json* refs = Find(doc, "refs")) {
    if (!refs->is_object()) return Malformed(c.what, "refs", "an object", *refs);
    for (auto it = refs->begin(); it != refs->end(); ++it) {
      std::string rp = JoinPath("refs", it.key());
      PG2I_ASSIGN_OR_RETURN(SnapshotRef r, ParseRefJson(c, it.value(), rp));
      if (m.SnapshotById(r.snapshot_id) == nullptr) {
        return InvalidArgument("table metadata: \"" + rp + ".snapshot-id\" " +
                               std::to_string(r.snapshot_id) +
                               " names no snapshot in \"snapshots\"");
      }
      m.refs[it.key()] = std::move(r);
    }
  } else if (m.current_snapshot_id) {
    // Writers before refs existed: the current snapshot is the head of main.
    m.refs["main"] = SnapshotRef{*m.current_snapshot_id, "branch", {}, {}, {}};
  }
  if (auto main = m.refs.find("main"); main != m.refs.end()) {
    if (main->second.type != "branch" || !m.current_snapshot_id ||
        *m.current_snapshot_id != main->second.snapshot_id) {
      return InvalidArgument(
          "table metadata: \"refs.main\" must be a branch at \"current-snapshot-id\"");
    }
  }

  PG2I_ASSIGN_OR_RETURN(const Json* slog, OptArray(c, doc, "snapshot-log", ""));
  if (slog != nullptr) {
    for (size_t i = 0; i < slog->size(); ++i) {
      std::string p = IndexPath("snapshot-log", i);
      PG2I_RETURN_IF_ERROR(ExpectObject(c, (*slog)[i], p));
      SnapshotLogEntry e;
      PG2I_ASSIGN_OR_RETURN(e.timestamp_ms, GetLong(c, (*slog)[i], "timestamp-ms", p));
      PG2I_ASSIGN_OR_RETURN(e.snapshot_id, GetLong(c, (*slog)[i], "snapshot-id", p));
      m.snapshot_log.push_back(e);
    }
  }
  PG2I_ASSIGN_OR_RETURN(const Json* mlog, OptArray(c, doc, "metadata-log", ""));
  if (mlog != nullptr) {
    for (size_t i = 0; i < mlog->size(); ++i) {
      std::string p = IndexPath("metadata-log", i);
      PG2I_RETURN_IF_ERROR(ExpectObject(c, (*mlog)[i], p));
      MetadataLogEntry e;
      PG2I_ASSIGN_OR_RETURN(e.timestamp_ms, GetLong(c, (*mlog)[i], "timestamp-ms", p));
      PG2I_ASSIGN_OR_RETURN(e.metadata_file, GetString(c, (*mlog)[i], "metadata-file", p));
      m.metadata_log.push_back(std::move(e));
    }
  }

  PG2I_ASSIGN_OR_RETURN(m.next_row_id, OptLong(c, doc, "next-row-id", ""));

  for (auto it = doc.begin(); it != doc.end(); ++it) {
    if (kKnown.count(it.key()) == 0) m.extra[it.key()] = Compact(it.value());
  }
  return m;
}

Json TableMetadataToJson(const TableMetadata& m) {
  const bool v1 = m.format_version <= 1;
  Json j = Json::object();
  j["format-version"] = m.format_version;
  if (!m.table_uuid.empty()) j["table-uuid"] = m.table_uuid;
  j["location"] = m.location;
  if (!v1) j["last-sequence-number"] = m.last_sequence_number;
  j["last-updated-ms"] = m.last_updated_ms;
  j["last-column-id"] = m.last_column_id;
  if (v1) {
    // Older v1 readers know only the current schema and the default spec.
    const Schema* current = m.CurrentSchema();
    j["schema"] = SchemaToJson(current != nullptr ? *current : Schema());
  }
  j["current-schema-id"] = m.current_schema_id;
  Json schemas = Json::array();
  for (const Schema& s : m.schemas) schemas.push_back(SchemaToJson(s));
  j["schemas"] = std::move(schemas);
  if (v1) {
    const PartitionSpec* spec = m.DefaultSpec();
    j["partition-spec"] = SpecFieldsToJson(spec != nullptr ? *spec : PartitionSpec());
  }
  j["default-spec-id"] = m.default_spec_id;
  Json specs = Json::array();
  for (const PartitionSpec& s : m.partition_specs) specs.push_back(SpecToJson(s));
  j["partition-specs"] = std::move(specs);
  j["last-partition-id"] = m.last_partition_id;
  j["default-sort-order-id"] = m.default_sort_order_id;
  Json orders = Json::array();
  for (const SortOrder& o : m.sort_orders) orders.push_back(SortOrderToJson(o));
  j["sort-orders"] = std::move(orders);
  Json props = Json::object();
  for (const auto& [k, v] : m.properties) props[k] = v;
  j["properties"] = std::move(props);
  // No current snapshot: Iceberg Java 1.11 writes -1 up to v2 and null from v3 on.
  if (m.current_snapshot_id) {
    j["current-snapshot-id"] = *m.current_snapshot_id;
  } else if (m.format_version >= 3) {
    j["current-snapshot-id"] = nullptr;
  } else {
    j["current-snapshot-id"] = -1;
  }
  if (m.format_version >= 3) j["next-row-id"] = m.next_row_id.value_or(0);
  Json refs = Json::object();
  for (const auto& [name, r] : m.refs) refs[name] = RefToJson(r);
  j["refs"] = std::move(refs);
  Json snapshots = Json::array();
  for (const Snapshot& s : m.snapshots) {
    snapshots.push_back(SnapshotToJson(s, m.format_version));
  }
  j["snapshots"] = std::move(snapshots);
  Json slog = Json::array();
  for (const SnapshotLogEntry& e : m.snapshot_log) {
    Json ej = Json::object();
    ej["timestamp-ms"] = e.timestamp_ms;
    ej["snapshot-id"] = e.snapshot_id;
    slog.push_back(std::move(ej));
  }
  j["snapshot-log"] = std::move(slog);
  Json mlog = Json::array();
  for (const MetadataLogEntry& e : m.metadata_log) {
    Json ej = Json::object();
    ej["timestamp-ms"] = e.timestamp_ms;
    ej["metadata-file"] = e.metadata_file;
    mlog.push_back(std::move(ej));
  }
  j["metadata-log"] = std::move(mlog);
  for (const auto& [k, v] : m.extra) {
    // A modelled key that also sits in extra (a hand-built model) must not be written twice.
    if (j.contains(k)) continue;
    j[k] = RawToJson(v);
  }
  return j;
}

std::string Dump(const Json& j, bool pretty) {
  return j.dump(pretty ? 2 : -1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

// ---------------------------------------------------------------------------------------------

const Schema* TableMetadata::CurrentSchema() const { return SchemaById(current_schema_id); }

const Schema* TableMetadata::SchemaById(int32_t id) const {
  for (const Schema& s : schemas) {
    if (s.schema_id() == id) return &s;
  }
  return nullptr;
}

const PartitionSpec* TableMetadata::DefaultSpec() const { return SpecById(default_spec_id); }

const PartitionSpec* TableMetadata::SpecById(int32_t id) const {
  for (const PartitionSpec& s : partition_specs) {
    if (s.spec_id == id) return &s;
  }
  return nullptr;
}

const Snapshot* TableMetadata::CurrentSnapshot() const {
  return current_snapshot_id ? SnapshotById(*current_snapshot_id) : nullptr;
}

const Snapshot* TableMetadata::SnapshotById(int64_t id) const {
  for (const Snapshot& s : snapshots) {
    if (s.snapshot_id == id) return &s;
  }
  return nullptr;
}

Result<TableMetadata> ParseTableMetadata(std::string_view json) {
  PG2I_ASSIGN_OR_RETURN(Json doc, ParseText(json, "table metadata"));
  return ParseTableMetadataJson(doc);
}

std::string SerializeTableMetadata(const TableMetadata& m, bool pretty) {
  return Dump(TableMetadataToJson(m), pretty);
}

std::string SerializeSchema(const Schema& s) { return Dump(SchemaToJson(s), false); }

Result<Schema> ParseSchema(std::string_view json) {
  PG2I_ASSIGN_OR_RETURN(Json doc, ParseText(json, "schema"));
  return ParseSchemaJson(Ctx{"schema"}, doc, "");
}

std::string SerializePartitionSpecFields(const PartitionSpec& spec) {
  return Dump(SpecFieldsToJson(spec), false);
}

std::string SerializePartitionSpec(const PartitionSpec& spec) {
  return Dump(SpecToJson(spec), false);
}

Result<PartitionSpec> ParsePartitionSpec(std::string_view json) {
  PG2I_ASSIGN_OR_RETURN(Json doc, ParseText(json, "partition spec"));
  const Ctx c{"partition spec"};
  if (doc.is_array()) {
    // The bare "fields" array, as manifests' key/value metadata carry it.
    PartitionSpec spec;
    PG2I_ASSIGN_OR_RETURN(spec.fields,
                          ParseSpecFields(c, doc, "fields", MissingFieldId::kError));
    return spec;
  }
  return ParseSpecJson(c, doc, "", MissingFieldId::kError);
}

}  // namespace pg2iceberg::iceberg
