// Folding a table's changes by primary key: the pure heart of the materializer.
//
// Input: the changes of one table in (commit LSN, position in transaction) order, each with
// the full column image the WAL writer staged. Output: the final state of every key touched —
// a row to write or a delete — plus whether the batch truncated the table first. Replays are
// harmless: applying a batch twice gives the same result, and an insert of a key that is
// already live is an update (rule 4).
//
// Unchanged-TOAST columns are filled from earlier images of the same key in the batch; what
// stays unknown is reported per key so the caller can read it from the live table. No I/O.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "base/status.h"
#include "base/types.h"
#include "types/value.h"

namespace pg2iceberg::fold {

enum class Op : char { kInsert = 'I', kUpdate = 'U', kDelete = 'D', kTruncate = 'T' };

struct Change {
  Op op = Op::kInsert;
  Lsn commit_lsn;
  int64_t seq = 0;  // position in the transaction
  // The new image for I/U; for D the old key (other columns NULL). Empty for T.
  std::vector<Value> values;
  // For U when the key changed: the old key values, in key-column order.
  std::vector<Value> old_key;
  // Indexes (into `values`) of columns sent as unchanged TOAST: their value is not in
  // `values` and must come from the previous image of the row.
  std::vector<int> unchanged;
};

using Key = std::vector<Value>;

struct FoldedRow {
  enum class Kind { kUpsert, kDelete };
  Kind kind = Kind::kUpsert;
  std::vector<Value> values;      // kUpsert: the final image
  std::set<int> unresolved;       // kUpsert: unchanged-TOAST columns still unknown
  // kUpsert with unresolved columns: the key whose live row holds their values (differs from
  // the row's key when the key changed within the batch).
  Key resolve_from;
  Lsn last_lsn;                   // commit LSN of the last change to this key
};

struct FoldResult {
  // The batch began with (or contained) a TRUNCATE: every row live before it is gone.
  bool truncated = false;
  // Keys touched, in key order.
  std::map<Key, FoldedRow> rows;
  int64_t changes = 0;
};

// The key of a row (`values`) whose key columns are `key_columns`; InvalidArgument for a
// NULL key column.
Result<Key> KeyOf(const std::vector<Value>& values, const std::vector<int>& key_columns);

// `key_columns`: indexes of the primary-key columns in `values`, in key order.
// InvalidArgument if a change lacks a key column value (a NULL key) or has the wrong width.
// The changes' values are moved into the result (pass std::move(changes) to spare a copy).
Result<FoldResult> Fold(std::vector<Change> changes, const std::vector<int>& key_columns,
                        size_t width);

}  // namespace pg2iceberg::fold
