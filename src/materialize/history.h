// History tables (tables[].iceberg.mode history or both): an append-only Iceberg table with one
// row per change of the source table, in commit order, next to (or instead of) its mirror.
//
// A history row holds the table's columns after the change (an INSERT's or UPDATE's new row; a
// DELETE's old row as PostgreSQL sent it: the key, or the whole row with REPLICA IDENTITY FULL;
// NULL for a TRUNCATE), then
//   _op         string       I, U, D or T
//   _commit_ts  timestamptz  commit time of the source transaction (NULL for copied rows)
//   _lsn        long         commit LSN (a copied row: the LSN its copy is consistent at)
//   _xid        long         (sub)transaction id (NULL for copied rows)
//   _seq        long         position in the transaction
//   _before     struct       the old row PostgreSQL sent with an UPDATE or DELETE (key columns
//                            only under REPLICA IDENTITY DEFAULT or USING INDEX, every column
//                            with FULL); NULL when it sent none
// Columns are matched to the mirror's by name. Unchanged TOAST values are resolved: from the
// previous change of the same row in the batch, else from the old row (FULL), else from the
// row as it was before the batch (the caller reads it from the mirror). Pure; no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/types.h"
#include "fold/fold.h"
#include "iceberg/schema.h"
#include "stage/staged_file.h"
#include "types/value.h"

namespace arrow {
class RecordBatch;
class Schema;
}  // namespace arrow

namespace pg2iceberg::materialize {

inline constexpr char kHistoryOpColumn[] = "_op";
inline constexpr char kHistoryCommitTsColumn[] = "_commit_ts";
inline constexpr char kHistoryLsnColumn[] = "_lsn";
inline constexpr char kHistoryXidColumn[] = "_xid";
inline constexpr char kHistorySeqColumn[] = "_seq";
inline constexpr char kHistoryBeforeColumn[] = "_before";
// The Iceberg name of a table's history table: <name>_history.
inline constexpr char kHistorySuffix[] = "_history";

// One staged change, projected onto the mirror's fields (as the fold sees it), with what the
// history keeps of it.
struct HistoryChange {
  fold::Change change;
  Xid xid;
  int64_t commit_ts_micros = 0;  // 0: unknown (a copied row)
  int64_t offset = 0;            // in the table's log
  // The old row projected onto the same fields (a DELETE's: its `change.values`).
  stage::BeforeImage before;
};

struct HistoryRow {
  fold::Op op = fold::Op::kInsert;
  std::vector<Value> values;                 // the mirror's fields
  std::optional<std::vector<Value>> before;  // idem; nullopt: not sent
  Lsn lsn;
  Xid xid;
  int64_t commit_ts_micros = 0;
  int64_t seq = 0;
};

struct HistoryRows {
  // The rows of the changes at offsets >= emit_from, in log order.
  std::vector<HistoryRow> rows;
  // Rows whose state before the batch some unchanged TOAST value needs and `prior` lacks: by
  // key, the columns. Their values are NULL in `rows`; read them and call again (what is
  // still missing then is not in the table either).
  std::map<fold::Key, std::set<int>> missing;
};

// The history rows of a batch's changes (in log order, of `width` columns keyed by
// `key_columns`). Changes before `emit_from` give no row (a history commit holds them
// already) but are replayed, so the rows after them resolve TOAST values from them. `prior`:
// rows as they were before the batch, by key (the mirror's live rows).
// InvalidArgument for a change of the wrong width, a NULL key or a column index out of range.
Result<HistoryRows> HistoryOf(const std::vector<HistoryChange>& changes,
                      const std::vector<int>& key_columns, size_t width, int64_t emit_from,
                      const std::map<fold::Key, std::vector<Value>>& prior);

// The mirror's fields a history table carries: all but sink.include_metadata's columns.
std::vector<iceberg::Field> HistoryDataFields(const std::vector<iceberg::Field>& mirror);

// The fields of a new history table of `data` (HistoryDataFields), ids from 1.
// FailedPrecondition when a column of the table has the name of a history column.
Result<std::vector<iceberg::Field>> NewHistoryFields(const std::vector<iceberg::Field>& data);

// `current` (a history table's fields, `last_column_id` its highest id) extended with the
// columns of `data` it lacks, at top level and in _before, and with the types `data` widened
// to; nullopt when nothing changes. The new highest id in `*last_column_id`.
// FailedPrecondition when a column's type changed in a way Iceberg cannot promote.
Result<std::optional<std::vector<iceberg::Field>>> EvolveHistoryFields(
    const std::vector<iceberg::Field>& current, const std::vector<iceberg::Field>& data,
    int32_t* last_column_id);

// Where each column of a history table's `fields` takes its value from, worked out once per
// batch (columns are matched to the `data` fields, HistoryDataFields, by name).
struct HistoryLayout {
  std::vector<iceberg::Field> fields;
  // Per field: the index of its data field, or one of the kFrom… codes.
  std::vector<int> source;
  // Per field: for the _before struct, each child's data field index (-1: none); else empty.
  std::vector<std::vector<int>> children;
  static constexpr int kFromNothing = -1, kFromOp = -2, kFromCommitTs = -3, kFromLsn = -4,
                       kFromXid = -5, kFromSeq = -6;
};
HistoryLayout HistoryLayoutOf(const std::vector<iceberg::Field>& fields,
                              const std::vector<iceberg::Field>& data);

// `rows` as an Arrow batch of the layout's fields; a column the rows lack is NULL.
Result<std::shared_ptr<arrow::RecordBatch>> HistoryBatch(const HistoryLayout& layout,
                                                         const std::vector<const HistoryRow*>& rows);

// The values of a history row as a row of the layout's fields (the _before struct NULL), for
// computing its partition.
std::vector<Value> HistoryRowValues(const HistoryLayout& layout, const HistoryRow& row);

}  // namespace pg2iceberg::materialize
