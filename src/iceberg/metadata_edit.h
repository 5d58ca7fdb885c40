// Pure edits of Iceberg table metadata (metadata.h), as the writers and the catalogs make
// them: create a table, add a snapshot and move a branch, evolve the schema and the partition
// spec, set properties, expire snapshots, keep the metadata log; and the REST catalog's
// commit model — a list of TableRequirement (what the base metadata must still look like)
// and a list of TableUpdate (what to change) — with their JSON and with CheckRequirements /
// ApplyUpdates, so that a catalog without a REST server (the SQL catalog) gives commits the
// same semantics. See docs/metadata.md.
//
// Rules follow the table spec and, where the spec leaves room, Iceberg Java's
// TableMetadata.Builder (id reuse, snapshot log upkeep, metadata log cap).
//
// Every edit either succeeds or leaves the metadata unchanged. Errors:
//   InvalidArgument     the edit is not allowed (illegal type change, unknown snapshot, …);
//                       the message says what and why
//   Aborted             CheckRequirements: the table no longer matches a requirement;
//                       re-read the table, redo the change and retry
// No I/O, no clock (callers pass now_ms), not synchronised.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "iceberg/metadata.h"
#include "iceberg/transform.h"

namespace pg2iceberg::iceberg {

inline constexpr std::string_view kMainBranch = "main";
// Table property capping the metadata log, and its default (Iceberg Java's).
inline constexpr std::string_view kPreviousVersionsMaxProperty =
    "write.metadata.previous-versions-max";
inline constexpr int32_t kPreviousVersionsMaxDefault = 100;
// The highest format version this build reads and writes.
inline constexpr int32_t kMaxFormatVersion = 3;

// ----- Creating a table ----------------------------------------------------------------------

struct NewTableOptions {
  // 1, 2 or 3. A "format-version" entry in the properties overrides it (and is removed
  // from them, as it is not a stored property).
  int32_t format_version = 2;
  // Unsorted by default; source ids refer to the schema as passed to NewTableMetadata.
  SortOrder sort_order;
};

// Metadata of a new, empty table. The schema's field ids are reassigned 1..n the way
// Iceberg Java does (each struct's fields first, then nested types), and the partition spec,
// sort order and identifier fields are carried over by column name, so the ids of `schema`
// only need to be unique. Partition fields get ids 1000.. in order; an empty name is
// generated as Iceberg Java's spec builder does ("id_bucket", "ts_day", …). Errors:
// InvalidArgument for duplicate names or ids, identifier fields that cannot be identifiers
// (optional, float/double, inside a list or map), types the format version lacks, partition
// or sort fields whose source is missing or whose transform does not apply.
Result<TableMetadata> NewTableMetadata(std::string location, const Schema& schema,
                                       const PartitionSpec& spec,
                                       std::map<std::string, std::string> properties,
                                       std::string table_uuid, int64_t now_ms,
                                       const NewTableOptions& options = {});

// ----- Snapshots and refs --------------------------------------------------------------------

// The sequence number the next snapshot gets (last + 1; always 0 in v1): manifest lists and
// manifests written for a commit carry it, so writers read it before writing them.
int64_t NextSequenceNumber(const TableMetadata& m);

// Adds a snapshot and, unless branch is nullopt, points that branch at it (creating it);
// for "main" this also sets current-snapshot-id and appends to the snapshot log.
// sequence_number 0 means "assign NextSequenceNumber(m)"; otherwise it must be above the
// table's last sequence number (v2+). last-sequence-number follows, last-updated-ms becomes
// the snapshot's timestamp. schema_id defaults to the current schema. v3: first_row_id
// defaults to the table's next-row-id (an explicit one may not be below it), added_rows is
// required, and next-row-id advances by it. Errors: duplicate snapshot id, a tag named
// `branch`, the rules above.
Status AddSnapshot(TableMetadata* m, Snapshot snapshot,
                   std::optional<std::string> branch = std::string(kMainBranch));

// Creates or moves a branch or tag to an existing snapshot (REST set-snapshot-ref). For main:
// must be a branch; sets current-snapshot-id and logs (now_ms, id) in the snapshot log.
// A ref equal to the existing one is a no-op. last-updated-ms becomes now_ms.
Status SetSnapshotRef(TableMetadata* m, const std::string& name, SnapshotRef ref,
                      int64_t now_ms);
// Removes a ref (no-op when absent); removing main clears current-snapshot-id.
Status RemoveSnapshotRef(TableMetadata* m, const std::string& name);

// Expiry: removes the snapshots (unknown ids are ignored), the refs left pointing at none of
// the remaining snapshots, and the snapshot-log history up to the last entry of a removed
// snapshot (so the log has no gaps, as Iceberg Java does), and the statistics and partition
// statistics files of removed snapshots (kept in `extra`). The current snapshot is never
// removed: asking for it is InvalidArgument.
Status RemoveSnapshots(TableMetadata* m, const std::vector<int64_t>& snapshot_ids);

// ----- Schema, partition spec and sort order evolution ---------------------------------------

// Adds a schema evolved from the current one and returns its id (the id of an identical
// existing schema is reused; schema_id in `schema` is ignored). Allowed: new columns (ids
// above last-column-id, or id <= 0 for "assign the next free ids"; optional, or required with
// an initial default in v3), dropped columns, renames, required → optional, type promotion
// int → long, float → double, decimal(P,S) → decimal(P',S) with P' >= P, and (v3) unknown →
// anything. Anything else — narrowing, changing a type's kind, optional → required, moving a
// field to another parent, reusing a retired id — is InvalidArgument naming the column.
// last-column-id advances to the highest id. The current schema does not change.
Result<int32_t> AddSchema(TableMetadata* m, Schema schema);
// Makes an existing schema current. InvalidArgument if it is unknown, or if the default
// partition spec or sort order uses a column the schema no longer has.
Status SetCurrentSchema(TableMetadata* m, int32_t schema_id);

// Adds a partition spec for the current schema and returns its id (an identical existing
// spec's id is reused). Field ids <= 0 are assigned as Iceberg Java does: v2+ reuses the id
// of a field with the same source and transform in any earlier spec, else last-partition-id
// + 1; v1 keeps the default spec's fields in place (replaced by void when dropped) and
// appends new ones. Empty names are generated (see NewTableMetadata). InvalidArgument for a
// missing source column, a transform that does not apply, duplicate names, or a name that is
// another column's name.
Result<int32_t> AddPartitionSpec(TableMetadata* m, PartitionSpec spec);
// Whether a column of type `from` may be changed to `to` in place (the spec's type promotions:
// int → long, float → double, decimal(P,S) → decimal(P2,S) with P2 >= P; in v3, unknown → any).
bool CanPromote(const DataType& from, const DataType& to, int32_t format_version);
// Iceberg Java's name for a partition field of `source` by `t`: the column for identity, else
// column_bucket, _trunc, _year, _month, _day, _hour, _null.
std::string DefaultPartitionName(const std::string& source, const Transform& t);
Status SetDefaultSpec(TableMetadata* m, int32_t spec_id);

// Adds a sort order (no fields = unsorted, id 0) and returns its id; an identical one is
// reused, otherwise ids start at 1.
Result<int32_t> AddSortOrder(TableMetadata* m, SortOrder order);
Status SetDefaultSortOrder(TableMetadata* m, int32_t order_id);

// ----- Properties and the rest ---------------------------------------------------------------

// Reserved keys (format-version, uuid, snapshot-count, current-snapshot-*, current-schema,
// default-partition-spec, default-sort-order) are InvalidArgument: they are not stored.
Status SetProperties(TableMetadata* m, const std::map<std::string, std::string>& updates);
void RemoveProperties(TableMetadata* m, const std::vector<std::string>& keys);

// Raises the format version (never lowers it; at most kMaxFormatVersion). To v3: next-row-id
// starts at 0.
Status UpgradeFormatVersion(TableMetadata* m, int32_t format_version);
// Sets the table UUID; InvalidArgument if a different one is already set.
Status AssignUuid(TableMetadata* m, const std::string& uuid);
// Sets the location (without a trailing slash).
void SetLocation(TableMetadata* m, std::string location);

// Records the metadata file being replaced: appends (previous_last_updated_ms,
// previous_metadata_file) to the metadata log and drops the oldest entries beyond the
// `write.metadata.previous-versions-max` property (default 100, at least 1). Call it once on
// the new metadata, after the edits, with the location and last-updated-ms of the base.
// InvalidArgument if the property is not an integer.
Status AppendMetadataLog(TableMetadata* m, const std::string& previous_metadata_file,
                         int64_t previous_last_updated_ms);

// ----- The REST commit model -----------------------------------------------------------------

// One change of a commit: the REST spec's TableUpdate, by its "action". Only the members of
// the action are meaningful; build one with the factories.
struct TableUpdate {
  enum class Action {
    kAssignUuid,            // uuid
    kUpgradeFormatVersion,  // format_version
    kAddSchema,             // schema, last_column_id (deprecated in the spec; optional)
    kSetCurrentSchema,      // id (-1: the schema added last in this commit)
    kAddSpec,               // spec
    kSetDefaultSpec,        // id (-1: last added)
    kAddSortOrder,          // sort_order
    kSetDefaultSortOrder,   // id (-1: last added)
    kAddSnapshot,           // snapshot
    kSetSnapshotRef,        // ref_name, ref
    kRemoveSnapshots,       // snapshot_ids
    kRemoveSnapshotRef,     // ref_name
    kSetLocation,           // location
    kSetProperties,         // updates
    kRemoveProperties,      // removals
  };
  Action action = Action::kSetProperties;
  std::string uuid;
  int32_t format_version = 0;
  Schema schema;
  std::optional<int32_t> last_column_id;
  int32_t id = 0;
  PartitionSpec spec;
  SortOrder sort_order;
  Snapshot snapshot;
  std::string ref_name;
  SnapshotRef ref;
  std::vector<int64_t> snapshot_ids;
  std::string location;
  std::map<std::string, std::string> updates;
  std::vector<std::string> removals;

