#include "iceberg/metadata_edit.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "iceberg/metadata_json.h"
#include "iceberg/transform.h"

namespace pg2iceberg::iceberg {

std::string DefaultPartitionName(const std::string& source, const Transform& t) {
  switch (t.kind()) {
    case TransformKind::kIdentity: return source;
    case TransformKind::kBucket: return source + "_bucket";
    case TransformKind::kTruncate: return source + "_trunc";
    case TransformKind::kYear: return source + "_year";
    case TransformKind::kMonth: return source + "_month";
    case TransformKind::kDay: return source + "_day";
    case TransformKind::kHour: return source + "_hour";
    case TransformKind::kVoid: return source + "_null";
  }
  return source;
}

namespace {

using json_internal::Json;

// Properties Iceberg derives or uses for table state, never stored (TableProperties.
// RESERVED_PROPERTIES in Iceberg Java).
const std::set<std::string>& ReservedProperties() {
  static const std::set<std::string> kReserved = {
      "format-version",           "uuid",           "snapshot-count",
      "current-snapshot-id",      "current-snapshot-summary",
      "current-snapshot-timestamp-ms", "current-schema", "default-partition-spec",
      "default-sort-order"};
  return kReserved;
}

std::string TypeText(const DataType& t) {
  switch (t.kind) {
    case DataType::Kind::kPrimitive: return t.primitive.ToString();
    case DataType::Kind::kOpaque: return t.opaque;
    case DataType::Kind::kStruct: return "struct";
    case DataType::Kind::kList: return "list";
    case DataType::Kind::kMap: return "map";
  }
  return "?";
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// Types the spec adds in format version 3.
bool IsV3Type(const DataType& t) {
  if (t.kind != DataType::Kind::kOpaque) return false;
  for (std::string_view p :
       {"timestamp_ns", "timestamptz_ns", "variant", "unknown", "geometry", "geography"}) {
    if (StartsWith(t.opaque, p)) return true;
  }
  return false;
}

bool IsUnknownType(const DataType& t) {
  return t.kind == DataType::Kind::kOpaque && t.opaque == "unknown";
}

bool IsNested(const DataType& t) {
  return t.kind == DataType::Kind::kStruct || t.kind == DataType::Kind::kList ||
         t.kind == DataType::Kind::kMap;
}

bool HasNonNullDefault(const std::optional<std::string>& d) {
  return d.has_value() && *d != "null";
}

// Where a field sits in a schema.
struct FieldInfo {
  const Field* field = nullptr;
  int32_t parent_id = 0;          // 0: top level
  std::string full_name;          // "s.event_ts", "tags.element", "attrs.value.a"
  bool under_repeated = false;    // inside a list or map
  bool under_optional = false;    // inside an optional struct
};

using FieldIndex = std::map<int32_t, FieldInfo>;

// Indexes every field by id; InvalidArgument on duplicate ids or on duplicate or empty names
// within one struct.
Status IndexFields(const std::vector<Field>& fields, const FieldInfo& parent,
                   DataType::Kind parent_kind, FieldIndex* out) {
  std::set<std::string> names;
  for (const Field& f : fields) {
    std::string full = parent.field == nullptr ? f.name : parent.full_name + "." + f.name;
    if (parent_kind == DataType::Kind::kStruct) {
      if (f.name.empty()) {
        return InvalidArgument("schema: field id " + std::to_string(f.id) +
                               (parent.field == nullptr ? "" : " in " + parent.full_name) +
                               " has an empty name");
      }
      if (!names.insert(f.name).second) {
        return InvalidArgument("schema: column name \"" + full + "\" is used twice");
      }
    }
    FieldInfo info;
    info.field = &f;
    info.parent_id = parent.field == nullptr ? 0 : parent.field->id;
    info.full_name = full;
    info.under_repeated = parent.under_repeated;
    info.under_optional = parent.under_optional;
    if (f.id > 0) {
      auto [it, inserted] = out->emplace(f.id, info);
      if (!inserted) {
        return InvalidArgument("schema: field id " + std::to_string(f.id) +
                               " is used by both \"" + it->second.full_name + "\" and \"" +
                               full + "\"");
      }
    }
    if (IsNested(f.type)) {
      FieldInfo child = info;
      child.under_repeated = info.under_repeated || f.type.kind != DataType::Kind::kStruct;
      child.under_optional = info.under_optional ||
                             (f.type.kind == DataType::Kind::kStruct && !f.required);
      PG2I_RETURN_IF_ERROR(IndexFields(f.type.fields, child, f.type.kind, out));
    }
  }
  return Status::Ok();
}

Result<FieldIndex> IndexSchema(const Schema& s) {
  FieldIndex index;
  PG2I_RETURN_IF_ERROR(IndexFields(s.fields(), FieldInfo{}, DataType::Kind::kStruct, &index));
  return index;
}

Status CheckTypesForVersion(const FieldIndex& index, int32_t format_version) {
  for (const auto& [id, info] : index) {
    const Field& f = *info.field;
    if (format_version < 3 && IsV3Type(f.type)) {
      return InvalidArgument("column \"" + info.full_name + "\" has type " + f.type.opaque +
                             ", which needs table format version 3 (this table is v" +
                             std::to_string(format_version) + ")");
    }
    if (format_version < 3 && HasNonNullDefault(f.initial_default_json)) {
      return InvalidArgument("column \"" + info.full_name +
                             "\" has an initial default, which needs table format version 3");
    }
    if (IsUnknownType(f.type) && f.required) {
      return InvalidArgument("column \"" + info.full_name +
                             "\" has type unknown and must be optional");
    }
  }
  return Status::Ok();
}

// The spec's rules for identifier fields (Iceberg Java Schema.validateIdentifierField).
Status CheckIdentifierFields(const Schema& s, const FieldIndex& index) {
  for (int32_t id : s.identifier_field_ids()) {
    auto it = index.find(id);
    if (it == index.end()) {
      return InvalidArgument("schema: identifier field id " + std::to_string(id) +
                             " is not a column of the schema");
    }
    const FieldInfo& info = it->second;
    const Field& f = *info.field;
    std::string name = "identifier field \"" + info.full_name + "\"";
    bool primitive = f.type.kind == DataType::Kind::kPrimitive ||
                     (f.type.kind == DataType::Kind::kOpaque &&
                      (StartsWith(f.type.opaque, "fixed[") ||
                       StartsWith(f.type.opaque, "timestamp")));
    if (!primitive) {
      return InvalidArgument("schema: " + name + " has type " + TypeText(f.type) +
                             "; identifier fields must be primitive");
    }
    if (f.type.kind == DataType::Kind::kPrimitive &&
        (f.type.primitive.id == TypeId::kFloat || f.type.primitive.id == TypeId::kDouble)) {
      return InvalidArgument("schema: " + name + " is a " + f.type.primitive.ToString() +
                             "; identifier fields cannot be float or double");
    }
    if (!f.required) {
      return InvalidArgument("schema: " + name + " is optional; identifier fields must be "
                             "required");
    }
    if (info.under_repeated) {
      return InvalidArgument("schema: " + name + " is inside a list or map");
    }
    if (info.under_optional) {
      return InvalidArgument("schema: " + name + " is inside an optional struct");
    }
  }
  return Status::Ok();
}

// Gives every field a new id, as Iceberg Java's TypeUtil.assignFreshIds: all fields of a
// struct (or a list's element, a map's key and value) first, then their nested types.
// Records old id → new id.
void AssignFreshIds(std::vector<Field>* fields, int32_t* last,
                    std::map<int32_t, int32_t>* old_to_new) {
  for (Field& f : *fields) {
    int32_t fresh = ++*last;
    if (old_to_new != nullptr && f.id > 0) (*old_to_new)[f.id] = fresh;
    f.id = fresh;
  }
  for (Field& f : *fields) AssignFreshIds(&f.type.fields, last, old_to_new);
}

// The same order, only for fields whose id is unset (<= 0).
void AssignMissingIds(std::vector<Field>* fields, int32_t* last) {
  for (Field& f : *fields) {
    if (f.id <= 0) f.id = ++*last;
  }
  for (Field& f : *fields) AssignMissingIds(&f.type.fields, last);
}

}  // namespace

bool CanPromote(const DataType& from, const DataType& to, int32_t format_version) {
  if (from == to) return true;
  if (format_version >= 3 && IsUnknownType(from)) return true;
  if (from.kind != DataType::Kind::kPrimitive || to.kind != DataType::Kind::kPrimitive) {
    return false;
  }
  const Type& a = from.primitive;
  const Type& b = to.primitive;
  if (a.id == TypeId::kInt && b.id == TypeId::kLong) return true;
  if (a.id == TypeId::kFloat && b.id == TypeId::kDouble) return true;
  if (a.id == TypeId::kDecimal && b.id == TypeId::kDecimal) {
    return a.scale == b.scale && b.precision >= a.precision;
  }
  return false;
}

namespace {

// ----- Partition specs -----------------------------------------------------------------------

bool IsTimeTransform(const Transform& t) {
  return t.kind() == TransformKind::kYear || t.kind() == TransformKind::kMonth ||
         t.kind() == TransformKind::kDay || t.kind() == TransformKind::kHour;
}

// Whether `t` may be applied to a column of type `type` (InvalidArgument naming `what`).
Status CheckTransformSource(const Transform& t, const FieldInfo& source,
                            std::string_view what) {
  const Field& f = *source.field;
  if (t.kind() == TransformKind::kVoid) return Status::Ok();
  if (IsNested(f.type)) {
    return InvalidArgument(std::string(what) + ": source column \"" + source.full_name +
                           "\" is a " + TypeText(f.type) + "; only primitive columns can be "
                           "partitioned or sorted by");
  }
  if (source.under_repeated) {
    return InvalidArgument(std::string(what) + ": source column \"" + source.full_name +
                           "\" is inside a list or map");
  }
  if (f.type.kind == DataType::Kind::kOpaque) {
    // Types this build keeps as text (fixed, timestamp_ns, …): the transform is checked by
    // the engines that know them.
    return Status::Ok();
  }
  Status st = t.CanApply(f.type.primitive);
  if (!st.ok()) return InvalidArgument(std::string(what) + ": " + st.message());
  return Status::Ok();
}

// Fills empty names, normalises transform text and checks the spec against the schema
// (Iceberg Java PartitionSpec.Builder's rules). Void fields whose source is gone are kept
// (v1 tables keep dropped fields that way).
Status CheckSpec(const FieldIndex& index, PartitionSpec* spec) {
  std::set<std::string> names;
  std::set<std::pair<int32_t, std::string>> seen;
  std::set<int32_t> time_sources;
  std::set<int32_t> ids;
  for (PartitionField& f : spec->fields) {
    std::string what = "partition field \"" + f.name + "\"";
    Result<Transform> t = Transform::Parse(f.transform);
    if (!t.ok()) return InvalidArgument(what + ": " + t.status().message());
    f.transform = t->ToString();
    auto src = index.find(f.source_id);
    if (src == index.end()) {
      if (t->kind() == TransformKind::kVoid && !f.name.empty()) continue;
      return InvalidArgument(what + ": source id " + std::to_string(f.source_id) +
                             " is not a column of the current schema");
    }
    if (f.name.empty()) {
      f.name = DefaultPartitionName(src->second.full_name, *t);
      what = "partition field \"" + f.name + "\"";
    }
    PG2I_RETURN_IF_ERROR(CheckTransformSource(*t, src->second, what));
    if (!names.insert(f.name).second) {
      return InvalidArgument("partition spec: the name \"" + f.name +
                             "\" is used twice; give the fields distinct names");
    }
    if (f.field_id > 0 && !ids.insert(f.field_id).second) {
      return InvalidArgument("partition spec: field id " + std::to_string(f.field_id) +
                             " is used twice");
    }
    // A partition name may only shadow a column when it is that column's identity (or void).
    for (const auto& [id, info] : index) {
      if (info.full_name == f.name &&
          !(id == f.source_id && (t->kind() == TransformKind::kIdentity ||
                                  t->kind() == TransformKind::kVoid))) {
        return InvalidArgument(what + ": the name is the name of column \"" + f.name +
                               "\"; choose another name");
      }
    }
    if (t->kind() != TransformKind::kVoid) {
      if (!seen.insert({f.source_id, f.transform}).second) {
        return InvalidArgument(what + ": " + f.transform + " of \"" + src->second.full_name +
                               "\" is already in the spec");
      }
      if (IsTimeTransform(*t) && !time_sources.insert(f.source_id).second) {
        return InvalidArgument(what + ": \"" + src->second.full_name +
                               "\" already has a time transform; a second one is redundant");
      }
    }
  }
  return Status::Ok();
}

Status CheckSortOrder(const FieldIndex& index, SortOrder* order) {
  for (SortField& f : order->fields) {
    std::string what = "sort field on source id " + std::to_string(f.source_id);
    Result<Transform> t = Transform::Parse(f.transform);
    if (!t.ok()) return InvalidArgument(what + ": " + t.status().message());
    f.transform = t->ToString();
    auto src = index.find(f.source_id);
    if (src == index.end()) {
      return InvalidArgument(what + ": not a column of the current schema");
    }
    PG2I_RETURN_IF_ERROR(CheckTransformSource(*t, src->second, what));
    if (f.direction != "asc" && f.direction != "desc") {
      return InvalidArgument(what + ": direction must be asc or desc, not \"" + f.direction +
                             "\"");
    }
    if (f.null_order != "nulls-first" && f.null_order != "nulls-last") {
      return InvalidArgument(what + ": null order must be nulls-first or nulls-last, not \"" +
                             f.null_order + "\"");
    }
  }
  return Status::Ok();
}

Status CheckVersion(int32_t v) {
  if (v < 1 || v > kMaxFormatVersion) {
    return InvalidArgument("format version " + std::to_string(v) +
                           " is not supported; use 1, 2 or 3");
  }
  return Status::Ok();
}

std::string StripTrailingSlash(std::string s) {
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

Result<int32_t> ParsePositiveInt(const std::string& text, std::string_view what) {
  errno = 0;
  char* end = nullptr;
  long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || end == nullptr || *end != '\0' || errno != 0 || v < INT32_MIN ||
      v > INT32_MAX) {
    return InvalidArgument(std::string(what) + " must be an integer, not \"" + text + "\"");
  }
  return static_cast<int32_t>(v);
}

// Drops snapshot-log entries of the given snapshots (intermediate heads of main in one
// commit), as Iceberg Java's updateSnapshotLog does.
void DropLogEntries(TableMetadata* m, const std::set<int64_t>& ids) {
  std::erase_if(m->snapshot_log,
                [&](const SnapshotLogEntry& e) { return ids.count(e.snapshot_id) > 0; });
}

}  // namespace

// ----- Creating a table ----------------------------------------------------------------------

Result<TableMetadata> NewTableMetadata(std::string location, const Schema& schema,
                                       const PartitionSpec& spec,
                                       std::map<std::string, std::string> properties,
                                       std::string table_uuid, int64_t now_ms,
                                       const NewTableOptions& options) {
  int32_t format_version = options.format_version;
  if (auto it = properties.find("format-version"); it != properties.end()) {
    PG2I_ASSIGN_OR_RETURN(format_version,
                          ParsePositiveInt(it->second, "table property format-version"));
  }
  PG2I_RETURN_IF_ERROR(CheckVersion(format_version));
  std::erase_if(properties,
                [](const auto& kv) { return ReservedProperties().count(kv.first) > 0; });
  if (table_uuid.empty()) return InvalidArgument("new table: the table UUID is empty");
  if (location.empty()) return InvalidArgument("new table: the location is empty");

  // The caller's ids only link the spec, sort order and identifiers to columns.
  PG2I_ASSIGN_OR_RETURN(FieldIndex old_index, IndexSchema(schema));
  std::vector<Field> fields = schema.fields();
  int32_t last_column_id = 0;
  std::map<int32_t, int32_t> old_to_new;
  AssignFreshIds(&fields, &last_column_id, &old_to_new);
  auto remap = [&](int32_t old_id, const std::string& what) -> Result<int32_t> {
    auto it = old_to_new.find(old_id);
    if (it == old_to_new.end() || old_index.count(old_id) == 0) {
      return InvalidArgument("new table: " + what + " refers to field id " +
                             std::to_string(old_id) + ", which is not in the schema");
    }
    return it->second;
  };
  std::vector<int32_t> identifiers;
  for (int32_t id : schema.identifier_field_ids()) {
    PG2I_ASSIGN_OR_RETURN(int32_t fresh, remap(id, "an identifier field"));
    identifiers.push_back(fresh);
  }
  Schema fresh_schema(0, std::move(fields), std::move(identifiers));
  PG2I_ASSIGN_OR_RETURN(FieldIndex index, IndexSchema(fresh_schema));
  PG2I_RETURN_IF_ERROR(CheckTypesForVersion(index, format_version));
  PG2I_RETURN_IF_ERROR(CheckIdentifierFields(fresh_schema, index));

  PartitionSpec fresh_spec;
  fresh_spec.spec_id = 0;
  int32_t last_partition_id = 999;
  for (const PartitionField& f : spec.fields) {
    PartitionField nf = f;
    PG2I_ASSIGN_OR_RETURN(nf.source_id,
                          remap(f.source_id, "partition field \"" + f.name + "\""));
    nf.field_id = ++last_partition_id;
    fresh_spec.fields.push_back(std::move(nf));
  }
  PG2I_RETURN_IF_ERROR(CheckSpec(index, &fresh_spec));

  SortOrder order;
  for (const SortField& f : options.sort_order.fields) {
    SortField nf = f;
    PG2I_ASSIGN_OR_RETURN(nf.source_id, remap(f.source_id, "a sort field"));
    order.fields.push_back(std::move(nf));
  }
  PG2I_RETURN_IF_ERROR(CheckSortOrder(index, &order));
  order.order_id = order.fields.empty() ? 0 : 1;

  TableMetadata m;
  m.format_version = format_version;
  m.table_uuid = std::move(table_uuid);
  m.location = StripTrailingSlash(std::move(location));
  m.last_sequence_number = 0;
  m.last_updated_ms = now_ms;
  m.last_column_id = last_column_id;
  m.schemas.push_back(std::move(fresh_schema));
  m.current_schema_id = 0;
  m.partition_specs.push_back(std::move(fresh_spec));
  m.default_spec_id = 0;
  m.last_partition_id = last_partition_id;
  m.properties = std::move(properties);
  m.sort_orders.push_back(order);
  m.default_sort_order_id = order.order_id;
  if (format_version >= 3) m.next_row_id = 0;
  return m;
}

// ----- Snapshots and refs --------------------------------------------------------------------

int64_t NextSequenceNumber(const TableMetadata& m) {
  return m.format_version > 1 ? m.last_sequence_number + 1 : 0;
}

namespace {

// SetSnapshotRef without the copy, for callers that already work on a copy.
Status SetRefIn(TableMetadata* m, const std::string& name, SnapshotRef ref,
                int64_t log_timestamp_ms) {
  if (name.empty()) return InvalidArgument("a ref needs a name");
  if (ref.type != "branch" && ref.type != "tag") {
    return InvalidArgument("ref \"" + name + "\": type must be branch or tag, not \"" +
                           ref.type + "\"");
  }
  if (name == kMainBranch && ref.type != "branch") {
    return InvalidArgument("ref \"main\" must be a branch");
  }
  if (m->SnapshotById(ref.snapshot_id) == nullptr) {
    return InvalidArgument("cannot point ref \"" + name + "\" at snapshot " +
                           std::to_string(ref.snapshot_id) +
                           ": the table has no such snapshot");
  }
  if (auto it = m->refs.find(name); it != m->refs.end() && it->second == ref) {
    return Status::Ok();
  }
  if (name == kMainBranch) {
    m->current_snapshot_id = ref.snapshot_id;
    m->snapshot_log.push_back(SnapshotLogEntry{log_timestamp_ms, ref.snapshot_id});
  }
  m->refs[name] = std::move(ref);
  m->last_updated_ms = log_timestamp_ms;
  return Status::Ok();
}

Status AddSnapshotIn(TableMetadata* m, Snapshot s, const std::optional<std::string>& branch) {
  const std::string what = "snapshot " + std::to_string(s.snapshot_id);
  if (s.snapshot_id == -1) return InvalidArgument("snapshot id -1 is reserved for \"none\"");
  if (m->SnapshotById(s.snapshot_id) != nullptr) {
    return InvalidArgument(what + " already exists in the table");
  }
  if (m->CurrentSchema() == nullptr) {
    return InvalidArgument(what + ": the table has no current schema");
  }
  if (m->format_version > 1) {
    if (s.sequence_number == 0) {
      s.sequence_number = NextSequenceNumber(*m);
    } else if (s.sequence_number <= m->last_sequence_number) {
      return InvalidArgument(what + ": sequence number " + std::to_string(s.sequence_number) +
                             " is not above the table's last sequence number " +
                             std::to_string(m->last_sequence_number));
    }
  } else if (s.sequence_number != 0) {
    return InvalidArgument(what + ": v1 tables have no sequence numbers");
  }
  if (!s.schema_id) s.schema_id = m->current_schema_id;
  if (m->format_version >= 3) {
    if (!s.added_rows) {
      return InvalidArgument(what + ": v3 snapshots need added-rows (row lineage)");
    }
    int64_t next_row_id = m->next_row_id.value_or(0);
    if (!s.first_row_id) s.first_row_id = next_row_id;
    if (*s.first_row_id < next_row_id) {
      return InvalidArgument(what + ": first-row-id " + std::to_string(*s.first_row_id) +
                             " is behind the table's next-row-id " +
                             std::to_string(next_row_id));
    }
    m->next_row_id = *s.first_row_id + *s.added_rows;
  }
  m->last_sequence_number = std::max(m->last_sequence_number, s.sequence_number);
  m->last_updated_ms = s.timestamp_ms;
  const int64_t id = s.snapshot_id;
  const int64_t ts = s.timestamp_ms;
  m->snapshots.push_back(std::move(s));
  if (!branch) return Status::Ok();
  SnapshotRef ref{id, "branch", {}, {}, {}};
  if (auto it = m->refs.find(*branch); it != m->refs.end()) {
    if (it->second.type != "branch") {
      return InvalidArgument("cannot commit " + what + " to \"" + *branch + "\": it is a tag");
    }
    ref = it->second;
    ref.snapshot_id = id;
  }
  return SetRefIn(m, *branch, std::move(ref), ts);
}

Status RemoveRefIn(TableMetadata* m, const std::string& name) {
  if (name == kMainBranch) m->current_snapshot_id.reset();
  m->refs.erase(name);
  return Status::Ok();
}

}  // namespace

Status AddSnapshot(TableMetadata* m, Snapshot snapshot, std::optional<std::string> branch) {
  TableMetadata next = *m;
  PG2I_RETURN_IF_ERROR(AddSnapshotIn(&next, std::move(snapshot), branch));
  *m = std::move(next);
  return Status::Ok();
}

Status SetSnapshotRef(TableMetadata* m, const std::string& name, SnapshotRef ref,
                      int64_t now_ms) {
  TableMetadata next = *m;
  PG2I_RETURN_IF_ERROR(SetRefIn(&next, name, std::move(ref), now_ms));
  *m = std::move(next);
  return Status::Ok();
}

Status RemoveSnapshotRef(TableMetadata* m, const std::string& name) {
  return RemoveRefIn(m, name);
}

Status RemoveSnapshots(TableMetadata* m, const std::vector<int64_t>& snapshot_ids) {
  std::set<int64_t> remove(snapshot_ids.begin(), snapshot_ids.end());
  if (m->current_snapshot_id && remove.count(*m->current_snapshot_id) > 0) {
    return InvalidArgument("cannot remove snapshot " + std::to_string(*m->current_snapshot_id) +
                           ": it is the current snapshot (head of main)");
  }
  std::erase_if(m->snapshots,
                [&](const Snapshot& s) { return remove.count(s.snapshot_id) > 0; });
  std::erase_if(m->refs, [&](const auto& kv) {
    return m->SnapshotById(kv.second.snapshot_id) == nullptr;
  });
  // An entry of a removed snapshot drops the history before it: otherwise the log would
  // claim that the next snapshot was current during the removed one's time.
  std::vector<SnapshotLogEntry> log;
  for (const SnapshotLogEntry& e : m->snapshot_log) {
    if (m->SnapshotById(e.snapshot_id) != nullptr) {
      log.push_back(e);
    } else {
      log.clear();
    }
  }
  m->snapshot_log = std::move(log);
  // Statistics files of removed snapshots go with them (unmodelled, so edited as JSON).
  for (const char* key : {"statistics", "partition-statistics"}) {
    auto it = m->extra.find(key);
    if (it == m->extra.end()) continue;
    Json files = json_internal::RawToJson(it->second);
    if (!files.is_array()) continue;
    Json kept = Json::array();
    for (const Json& file : files) {
      const Json* id = json_internal::Find(file, "snapshot-id");
      bool removed = id != nullptr && id->is_number_integer() &&
                     remove.count(id->get<int64_t>()) > 0;
      if (!removed) kept.push_back(file);
    }
    it->second = json_internal::Compact(kept);
  }
  return Status::Ok();
}

// ----- Schema evolution ----------------------------------------------------------------------

Result<int32_t> AddSchema(TableMetadata* m, Schema schema) {
  std::vector<Field> fields = schema.fields();
  int32_t last = m->last_column_id;
  AssignMissingIds(&fields, &last);
  Schema candidate(0, std::move(fields), schema.identifier_field_ids());
  PG2I_ASSIGN_OR_RETURN(FieldIndex index, IndexSchema(candidate));
  PG2I_RETURN_IF_ERROR(CheckTypesForVersion(index, m->format_version));
  PG2I_RETURN_IF_ERROR(CheckIdentifierFields(candidate, index));

  if (const Schema* current = m->CurrentSchema()) {
    PG2I_ASSIGN_OR_RETURN(FieldIndex old_index, IndexSchema(*current));
    for (const auto& [id, info] : index) {
      const Field& f = *info.field;
      auto old = old_index.find(id);
      if (old == old_index.end()) {
        if (id <= m->last_column_id) {
          return InvalidArgument(
              "schema evolution: column \"" + info.full_name + "\" has field id " +
              std::to_string(id) + ", which the table assigned before (last-column-id is " +
              std::to_string(m->last_column_id) +
              "); give new columns ids above it, or 0 to have one assigned");
        }
        bool parent_is_old = info.parent_id == 0 || old_index.count(info.parent_id) > 0;
        if (f.required && parent_is_old && !HasNonNullDefault(f.initial_default_json)) {
          return InvalidArgument(
              "schema evolution: new column \"" + info.full_name +
              "\" is required, which existing rows cannot satisfy; add it as optional" +
              (m->format_version >= 3 ? " or with an initial default" : ""));
        }
        continue;
      }
      const FieldInfo& was = old->second;
      if (was.parent_id != info.parent_id) {
        return InvalidArgument("schema evolution: column \"" + info.full_name + "\" (id " +
                               std::to_string(id) + ") moved from \"" + was.full_name +
                               "\"; fields cannot move to another struct");
      }
      const DataType& from = was.field->type;
      const DataType& to = f.type;
      bool ok = IsNested(from) || IsNested(to)
                    ? from.kind == to.kind
                    : CanPromote(from, to, m->format_version);
      if (!ok) {
        return InvalidArgument(
            "schema evolution: column \"" + info.full_name + "\" (id " + std::to_string(id) +
            ") cannot change from " + TypeText(from) + " to " + TypeText(to) +
            "; Iceberg allows only int to long, float to double and a wider decimal "
            "precision (same scale)");
      }
      if (!was.field->required && f.required) {
        return InvalidArgument("schema evolution: column \"" + info.full_name +
                               "\" cannot change from optional to required");
      }
    }
  }

  for (const Schema& s : m->schemas) {
    if (s.fields() == candidate.fields() &&
        s.identifier_field_ids() == candidate.identifier_field_ids()) {
      return s.schema_id();
    }
  }
  int32_t id = 0;
  for (const Schema& s : m->schemas) id = std::max(id, s.schema_id() + 1);
  m->schemas.emplace_back(id, candidate.fields(), candidate.identifier_field_ids());
  m->last_column_id = std::max(m->last_column_id, candidate.HighestFieldId());
  return id;
}

namespace {

// Source ids of the default spec (non-void fields) and default sort order that `schema`
// lacks.
Status CheckDefaultsAgainst(const TableMetadata& m, const Schema& schema) {
  if (const PartitionSpec* spec = m.DefaultSpec()) {
    for (const PartitionField& f : spec->fields) {
      if (f.transform == "void") continue;
      if (schema.FindById(f.source_id) == nullptr) {
        return InvalidArgument("schema " + std::to_string(schema.schema_id()) +
                               " lacks column id " + std::to_string(f.source_id) +
                               ", the source of partition field \"" + f.name +
                               "\" of the default spec; evolve the partition spec first");
      }
    }
  }
  for (const SortOrder& o : m.sort_orders) {
    if (o.order_id != m.default_sort_order_id) continue;
    for (const SortField& f : o.fields) {
      if (schema.FindById(f.source_id) == nullptr) {
        return InvalidArgument("schema " + std::to_string(schema.schema_id()) +
                               " lacks column id " + std::to_string(f.source_id) +
                               ", a source of the default sort order; change the sort order "
                               "first");
      }
    }
  }
  return Status::Ok();
}

}  // namespace

Status SetCurrentSchema(TableMetadata* m, int32_t schema_id) {
  const Schema* s = m->SchemaById(schema_id);
  if (s == nullptr) {
    return InvalidArgument("cannot make schema " + std::to_string(schema_id) +
                           " current: the table has no such schema");
  }
  PG2I_RETURN_IF_ERROR(CheckDefaultsAgainst(*m, *s));
  m->current_schema_id = schema_id;
  return Status::Ok();
}

// ----- Partition spec evolution --------------------------------------------------------------

Result<int32_t> AddPartitionSpec(TableMetadata* m, PartitionSpec spec) {
  const Schema* schema = m->CurrentSchema();
  if (schema == nullptr) {
    return InvalidArgument("cannot add a partition spec: the table has no current schema");
  }
  PG2I_ASSIGN_OR_RETURN(FieldIndex index, IndexSchema(*schema));
  // Names and transforms first, so that matching against earlier specs sees final values.
  for (PartitionField& f : spec.fields) {
    Result<Transform> t = Transform::Parse(f.transform);
    if (!t.ok()) {
      return InvalidArgument("partition field \"" + f.name + "\": " + t.status().message());
    }
    f.transform = t->ToString();
    auto src = index.find(f.source_id);
    if (f.name.empty() && src != index.end()) {
      f.name = DefaultPartitionName(src->second.full_name, *t);
    }
  }

  int32_t last = m->last_partition_id;
  bool any_unassigned = std::any_of(spec.fields.begin(), spec.fields.end(),
                                    [](const PartitionField& f) { return f.field_id <= 0; });
  if (m->format_version > 1) {
    std::map<std::pair<int32_t, std::string>, int32_t> known;
    for (const PartitionSpec& s : m->partition_specs) {
      for (const PartitionField& f : s.fields) {
        int32_t& id = known[{f.source_id, f.transform}];
        id = std::max(id, f.field_id);
      }
    }
    for (PartitionField& f : spec.fields) {
      if (f.field_id > 0) continue;
      auto it = known.find({f.source_id, f.transform});
      f.field_id = it != known.end() ? it->second : ++last;
    }
  } else if (any_unassigned) {
    // v1: partition tuples are positional, so the default spec's fields stay in place
    // (void when dropped) and new fields go at the end (Iceberg Java's v1 rule).
    std::vector<PartitionField> pending = spec.fields;
    std::set<std::string> new_names;
    for (const PartitionField& f : pending) new_names.insert(f.name);
    std::vector<PartitionField> out;
    if (const PartitionSpec* current = m->DefaultSpec()) {
      for (const PartitionField& old : current->fields) {
        auto it = std::find_if(pending.begin(), pending.end(), [&](const PartitionField& f) {
          return f.source_id == old.source_id && f.transform == old.transform;
        });
        if (it != pending.end()) {
          PartitionField kept = *it;
          kept.field_id = old.field_id;
          out.push_back(std::move(kept));
          pending.erase(it);
        } else {
          PartitionField dropped = old;
          dropped.transform = "void";
          if (new_names.count(old.name) > 0) {
            dropped.name = old.name + "_" + std::to_string(old.field_id);
          }
          out.push_back(std::move(dropped));
        }
      }
    }
    for (PartitionField& f : pending) {
      f.field_id = ++last;
      out.push_back(std::move(f));
    }
    spec.fields = std::move(out);
  }
  if (m->format_version == 1) {
    for (size_t i = 0; i < spec.fields.size(); ++i) {
      if (spec.fields[i].field_id != 1000 + static_cast<int32_t>(i)) {
        return InvalidArgument("partition spec: v1 tables need field ids 1000, 1001, … in "
                               "order; field \"" + spec.fields[i].name + "\" has " +
                               std::to_string(spec.fields[i].field_id));
      }
    }
  }
  PG2I_RETURN_IF_ERROR(CheckSpec(index, &spec));

  for (const PartitionSpec& s : m->partition_specs) {
    if (s.fields == spec.fields) return s.spec_id;
  }
  int32_t id = 0;
  for (const PartitionSpec& s : m->partition_specs) id = std::max(id, s.spec_id + 1);
  spec.spec_id = id;
  for (const PartitionField& f : spec.fields) last = std::max(last, f.field_id);
  m->last_partition_id = last;
  m->partition_specs.push_back(std::move(spec));
  return id;
}

Status SetDefaultSpec(TableMetadata* m, int32_t spec_id) {
  if (m->SpecById(spec_id) == nullptr) {
    return InvalidArgument("cannot make partition spec " + std::to_string(spec_id) +
                           " the default: the table has no such spec");
  }
  m->default_spec_id = spec_id;
  return Status::Ok();
}

Result<int32_t> AddSortOrder(TableMetadata* m, SortOrder order) {
  if (order.fields.empty()) {
    bool have = std::any_of(m->sort_orders.begin(), m->sort_orders.end(),
                            [](const SortOrder& o) { return o.order_id == 0; });
    if (!have) m->sort_orders.push_back(SortOrder{0, {}});
    return 0;
  }
  const Schema* schema = m->CurrentSchema();
  if (schema == nullptr) {
    return InvalidArgument("cannot add a sort order: the table has no current schema");
  }
  PG2I_ASSIGN_OR_RETURN(FieldIndex index, IndexSchema(*schema));
  PG2I_RETURN_IF_ERROR(CheckSortOrder(index, &order));
  int32_t id = 1;
  for (const SortOrder& o : m->sort_orders) {
    if (o.fields == order.fields) return o.order_id;
    id = std::max(id, o.order_id + 1);
  }
  order.order_id = id;
  m->sort_orders.push_back(std::move(order));
  return id;
}

Status SetDefaultSortOrder(TableMetadata* m, int32_t order_id) {
  if (std::none_of(m->sort_orders.begin(), m->sort_orders.end(),
                   [&](const SortOrder& o) { return o.order_id == order_id; })) {
    return InvalidArgument("cannot make sort order " + std::to_string(order_id) +
                           " the default: the table has no such order");
  }
  m->default_sort_order_id = order_id;
  return Status::Ok();
}

// ----- Properties and the rest ---------------------------------------------------------------

Status SetProperties(TableMetadata* m, const std::map<std::string, std::string>& updates) {
  for (const auto& [k, v] : updates) {
    if (ReservedProperties().count(k) > 0) {
      return InvalidArgument("table property \"" + k + "\" is reserved and not stored" +
                             (k == "format-version" ? "; upgrade the format version instead"
                                                    : ""));
    }
  }
  for (const auto& [k, v] : updates) m->properties[k] = v;
  return Status::Ok();
}

void RemoveProperties(TableMetadata* m, const std::vector<std::string>& keys) {
  for (const std::string& k : keys) m->properties.erase(k);
}

Status UpgradeFormatVersion(TableMetadata* m, int32_t format_version) {
  PG2I_RETURN_IF_ERROR(CheckVersion(format_version));
  if (format_version < m->format_version) {
    return InvalidArgument("cannot downgrade a v" + std::to_string(m->format_version) +
                           " table to v" + std::to_string(format_version));
  }
  if (format_version >= 3 && !m->next_row_id) m->next_row_id = 0;
  m->format_version = format_version;
  return Status::Ok();
}

Status AssignUuid(TableMetadata* m, const std::string& uuid) {
  if (uuid.empty()) return InvalidArgument("cannot assign an empty table UUID");
  if (!m->table_uuid.empty() && m->table_uuid != uuid) {
    return InvalidArgument("the table already has UUID " + m->table_uuid +
                           "; a UUID is assigned once, when the table is created");
  }
  m->table_uuid = uuid;
  return Status::Ok();
}

void SetLocation(TableMetadata* m, std::string location) {
  m->location = StripTrailingSlash(std::move(location));
}

Status AppendMetadataLog(TableMetadata* m, const std::string& previous_metadata_file,
                         int64_t previous_last_updated_ms) {
  int32_t max = kPreviousVersionsMaxDefault;
  if (auto it = m->properties.find(std::string(kPreviousVersionsMaxProperty));
      it != m->properties.end()) {
    PG2I_ASSIGN_OR_RETURN(
        max, ParsePositiveInt(it->second,
                              "table property " + std::string(kPreviousVersionsMaxProperty)));
  }
  max = std::max(max, 1);
  m->metadata_log.push_back(MetadataLogEntry{previous_last_updated_ms, previous_metadata_file});
  if (m->metadata_log.size() > static_cast<size_t>(max)) {
    m->metadata_log.erase(m->metadata_log.begin(),
                          m->metadata_log.end() - static_cast<ptrdiff_t>(max));
  }
  return Status::Ok();
}

// ----- Validation ----------------------------------------------------------------------------

Status ValidateTableMetadata(const TableMetadata& m) {
  PG2I_RETURN_IF_ERROR(CheckVersion(m.format_version));
  if (m.format_version > 1 && m.table_uuid.empty()) {
    return InvalidArgument("table metadata: v" + std::to_string(m.format_version) +
                           " tables need a table UUID");
  }
  const Schema* schema = m.CurrentSchema();
  if (schema == nullptr) {
    return InvalidArgument("table metadata: current schema " +
                           std::to_string(m.current_schema_id) + " does not exist");
  }
  for (const Schema& s : m.schemas) {
    if (s.HighestFieldId() > m.last_column_id) {
      return InvalidArgument("table metadata: schema " + std::to_string(s.schema_id()) +
                             " uses field id " + std::to_string(s.HighestFieldId()) +
                             ", above last-column-id " + std::to_string(m.last_column_id));
    }
  }
  if (m.DefaultSpec() == nullptr) {
    return InvalidArgument("table metadata: default partition spec " +
                           std::to_string(m.default_spec_id) + " does not exist");
  }
  for (const PartitionSpec& s : m.partition_specs) {
    for (const PartitionField& f : s.fields) {
      if (f.field_id > m.last_partition_id) {
        return InvalidArgument("table metadata: partition field id " +
                               std::to_string(f.field_id) + " is above last-partition-id " +
                               std::to_string(m.last_partition_id));
      }
    }
  }
  if (std::none_of(m.sort_orders.begin(), m.sort_orders.end(),
                   [&](const SortOrder& o) { return o.order_id == m.default_sort_order_id; })) {
    return InvalidArgument("table metadata: default sort order " +
                           std::to_string(m.default_sort_order_id) + " does not exist");
  }
  PG2I_RETURN_IF_ERROR(CheckDefaultsAgainst(m, *schema));
  for (const Snapshot& s : m.snapshots) {
    if (s.sequence_number > m.last_sequence_number) {
      return InvalidArgument("table metadata: snapshot " + std::to_string(s.snapshot_id) +
                             " has sequence number " + std::to_string(s.sequence_number) +
                             ", above last-sequence-number " +
                             std::to_string(m.last_sequence_number));
    }
  }
  if (m.current_snapshot_id && m.CurrentSnapshot() == nullptr) {
    return InvalidArgument("table metadata: current snapshot " +
                           std::to_string(*m.current_snapshot_id) + " does not exist");
  }
  for (const auto& [name, ref] : m.refs) {
    if (m.SnapshotById(ref.snapshot_id) == nullptr) {
      return InvalidArgument("table metadata: ref \"" + name + "\" points at snapshot " +
                             std::to_string(ref.snapshot_id) + ", which does not exist");
    }
  }
  // As Iceberg Java: main, when present, is the current snapshot (tables written before refs
  // existed may have a current snapshot and no main).
  auto main = m.refs.find(std::string(kMainBranch));
  if (main != m.refs.end() &&
      (!m.current_snapshot_id || *m.current_snapshot_id != main->second.snapshot_id)) {
    return InvalidArgument("table metadata: branch main and current-snapshot-id disagree");
  }
  return Status::Ok();
}

// ----- The REST commit model -----------------------------------------------------------------

namespace {

struct ActionName {
  TableUpdate::Action action;
  std::string_view name;
};

constexpr ActionName kActions[] = {
    {TableUpdate::Action::kAssignUuid, "assign-uuid"},
    {TableUpdate::Action::kUpgradeFormatVersion, "upgrade-format-version"},
    {TableUpdate::Action::kAddSchema, "add-schema"},
    {TableUpdate::Action::kSetCurrentSchema, "set-current-schema"},
    {TableUpdate::Action::kAddSpec, "add-spec"},
    {TableUpdate::Action::kSetDefaultSpec, "set-default-spec"},
    {TableUpdate::Action::kAddSortOrder, "add-sort-order"},
    {TableUpdate::Action::kSetDefaultSortOrder, "set-default-sort-order"},
    {TableUpdate::Action::kAddSnapshot, "add-snapshot"},
    {TableUpdate::Action::kSetSnapshotRef, "set-snapshot-ref"},
    {TableUpdate::Action::kRemoveSnapshots, "remove-snapshots"},
    {TableUpdate::Action::kRemoveSnapshotRef, "remove-snapshot-ref"},
    {TableUpdate::Action::kSetLocation, "set-location"},
    {TableUpdate::Action::kSetProperties, "set-properties"},
    {TableUpdate::Action::kRemoveProperties, "remove-properties"},
};

struct RequirementName {
  TableRequirement::Kind kind;
  std::string_view name;
  std::string_view value_key;  // the int member's JSON key, if any
};

constexpr RequirementName kRequirements[] = {
    {TableRequirement::Kind::kAssertCreate, "assert-create", ""},
    {TableRequirement::Kind::kAssertTableUuid, "assert-table-uuid", ""},
    {TableRequirement::Kind::kAssertRefSnapshotId, "assert-ref-snapshot-id", ""},
    {TableRequirement::Kind::kAssertLastAssignedFieldId, "assert-last-assigned-field-id",
     "last-assigned-field-id"},
    {TableRequirement::Kind::kAssertCurrentSchemaId, "assert-current-schema-id",
     "current-schema-id"},
    {TableRequirement::Kind::kAssertLastAssignedPartitionId,
     "assert-last-assigned-partition-id", "last-assigned-partition-id"},
    {TableRequirement::Kind::kAssertDefaultSpecId, "assert-default-spec-id", "default-spec-id"},
    {TableRequirement::Kind::kAssertDefaultSortOrderId, "assert-default-sort-order-id",
     "default-sort-order-id"},
};

const RequirementName& RequirementInfo(TableRequirement::Kind kind) {
  for (const RequirementName& r : kRequirements) {
    if (r.kind == kind) return r;
  }
  return kRequirements[0];
}

Json UpdateToJsonValue(const TableUpdate& u, int32_t format_version) {
  using A = TableUpdate::Action;
  Json j = Json::object();
  j["action"] = std::string(u.ActionName());
  switch (u.action) {
    case A::kAssignUuid: j["uuid"] = u.uuid; break;
    case A::kUpgradeFormatVersion: j["format-version"] = u.format_version; break;
    case A::kAddSchema:
      j["schema"] = json_internal::SchemaToJson(u.schema);
      if (u.last_column_id) j["last-column-id"] = *u.last_column_id;
      break;
    case A::kSetCurrentSchema: j["schema-id"] = u.id; break;
    case A::kAddSpec: j["spec"] = json_internal::SpecToJson(u.spec); break;
    case A::kSetDefaultSpec: j["spec-id"] = u.id; break;
    case A::kAddSortOrder:
      j["sort-order"] = json_internal::SortOrderToJson(u.sort_order);
      break;
    case A::kSetDefaultSortOrder: j["sort-order-id"] = u.id; break;
    case A::kAddSnapshot:
      j["snapshot"] = json_internal::SnapshotToJson(u.snapshot, format_version);
      break;
    case A::kSetSnapshotRef: {
      j["ref-name"] = u.ref_name;
      Json r = json_internal::RefToJson(u.ref);
      for (auto it = r.begin(); it != r.end(); ++it) j[it.key()] = it.value();
      break;
    }
    case A::kRemoveSnapshots: j["snapshot-ids"] = u.snapshot_ids; break;
    case A::kRemoveSnapshotRef: j["ref-name"] = u.ref_name; break;
    case A::kSetLocation: j["location"] = u.location; break;
    case A::kSetProperties: {
      Json o = Json::object();
      for (const auto& [k, v] : u.updates) o[k] = v;
      j["updates"] = std::move(o);
      break;
    }
    case A::kRemoveProperties: j["removals"] = u.removals; break;
  }
  return j;
}

Json RequirementToJsonValue(const TableRequirement& r) {
  using K = TableRequirement::Kind;
  Json j = Json::object();
  j["type"] = std::string(r.TypeName());
  switch (r.kind) {
    case K::kAssertCreate: break;
    case K::kAssertTableUuid: j["uuid"] = r.uuid; break;
    case K::kAssertRefSnapshotId:
      j["ref"] = r.ref;
      j["snapshot-id"] = r.snapshot_id ? Json(*r.snapshot_id) : Json(nullptr);
      break;
    default: j[std::string(RequirementInfo(r.kind).value_key)] = r.value; break;
  }
  return j;
}

Result<TableUpdate> UpdateFromJson(const Json& j, const std::string& path) {
  using namespace json_internal;  // NOLINT(google-build-using-namespace)
  using A = TableUpdate::Action;
  const Ctx c{"table update"};
  PG2I_RETURN_IF_ERROR(ExpectObject(c, j, path));
  PG2I_ASSIGN_OR_RETURN(std::string name, GetString(c, j, "action", path));
  TableUpdate u;
  bool found = false;
  for (const ActionName& a : kActions) {
    if (a.name == name) {
      u.action = a.action;
      found = true;
    }
  }
  if (!found) {
    return Unimplemented("table update: action \"" + name + "\" at \"" +
                         JoinPath(path, "action") + "\" is not supported by this build");
  }
  switch (u.action) {
    case A::kAssignUuid: {
      PG2I_ASSIGN_OR_RETURN(u.uuid, GetString(c, j, "uuid", path));
      break;
    }
    case A::kUpgradeFormatVersion: {
      PG2I_ASSIGN_OR_RETURN(u.format_version, GetInt(c, j, "format-version", path));
      break;
    }
    case A::kAddSchema: {
      PG2I_ASSIGN_OR_RETURN(const Json* s, Require(c, j, "schema", path));
      PG2I_ASSIGN_OR_RETURN(u.schema, ParseSchemaJson(c, *s, JoinPath(path, "schema")));
      PG2I_ASSIGN_OR_RETURN(u.last_column_id, OptInt(c, j, "last-column-id", path));
      break;
    }
    case A::kSetCurrentSchema: {
      PG2I_ASSIGN_OR_RETURN(u.id, GetInt(c, j, "schema-id", path));
      break;
    }
    case A::kAddSpec: {
      PG2I_ASSIGN_OR_RETURN(const Json* s, Require(c, j, "spec", path));
      PG2I_ASSIGN_OR_RETURN(u.spec, ParseSpecJson(c, *s, JoinPath(path, "spec"),
                                                  MissingFieldId::kUnassigned));
      break;
    }
    case A::kSetDefaultSpec: {
      PG2I_ASSIGN_OR_RETURN(u.id, GetInt(c, j, "spec-id", path));
      break;
    }
    case A::kAddSortOrder: {
      PG2I_ASSIGN_OR_RETURN(const Json* s, Require(c, j, "sort-order", path));
      PG2I_ASSIGN_OR_RETURN(u.sort_order,
                            ParseSortOrderJson(c, *s, JoinPath(path, "sort-order")));
      break;
    }
    case A::kSetDefaultSortOrder: {
      PG2I_ASSIGN_OR_RETURN(u.id, GetInt(c, j, "sort-order-id", path));
      break;
    }
    case A::kAddSnapshot: {
      PG2I_ASSIGN_OR_RETURN(const Json* s, Require(c, j, "snapshot", path));
      PG2I_ASSIGN_OR_RETURN(u.snapshot, ParseSnapshotJson(c, *s, JoinPath(path, "snapshot")));
      break;
    }
    case A::kSetSnapshotRef: {
      PG2I_ASSIGN_OR_RETURN(u.ref_name, GetString(c, j, "ref-name", path));
      PG2I_ASSIGN_OR_RETURN(u.ref, ParseRefJson(c, j, path));
      break;
    }
    case A::kRemoveSnapshots: {
      PG2I_ASSIGN_OR_RETURN(const Json* ids, GetArray(c, j, "snapshot-ids", path));
      for (size_t i = 0; i < ids->size(); ++i) {
        PG2I_ASSIGN_OR_RETURN(
            int64_t id, AsLong(c, (*ids)[i], IndexPath(JoinPath(path, "snapshot-ids"), i)));
        u.snapshot_ids.push_back(id);
      }
      break;
    }
    case A::kRemoveSnapshotRef: {
      PG2I_ASSIGN_OR_RETURN(u.ref_name, GetString(c, j, "ref-name", path));
      break;
    }
    case A::kSetLocation: {
      PG2I_ASSIGN_OR_RETURN(u.location, GetString(c, j, "location", path));
      break;
    }
    case A::kSetProperties: {
      PG2I_ASSIGN_OR_RETURN(const Json* o, Require(c, j, "updates", path));
      PG2I_ASSIGN_OR_RETURN(u.updates, AsStringMap(c, *o, JoinPath(path, "updates")));
      break;
    }
    case A::kRemoveProperties: {
      PG2I_ASSIGN_OR_RETURN(const Json* keys, GetArray(c, j, "removals", path));
      for (size_t i = 0; i < keys->size(); ++i) {
        PG2I_ASSIGN_OR_RETURN(
            std::string k, AsString(c, (*keys)[i], IndexPath(JoinPath(path, "removals"), i)));
        u.removals.push_back(std::move(k));
      }
      break;
    }
  }
  return u;
}

Result<TableRequirement> RequirementFromJson(const Json& j, const std::string& path) {
  using namespace json_internal;  // NOLINT(google-build-using-namespace)
  using K = TableRequirement::Kind;
  const Ctx c{"table requirement"};
  PG2I_RETURN_IF_ERROR(ExpectObject(c, j, path));
  PG2I_ASSIGN_OR_RETURN(std::string name, GetString(c, j, "type", path));
  const RequirementName* info = nullptr;
  for (const RequirementName& r : kRequirements) {
    if (r.name == name) info = &r;
  }
  if (info == nullptr) {
    return Unimplemented("table requirement: type \"" + name + "\" at \"" +
                         JoinPath(path, "type") + "\" is not supported by this build");
  }
  TableRequirement r;
  r.kind = info->kind;
  switch (r.kind) {
    case K::kAssertCreate: break;
    case K::kAssertTableUuid: {
      PG2I_ASSIGN_OR_RETURN(r.uuid, GetString(c, j, "uuid", path));
      break;
    }
    case K::kAssertRefSnapshotId: {
      PG2I_ASSIGN_OR_RETURN(r.ref, GetString(c, j, "ref", path));
      PG2I_ASSIGN_OR_RETURN(r.snapshot_id, OptLong(c, j, "snapshot-id", path));
      break;
    }
    default: {
      PG2I_ASSIGN_OR_RETURN(r.value, GetInt(c, j, info->value_key, path));
      break;
    }
  }
  return r;
}

template <typename T, typename F>
Result<std::vector<T>> ParseArray(std::string_view text, std::string_view what, F&& parse_one) {
  PG2I_ASSIGN_OR_RETURN(Json doc, json_internal::ParseText(text, what));
  if (!doc.is_array()) {
    return json_internal::Malformed(what, "(document)", "an array", doc);
  }
  std::vector<T> out;
  for (size_t i = 0; i < doc.size(); ++i) {
    PG2I_ASSIGN_OR_RETURN(T v, parse_one(doc[i], json_internal::IndexPath("", i)));
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace

TableUpdate TableUpdate::AssignUuid(std::string uuid) {
  TableUpdate u;
  u.action = Action::kAssignUuid;
  u.uuid = std::move(uuid);
  return u;
}
TableUpdate TableUpdate::UpgradeFormatVersion(int32_t format_version) {
  TableUpdate u;
  u.action = Action::kUpgradeFormatVersion;
  u.format_version = format_version;
  return u;
}
TableUpdate TableUpdate::AddSchema(Schema schema, std::optional<int32_t> last_column_id) {
  TableUpdate u;
  u.action = Action::kAddSchema;
  u.schema = std::move(schema);
  u.last_column_id = last_column_id;
  return u;
}
TableUpdate TableUpdate::SetCurrentSchema(int32_t schema_id) {
  TableUpdate u;
  u.action = Action::kSetCurrentSchema;
  u.id = schema_id;
  return u;
}
TableUpdate TableUpdate::AddSpec(PartitionSpec spec) {
  TableUpdate u;
  u.action = Action::kAddSpec;
  u.spec = std::move(spec);
  return u;
}
TableUpdate TableUpdate::SetDefaultSpec(int32_t spec_id) {
  TableUpdate u;
  u.action = Action::kSetDefaultSpec;
  u.id = spec_id;
  return u;
}
TableUpdate TableUpdate::AddSortOrder(SortOrder order) {
  TableUpdate u;
  u.action = Action::kAddSortOrder;
  u.sort_order = std::move(order);
  return u;
}
TableUpdate TableUpdate::SetDefaultSortOrder(int32_t order_id) {
  TableUpdate u;
  u.action = Action::kSetDefaultSortOrder;
  u.id = order_id;
  return u;
}
TableUpdate TableUpdate::AddSnapshot(Snapshot snapshot) {
  TableUpdate u;
  u.action = Action::kAddSnapshot;
  u.snapshot = std::move(snapshot);
  return u;
}
TableUpdate TableUpdate::SetSnapshotRef(std::string name, SnapshotRef ref) {
  TableUpdate u;
  u.action = Action::kSetSnapshotRef;
  u.ref_name = std::move(name);
  u.ref = std::move(ref);
  return u;
}
TableUpdate TableUpdate::RemoveSnapshots(std::vector<int64_t> snapshot_ids) {
  TableUpdate u;
  u.action = Action::kRemoveSnapshots;
  u.snapshot_ids = std::move(snapshot_ids);
  return u;
}
TableUpdate TableUpdate::RemoveSnapshotRef(std::string name) {
  TableUpdate u;
  u.action = Action::kRemoveSnapshotRef;
  u.ref_name = std::move(name);
  return u;
}
TableUpdate TableUpdate::SetLocation(std::string location) {
  TableUpdate u;
  u.action = Action::kSetLocation;
  u.location = std::move(location);
  return u;
}
TableUpdate TableUpdate::SetProperties(std::map<std::string, std::string> updates) {
  TableUpdate u;
  u.action = Action::kSetProperties;
  u.updates = std::move(updates);
  return u;
}
TableUpdate TableUpdate::RemoveProperties(std::vector<std::string> removals) {
  TableUpdate u;
  u.action = Action::kRemoveProperties;
  u.removals = std::move(removals);
  return u;
}

std::string_view TableUpdate::ActionName() const {
  for (const auto& a : kActions) {
    if (a.action == action) return a.name;
  }
  return "unknown";
}

std::string TableUpdate::ToJson(int32_t format_version) const {
  return json_internal::Compact(UpdateToJsonValue(*this, format_version));
}

TableRequirement TableRequirement::AssertCreate() { return TableRequirement{}; }
TableRequirement TableRequirement::AssertTableUuid(std::string uuid) {
  TableRequirement r;
  r.kind = Kind::kAssertTableUuid;
  r.uuid = std::move(uuid);
  return r;
}
TableRequirement TableRequirement::AssertRefSnapshotId(std::string ref,
                                                       std::optional<int64_t> snapshot_id) {
  TableRequirement r;
  r.kind = Kind::kAssertRefSnapshotId;
  r.ref = std::move(ref);
  r.snapshot_id = snapshot_id;
  return r;
}
TableRequirement TableRequirement::AssertLastAssignedFieldId(int32_t id) {
  TableRequirement r;
  r.kind = Kind::kAssertLastAssignedFieldId;
  r.value = id;
  return r;
}
TableRequirement TableRequirement::AssertCurrentSchemaId(int32_t id) {
  TableRequirement r;
  r.kind = Kind::kAssertCurrentSchemaId;
  r.value = id;
  return r;
}
TableRequirement TableRequirement::AssertLastAssignedPartitionId(int32_t id) {
  TableRequirement r;
  r.kind = Kind::kAssertLastAssignedPartitionId;
  r.value = id;
  return r;
}
TableRequirement TableRequirement::AssertDefaultSpecId(int32_t id) {
  TableRequirement r;
  r.kind = Kind::kAssertDefaultSpecId;
  r.value = id;
  return r;
}
TableRequirement TableRequirement::AssertDefaultSortOrderId(int32_t id) {
  TableRequirement r;
  r.kind = Kind::kAssertDefaultSortOrderId;
  r.value = id;
  return r;
}

std::string_view TableRequirement::TypeName() const { return RequirementInfo(kind).name; }

std::string TableRequirement::ToJson() const {
  return json_internal::Compact(RequirementToJsonValue(*this));
}

std::string UpdatesToJson(const std::vector<TableUpdate>& updates, int32_t format_version) {
  Json arr = Json::array();
  for (const TableUpdate& u : updates) arr.push_back(UpdateToJsonValue(u, format_version));
  return json_internal::Compact(arr);
}

std::string RequirementsToJson(const std::vector<TableRequirement>& requirements) {
  Json arr = Json::array();
  for (const TableRequirement& r : requirements) arr.push_back(RequirementToJsonValue(r));
  return json_internal::Compact(arr);
}

Result<TableUpdate> ParseTableUpdate(std::string_view json) {
  PG2I_ASSIGN_OR_RETURN(Json doc, json_internal::ParseText(json, "table update"));
  return UpdateFromJson(doc, "");
}

Result<TableRequirement> ParseTableRequirement(std::string_view json) {
  PG2I_ASSIGN_OR_RETURN(Json doc, json_internal::ParseText(json, "table requirement"));
  return RequirementFromJson(doc, "");
}

Result<std::vector<TableUpdate>> ParseTableUpdates(std::string_view json_array) {
  return ParseArray<TableUpdate>(json_array, "table updates", UpdateFromJson);
}

Result<std::vector<TableRequirement>> ParseTableRequirements(std::string_view json_array) {
  return ParseArray<TableRequirement>(json_array, "table requirements", RequirementFromJson);
}

Status CheckRequirements(const TableMetadata* current,
                         const std::vector<TableRequirement>& requirements) {
  using K = TableRequirement::Kind;
  auto failed = [](const TableRequirement& r, const std::string& detail) {
    return Aborted("commit requirement " + std::string(r.TypeName()) + " failed: " + detail +
                   "; re-read the table and retry");
  };
  auto mismatch = [&](const TableRequirement& r, std::string_view what, int64_t found) {
    return failed(r, std::string(what) + " is " + std::to_string(found) + ", expected " +
                         std::to_string(r.value));
  };
  for (const TableRequirement& r : requirements) {
    if (r.kind == K::kAssertCreate) {
      if (current != nullptr) return failed(r, "the table already exists");
      continue;
    }
    if (current == nullptr) return failed(r, "the table does not exist");
    const TableMetadata& m = *current;
    switch (r.kind) {
      case K::kAssertCreate: break;
      case K::kAssertTableUuid: {
        auto lower = [](std::string s) {
          std::transform(s.begin(), s.end(), s.begin(),
                         [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
          return s;
        };
        if (lower(m.table_uuid) != lower(r.uuid)) {
          return failed(r, "the table UUID is " + m.table_uuid + ", expected " + r.uuid +
                               " (the table was replaced)");
        }
        break;
      }
      case K::kAssertRefSnapshotId: {
        auto it = m.refs.find(r.ref);
        if (!r.snapshot_id) {
          if (it != m.refs.end()) {
            return failed(r, "ref \"" + r.ref + "\" exists (at snapshot " +
                                 std::to_string(it->second.snapshot_id) +
                                 "), expected it not to");
          }
        } else if (it == m.refs.end()) {
          return failed(r, "ref \"" + r.ref + "\" does not exist, expected snapshot " +
                               std::to_string(*r.snapshot_id));
        } else if (it->second.snapshot_id != *r.snapshot_id) {
          return failed(r, "ref \"" + r.ref + "\" is at snapshot " +
                               std::to_string(it->second.snapshot_id) + ", expected " +
                               std::to_string(*r.snapshot_id));
        }
        break;
      }
      case K::kAssertLastAssignedFieldId:
        if (m.last_column_id != r.value) {
          return mismatch(r, "last-column-id", m.last_column_id);
        }
        break;
      case K::kAssertCurrentSchemaId:
        if (m.current_schema_id != r.value) {
          return mismatch(r, "current-schema-id", m.current_schema_id);
        }
        break;
      case K::kAssertLastAssignedPartitionId:
        if (m.last_partition_id != r.value) {
          return mismatch(r, "last-partition-id", m.last_partition_id);
        }
        break;
      case K::kAssertDefaultSpecId:
        if (m.default_spec_id != r.value) {
          return mismatch(r, "default-spec-id", m.default_spec_id);
        }
        break;
      case K::kAssertDefaultSortOrderId:
        if (m.default_sort_order_id != r.value) {
          return mismatch(r, "default-sort-order-id", m.default_sort_order_id);
        }
        break;
    }
  }
  return Status::Ok();
}

Status ApplyUpdates(TableMetadata* m, const std::vector<TableUpdate>& updates, int64_t now_ms) {
  using A = TableUpdate::Action;
  TableMetadata next = *m;
  std::optional<int32_t> last_schema;
  std::optional<int32_t> last_spec;
  std::optional<int32_t> last_order;
  std::map<int64_t, int64_t> added;  // snapshot id → timestamp, added in this commit
  std::optional<int64_t> last_added_ts;
  std::set<int64_t> set_on_main;
  auto last_added = [](const std::optional<int32_t>& id, int32_t requested,
                       std::string_view what) -> Result<int32_t> {
    if (requested != -1) return requested;
    if (!id) {
      return InvalidArgument(std::string("cannot set the last added ") + std::string(what) +
                             ": none was added in this commit");
    }
    return *id;
  };
  for (size_t i = 0; i < updates.size(); ++i) {
    const TableUpdate& u = updates[i];
    Status st;
    switch (u.action) {
      case A::kAssignUuid: st = AssignUuid(&next, u.uuid); break;
      case A::kUpgradeFormatVersion: st = UpgradeFormatVersion(&next, u.format_version); break;
      case A::kAddSchema: {
        if (u.last_column_id && *u.last_column_id < next.last_column_id) {
          st = InvalidArgument("add-schema: last-column-id " +
                               std::to_string(*u.last_column_id) + " is below the table's " +
                               std::to_string(next.last_column_id));
          break;
        }
        Result<int32_t> id = AddSchema(&next, u.schema);
        if (!id.ok()) {
          st = id.status();
          break;
        }
        last_schema = *id;
        if (u.last_column_id) {
          next.last_column_id = std::max(next.last_column_id, *u.last_column_id);
        }
        break;
      }
      case A::kSetCurrentSchema: {
        Result<int32_t> id = last_added(last_schema, u.id, "schema");
        st = id.ok() ? SetCurrentSchema(&next, *id) : id.status();
        break;
      }
      case A::kAddSpec: {
        Result<int32_t> id = AddPartitionSpec(&next, u.spec);
        if (id.ok()) last_spec = *id;
        st = id.ok() ? Status::Ok() : id.status();
        break;
      }
      case A::kSetDefaultSpec: {
        Result<int32_t> id = last_added(last_spec, u.id, "partition spec");
        st = id.ok() ? SetDefaultSpec(&next, *id) : id.status();
        break;
      }
      case A::kAddSortOrder: {
        Result<int32_t> id = AddSortOrder(&next, u.sort_order);
        if (id.ok()) last_order = *id;
        st = id.ok() ? Status::Ok() : id.status();
        break;
      }
      case A::kSetDefaultSortOrder: {
        Result<int32_t> id = last_added(last_order, u.id, "sort order");
        st = id.ok() ? SetDefaultSortOrder(&next, *id) : id.status();
        break;
      }
      case A::kAddSnapshot:
        st = AddSnapshotIn(&next, u.snapshot, std::nullopt);
        if (st.ok()) {
          added[u.snapshot.snapshot_id] = u.snapshot.timestamp_ms;
          last_added_ts = u.snapshot.timestamp_ms;
        }
        break;
      case A::kSetSnapshotRef: {
        auto it = added.find(u.ref.snapshot_id);
        st = SetRefIn(&next, u.ref_name, u.ref, it != added.end() ? it->second : now_ms);
        if (st.ok() && u.ref_name == kMainBranch && it != added.end()) {
          set_on_main.insert(u.ref.snapshot_id);
        }
        break;
      }
      case A::kRemoveSnapshots: st = RemoveSnapshots(&next, u.snapshot_ids); break;
      case A::kRemoveSnapshotRef: st = RemoveRefIn(&next, u.ref_name); break;
      case A::kSetLocation: SetLocation(&next, u.location); break;
      case A::kSetProperties: st = SetProperties(&next, u.updates); break;
      case A::kRemoveProperties: RemoveProperties(&next, u.removals); break;
    }
    if (!st.ok()) {
      return st.WithContext("update " + std::to_string(i) + " (" + std::string(u.ActionName()) +
                            ")");
    }
  }
  // Snapshots added here that headed main only in passing are not history.
  std::set<int64_t> intermediate;
  for (int64_t id : set_on_main) {
    if (!next.current_snapshot_id || *next.current_snapshot_id != id) intermediate.insert(id);
  }
  DropLogEntries(&next, intermediate);
  next.last_updated_ms = last_added_ts.value_or(now_ms);
  PG2I_RETURN_IF_ERROR(ValidateTableMetadata(next));
  *m = std::move(next);
  return Status::Ok();
}

}  // namespace pg2iceberg::iceberg
