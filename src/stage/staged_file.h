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
// and, only in files of tables that stage before images (history tables), holding at least one:
//   _pg2i_before  string  NULL, or K / O (the old row's kind) then ':' and the comma-separated
//                         indexes of its unchanged-TOAST columns
//   _pg2i_before_<i> …    an UPDATE's old row (a DELETE's is the row's own columns)
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

// The old row PostgreSQL sent with an UPDATE or DELETE, staged for tables whose history is
// kept (stage::WalWriterOptions::before_images).
struct BeforeImage {
  // kKey: the replica identity's columns only (the others NULL: REPLICA IDENTITY DEFAULT or
  // USING INDEX, sent when the key changed and with every DELETE); kRow: every column (REPLICA
  // IDENTITY FULL).
  enum class Kind : char { kNone = 0, kKey = 'K', kRow = 'O' };
  Kind kind = Kind::kNone;
  // An UPDATE's old row (the relation's width); empty for a DELETE, whose old row is
  // `StagedChange::change.values`.
  std::vector<Value> values;
  // Columns of the old row sent as unchanged TOAST (their value is the row's previous one).
  std::vector<int> unchanged;
  bool operator==(const BeforeImage&) const = default;
};

struct StagedChange {
  fold::Change change;
  Xid xid;
  int64_t commit_ts_micros = 0;
  BeforeImage before;  // files staged without before images: kNone
};

// The memory a change takes in a buffer (its values, strings and bookkeeping): the WAL
// writer's flush_bytes and spill_bytes and the materializer's batch budget are measured in it.
int64_t MemoryBytes(const StagedChange& c);

// Serialises `changes` (all of `relation`) as one Parquet file.
Result<std::string> EncodeStagedFile(const StagedRelation& relation,
                                     const std::vector<StagedChange>& changes);
// The same, moving the values out of `changes` rather than copying them.
Result<std::string> EncodeStagedFile(const StagedRelation& relation,
                                     std::vector<StagedChange>&& changes);

struct DecodedStagedFile {
  StagedRelation relation;
  std::vector<StagedChange> changes;
};
Result<DecodedStagedFile> DecodeStagedFile(std::shared_ptr<io::FileIO> io,
                                           const std::string& uri);

}  // namespace pg2iceberg::stage