  static TableUpdate AssignUuid(std::string uuid);
  static TableUpdate UpgradeFormatVersion(int32_t format_version);
  static TableUpdate AddSchema(Schema schema, std::optional<int32_t> last_column_id = {});
  static TableUpdate SetCurrentSchema(int32_t schema_id);
  static TableUpdate AddSpec(PartitionSpec spec);
  static TableUpdate SetDefaultSpec(int32_t spec_id);
  static TableUpdate AddSortOrder(SortOrder order);
  static TableUpdate SetDefaultSortOrder(int32_t order_id);
  static TableUpdate AddSnapshot(Snapshot snapshot);
  static TableUpdate SetSnapshotRef(std::string name, SnapshotRef ref);
  static TableUpdate RemoveSnapshots(std::vector<int64_t> snapshot_ids);
  static TableUpdate RemoveSnapshotRef(std::string name);
  static TableUpdate SetLocation(std::string location);
  static TableUpdate SetProperties(std::map<std::string, std::string> updates);
  static TableUpdate RemoveProperties(std::vector<std::string> removals);

  // The REST JSON object, one line, e.g. {"action":"set-current-schema","schema-id":-1}.
  // `format_version` is the table's, for the snapshot form of add-snapshot.
  std::string ToJson(int32_t format_version = 2) const;
  // The spec's name of the action: "add-schema", …
  std::string_view ActionName() const;

