// Staged change files: what the WAL writer uploads on every flush and the materializer reads.
//
// One Parquet file per table per flush (zstd). Columns: the table's own columns, typed as in
// Iceberg (field ids 1…n in relation order), then metadata columns:
//   _pg2i_op      string  I, U, D or T
//   _pg2i_lsn     long    commit LSN (0 when unknown at write time: the log entry's LSN applies)
//   _pg2i_xid     long    (sub)transaction id
//   _pg2i_ts      long    commit time, microseconds since the Unix epoch
//   _pg2i_seq     long    position in the transaction
//   _pg2i_unch    string  comma-separated indexes of unchanged-TOAST columns
//   _pg2i_old_<i> …       the old primary-key values when an UPDATE changed the key
// The relation as it was at staging time (column names, PostgreSQL types, Iceberg types, key)
// travels in the file's key/value metadata under "pg2iceberg.relation", so a schema change
// never breaks reading an older file. See docs/staging.md.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/types.h"
#include "fold/fold.h"
#include "io/file_io.h"
#include "types/value.h"

namespace pg2iceberg::stage {

struct StagedColumn {
  std::string name;
  uint32_t type_oid = 0;  // base type (domains resolved)
  int32_t typmod = -1;
  Type type;              // Iceberg type
  bool nullable = true;
  // PostgreSQL's attribute number: a column's identity across renames. 0 when unknown (files
  // staged before it was recorded): such columns are matched by name.
  int attnum = 0;
  bool operator==(const StagedColumn&) const = default;
};

struct StagedRelation {
  std::string table;                 // "schema.table" as configured
  std::vector<StagedColumn> columns;
  std::vector<int> key;              // indexes of the primary-key columns, in key order
  // The source table's oid the changes came from (0: unknown, files of older versions): a
  // table dropped and re-created under the same name is another oid.
  uint32_t oid = 0;
  bool operator==(const StagedRelation&) const = default;
};

struct StagedChange {
  fold::Change change;
  Xid xid;
  int64_t commit_ts_micros = 0;
};

// Serialises `changes` (all of `relation`) as one Parquet file.
Result<std::string> EncodeStagedFile(const StagedRelation& relation,
                                     const std::vector<StagedChange>& changes);

struct DecodedStagedFile {
  StagedRelation relation;
  std::vector<StagedChange> changes;
};
Result<DecodedStagedFile> DecodeStagedFile(std::shared_ptr<io::FileIO> io,
                                           const std::string& uri);

}  // namespace pg2iceberg::stage
