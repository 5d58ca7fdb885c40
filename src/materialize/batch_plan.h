// The pure decisions of a materializer batch, apart from the I/O around them: which log
// entries make the batch, and which staged changes a table's copy already holds.
#pragma once

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "base/types.h"
#include "coord/coordinator.h"
#include "fold/fold.h"
#include "iceberg/schema.h"
#include "stage/staged_file.h"

namespace pg2iceberg::materialize {

// Whether a log entry holds rows of a table's copy (the coordinator records each file's kind).
inline bool IsSnapshotFile(const coord::LogEntry& e) { return e.kind == io::StagedKind::kSnapshot; }

// How many of `entries` (the log past the cursor, in offset order, at least one) make the next
// batch: whole files, at least one, up to `max_changes` changes; a copy's files in a batch of
// their own (it may skip equality deletes, one with later changes may not); never across the
// resync offset `resync_at` (its batch replaces the table) or the next marker's offset
// `marker_cut` (-1: none), so that one commit ends exactly there.
size_t BatchLength(const std::vector<coord::LogEntry>& entries, int64_t max_changes,
                   int64_t resync_at, int64_t marker_cut);

// What the table's copy decides about the changes staged from its start on (`from_offset`: the
// resync offset of a copy that replaced the table's content, or 0 for the first copy).
// Changes of an earlier table under the same name (another oid) are not the copied table's;
// changes committed before the LSN the copy's snapshot is exact at are in its rows already,
// and replaying them over newer rows would be wrong (an unchanged TOAST value would be read
// from a row that is not there yet or any more; docs/snapshot.md). A copy's own rows are never
// skipped.
struct CopyFilter {
  uint32_t oid = 0;         // the table's current oid; 0: no oid filter
  int64_t from_offset = 0;
  Lsn before;               // the copy's snapshot LSN; 0/0 (no copy, or declared): none
  bool SkipsFile(uint32_t file_oid, int64_t file_offset) const {
    return oid != 0 && file_oid != 0 && file_oid != oid && file_offset >= from_offset;
  }
  bool SkipsChange(Lsn commit_lsn, int64_t offset) const {
    return offset >= from_offset && commit_lsn < before;
  }
};

// Whether `only` skips every change of `f` (staged as `e`) from `from_offset` on.
bool AllSkipped(const stage::DecodedStagedFile& f, const coord::LogEntry& e,
                const CopyFilter& only, int64_t from_offset);

// A staged relation's key as attnums (names where attnums are unknown), to tell key changes.
std::vector<std::string> KeyColumns(const stage::StagedRelation& r);
// How many of `files` (at least one) share the first one's key: files staged after a
// primary-key change start the next batch.
size_t OneKeyLength(const std::vector<stage::DecodedStagedFile>& files);

// The positions in `fields` of the key's field ids `key_ids`, in key order.
std::vector<int> KeyIndexesOf(const std::vector<iceberg::Field>& fields,
                              const std::vector<int32_t>& key_ids);

// How a batch deletes the older versions of the keys it touches.
struct DeletePlan {
  // The commit removes every live row first: a TRUNCATE in the batch, or a copy that replaces
  // the table's content.
  bool remove_all = false;
  // After the commit the table holds nothing but copied rows (snapshot summary
  // pg2iceberg.snapshot-only): their batch needs no deletes, as no older version of a copied
  // key can be live (a key a resumed copy staged twice was changed after the copy began, and
  // that change, which follows the copied rows, deletes every older version).
  bool snapshot_only = false;
  // Every key touched gets a delete of its live older version. Position mode (`indexed`) looks
  // every key up, copied rows too: a key a resumed copy staged twice has two rows and the index
  // only the newer one, so the older one is deleted now.
  bool delete_every_key = false;
};
// `copy_batch`: the batch is all rows of a copy; `snapshot_only_before`: the table held nothing
// but copied rows (or nothing); `replace`: the batch replaces the table's content;
// `truncated`: it holds a TRUNCATE.
DeletePlan PlanDeletes(bool copy_batch, bool snapshot_only_before, bool replace, bool truncated,
                       bool indexed);

// Live rows read for unchanged TOAST values, by key: the data sequence number of the file read
// (0 when read by position) and the row (by position: only the columns some row lacks).
using LiveRows = std::map<fold::Key, std::pair<int64_t, std::vector<Value>>>;

// What a folded batch writes: the final image of every upserted key, in key order, with its
// unchanged TOAST columns taken from `live` (by the key the row resolves from; left NULL and
// counted in `toast_not_found` when that row is not there), and the keys deleted.
struct BatchRows {
  std::vector<std::vector<Value>> upserts;
  std::vector<fold::Key> upsert_keys;   // per upsert; only when `indexed`
  std::vector<fold::Key> removed_keys;  // deleted keys; only when `indexed`
  std::vector<fold::Key> deletes;       // every key touched, when `delete_every_key`
  int64_t toast_not_found = 0;
};
BatchRows RowsOf(fold::FoldResult folded, const LiveRows& live, bool delete_every_key,
                 bool indexed);

}  // namespace pg2iceberg::materialize
