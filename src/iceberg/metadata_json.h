// Internal to the iceberg library: the nlohmann::json (de)serialisation pieces of
// metadata.cc, shared with metadata_edit.cc (the REST updates carry schemas, specs, sort
// orders and snapshots in the same JSON forms). Not for use outside src/iceberg.
//
// Readers take the JSON path of the value they read and return InvalidArgument naming it
// ("schemas[0].fields[3].type"); no nlohmann exception escapes them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "iceberg/metadata.h"

namespace pg2iceberg::iceberg::json_internal {

using Json = nlohmann::ordered_json;

// What is being read, for messages: "table metadata", "table update", …
struct Ctx {
  std::string_view what;
};

std::string JoinPath(std::string_view path, std::string_view key);
std::string IndexPath(std::string_view path, size_t i);

Status Malformed(std::string_view what, std::string_view path, std::string_view expected,
                 const Json& found);
Status Missing(std::string_view what, std::string_view path);
Result<Json> ParseText(std::string_view text, std::string_view what);
Status ExpectObject(const Ctx& c, const Json& j, std::string_view path);

// The member, or nullptr when absent or JSON null.
const Json* Find(const Json& obj, std::string_view key);
Result<const Json*> Require(const Ctx& c, const Json& obj, std::string_view key,
                            std::string_view path);
Result<int64_t> AsLong(const Ctx& c, const Json& j, std::string_view path);
Result<int32_t> AsInt(const Ctx& c, const Json& j, std::string_view path);
Result<std::string> AsString(const Ctx& c, const Json& j, std::string_view path);
Result<int64_t> GetLong(const Ctx& c, const Json& obj, std::string_view key,
                        std::string_view path);
Result<int32_t> GetInt(const Ctx& c, const Json& obj, std::string_view key,
                       std::string_view path);
Result<std::string> GetString(const Ctx& c, const Json& obj, std::string_view key,
                              std::string_view path);
Result<bool> GetBool(const Ctx& c, const Json& obj, std::string_view key,
                     std::string_view path);
Result<std::optional<int64_t>> OptLong(const Ctx& c, const Json& obj, std::string_view key,
                                       std::string_view path);
Result<std::optional<int32_t>> OptInt(const Ctx& c, const Json& obj, std::string_view key,
                                      std::string_view path);
Result<std::optional<std::string>> OptString(const Ctx& c, const Json& obj,
                                             std::string_view key, std::string_view path);
Result<const Json*> GetArray(const Ctx& c, const Json& obj, std::string_view key,
                             std::string_view path);
Result<std::map<std::string, std::string>> AsStringMap(const Ctx& c, const Json& j,
                                                       std::string_view path);

// One-line dump that never throws (invalid UTF-8 is replaced).
std::string Compact(const Json& j);
// Raw JSON text back to a value; null when the text is not JSON.
Json RawToJson(const std::string& text);

// The spec's JSON forms.
Result<Schema> ParseSchemaJson(const Ctx& c, const Json& j, std::string_view path);
Json SchemaToJson(const Schema& s);
// How a partition field without "field-id" is read.
enum class MissingFieldId {
  kError,       // v2+ metadata
  kPositional,  // v1 metadata: 1000 + position, as writers before field ids numbered them
  kUnassigned,  // REST add-spec: 0, for the catalog to assign
};
Result<PartitionSpec> ParseSpecJson(const Ctx& c, const Json& j, std::string_view path,
                                    MissingFieldId missing_id);
Json SpecToJson(const PartitionSpec& spec);
Result<SortOrder> ParseSortOrderJson(const Ctx& c, const Json& j, std::string_view path);
Json SortOrderToJson(const SortOrder& order);
Result<Snapshot> ParseSnapshotJson(const Ctx& c, const Json& j, std::string_view path);
Json SnapshotToJson(const Snapshot& s, int32_t format_version);
Result<SnapshotRef> ParseRefJson(const Ctx& c, const Json& j, std::string_view path);
Json RefToJson(const SnapshotRef& r);

}  // namespace pg2iceberg::iceberg::json_internal