  bool operator==(const TableUpdate&) const = default;
};

// One assertion of a commit: the REST spec's TableRequirement, by its "type".
struct TableRequirement {
  enum class Kind {
    kAssertCreate,                    // the table must not exist
    kAssertTableUuid,                 // uuid
    kAssertRefSnapshotId,             // ref, snapshot_id (nullopt: the ref must not exist)
    kAssertLastAssignedFieldId,       // value
    kAssertCurrentSchemaId,           // value
    kAssertLastAssignedPartitionId,   // value
    kAssertDefaultSpecId,             // value
    kAssertDefaultSortOrderId,        // value
  };
  Kind kind = Kind::kAssertCreate;
  std::string uuid;
  std::string ref;
  std::optional<int64_t> snapshot_id;
  int32_t value = 0;

  static TableRequirement AssertCreate();
  static TableRequirement AssertTableUuid(std::string uuid);
  static TableRequirement AssertRefSnapshotId(std::string ref,
                                              std::optional<int64_t> snapshot_id);
  static TableRequirement AssertLastAssignedFieldId(int32_t id);
  static TableRequirement AssertCurrentSchemaId(int32_t id);
  static TableRequirement AssertLastAssignedPartitionId(int32_t id);
  static TableRequirement AssertDefaultSpecId(int32_t id);
  static TableRequirement AssertDefaultSortOrderId(int32_t id);

  // The REST JSON object, one line, e.g. {"type":"assert-ref-snapshot-id","ref":"main",
  // "snapshot-id":null}.
  std::string ToJson() const;
  std::string_view TypeName() const;

  bool operator==(const TableRequirement&) const = default;
};

// JSON arrays of the above, for the "updates" and "requirements" of a commit request.
std::string UpdatesToJson(const std::vector<TableUpdate>& updates, int32_t format_version = 2);
std::string RequirementsToJson(const std::vector<TableRequirement>& requirements);

// Reading them back (a catalog server, tests). InvalidArgument names the key; an unknown
// action or type is Unimplemented.
Result<TableUpdate> ParseTableUpdate(std::string_view json);
Result<TableRequirement> ParseTableRequirement(std::string_view json);
Result<std::vector<TableUpdate>> ParseTableUpdates(std::string_view json_array);
Result<std::vector<TableRequirement>> ParseTableRequirements(std::string_view json_array);

// OK when every requirement holds for `current` (nullptr: the table does not exist);
// otherwise Aborted naming the first that fails and what was found.
Status CheckRequirements(const TableMetadata* current,
                         const std::vector<TableRequirement>& requirements);

// Applies the updates in order, with the REST catalog's semantics: -1 ids mean "added last
// in this commit"; the snapshot log keeps only the final head of main among snapshots added
// here; last-updated-ms becomes the timestamp of the last snapshot added, else now_ms. Start
// from TableMetadata{} (with format_version set) for a create. The result is validated as a
// whole (current schema, default spec and sort order present and consistent, refs valid).
// The metadata log is not touched: see AppendMetadataLog. On error `m` is unchanged.
Status ApplyUpdates(TableMetadata* m, const std::vector<TableUpdate>& updates, int64_t now_ms);

// The consistency a table's metadata must have to be written: current schema, default spec
// and default sort order exist, the default spec and order use columns of the current
// schema, snapshots and refs agree, sequence numbers do not exceed the last. InvalidArgument.
Status ValidateTableMetadata(const TableMetadata& m);

}  // namespace pg2iceberg::iceberg
