// Column identity: which Iceberg field mirrors which PostgreSQL column.
//
// A column is identified by its PostgreSQL attribute number (attnum), not by its name: a renamed
// column keeps its Iceberg field id (the field is renamed), a dropped column's field leaves the
// current schema (older snapshots keep it), and a column dropped and added again under the same
// name is a new field. The field-id → attnum map lives in the Iceberg table's property
// `pg2iceberg.source.column-attnums` ("3:3,4:5"), updated in the same commit as the schema.
// Columns whose attnum is unknown (files staged by older versions) and fields without an entry
// (tables written by older versions, or columns another engine added) are matched by name.
// See docs/schema-changes.md.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "iceberg/metadata.h"
#include "iceberg/schema.h"
#include "stage/staged_file.h"

namespace pg2iceberg::materialize {

inline constexpr char kColumnAttnumsProperty[] = "pg2iceberg.source.column-attnums";

// Field id → attnum, from the property's text; malformed entries are skipped.
std::map<int32_t, int> ParseColumnAttnums(const std::string& text);
std::string FormatColumnAttnums(const std::map<int32_t, int>& attnums);

struct ColumnPlan {
  std::vector<iceberg::Field> fields;  // the current schema's fields after evolution
  std::map<int32_t, int> attnums;      // field id → attnum for the fields above that have one
  int32_t last_column_id = 0;
  bool schema_changed = false;
  bool attnums_changed = false;
  std::vector<std::string> renamed;  // "a → b", for the log
  std::vector<std::string> dropped;
  std::vector<std::string> kept;     // dropped in PostgreSQL, kept because Iceberg needs them
};

// The schema that mirrors `latest` (the newest staged relation of `table`), evolved from the
// table's current schema. Refuses type changes Iceberg cannot make in place. `rematch`: the
// source table is a new one (a resync, maybe of a re-created table): the recorded attnums are
// ignored, columns are matched to fields by name, and fields no column matches are dropped.
Result<ColumnPlan> PlanColumns(const iceberg::TableMetadata& m, const stage::StagedRelation& latest,
                               const std::string& table, bool rematch = false);

// sink.include_metadata: the columns every row of a mirror table carries, the commit time and
// commit LSN of the last change to it (NULL for rows of a copy that replaced the table).
inline constexpr char kCommitTsColumn[] = "_commit_ts";  // timestamptz
inline constexpr char kLsnColumn[] = "_lsn";             // long: the LSN as a 64-bit number

// Adds the metadata columns to `plan` unless its fields have them. FailedPrecondition when the
// source table has a column of one of their names.
Status AddMetadataColumns(const stage::StagedRelation& latest, const std::string& table,
                          ColumnPlan* plan);

// For each of `fields`, the index of the column of `relation` holding its value, or -1.
std::vector<int> ColumnsOf(const std::vector<iceberg::Field>& fields,
                           const std::map<int32_t, int>& attnums,
                           const stage::StagedRelation& relation);

}  // namespace pg2iceberg::materialize
