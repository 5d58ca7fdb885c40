// The snapshot writer under the commit operations (commit_ops.h, which callers use): turns
// "these files were added / these were removed" into a new Iceberg snapshot — manifests, a
// manifest list, the summary — and the catalog commit that publishes it (updates plus the
// requirement that `main` still points at the parent). It checks only that the files it removes
// are still live; what else a concurrent commit may have invalidated is the operation's check.
//
//   append      data files only
//   row delta   data files plus delete files in one snapshot (operation "overwrite", or
//               "delete" without data); with remove_all, every live file is removed first
//               (TRUNCATE)
//   replace     compaction: remove some files, add their rewritten replacement
//
// In a format v3 table the snapshot carries row lineage: the data manifests it writes get the
// next ranges of row ids (the manifest list's first_row_id), and the snapshot its first-row-id
// and added-rows.
//
// Manifests of the added files are written once and reused when the commit is retried on a
// newer base (their entries inherit sequence numbers); the manifest list is rewritten per
// attempt. Sequence numbers follow the spec. When the number of manifests exceeds
// `commit.manifest.min-count-to-merge` (default 100), manifests are merged. Not thread-safe.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "iceberg/data_file.h"
#include "iceberg/manifest.h"
#include "iceberg/metadata.h"
#include "iceberg/metadata_edit.h"
#include "io/file_io.h"

namespace pg2iceberg::iceberg {

struct SnapshotChange {
  std::vector<DataFile> added_data;
  std::vector<DataFile> added_deletes;
  std::set<std::string> removed_paths;  // FileKey()s of data or delete files to remove
  bool remove_all = false;              // remove every live file (TRUNCATE)
  std::string operation;                // forced operation (e.g. "replace"); empty: derived
  // The data sequence number of the added data files, when they replace files read at an
  // older snapshot (a compaction keeps the sequence number of what it rewrote, so equality
  // deletes committed since still apply to the new files). Empty: the commit's own.
  std::optional<int64_t> data_sequence_number;
  std::map<std::string, std::string> extra_summary;
};

struct PendingSnapshot {
  Snapshot snapshot;
  std::vector<TableRequirement> requirements;
  std::vector<TableUpdate> updates;
  std::vector<std::string> written;  // files this attempt wrote (cleanup if abandoned)
};

struct FileTally;

class SnapshotProducer {
 public:
  SnapshotProducer(io::FileIO* io, Clock* clock, SnapshotChange change);

  // Builds the snapshot on `base` (its `main` branch). Call again with a newer base after a
  // kAborted commit.
  Result<PendingSnapshot> Produce(const TableMetadata& base);

 private:
  // One manifest per content kind and partition spec of the added files.
  Status WriteNewManifests(const TableMetadata& base);
  // The added files' manifests (written on the first attempt) with this attempt's `seq`.
  Result<std::vector<ManifestFile>> NewManifests(const TableMetadata& base, int64_t seq);
  // Appends the parent snapshot's manifests, rewriting those that hold removed files (kAborted
  // when a file to remove is no longer live).
  Status CarryParentManifests(const TableMetadata& base, int64_t seq,
                              std::vector<ManifestFile>* manifests, FileTally* removed,
                              PendingSnapshot* out);
  // Merges the carried manifests of the default spec when there are more than
  // `commit.manifest.min-count-to-merge` (default 100).
  Status MergeManifests(const TableMetadata& base, int64_t seq,
                        std::vector<ManifestFile>* manifests, PendingSnapshot* out);

  io::FileIO* io_;
  Clock* clock_;
  SnapshotChange change_;
  // Reused across attempts (their entries inherit sequence numbers).
  std::vector<ManifestFile> new_manifests_;
  bool new_manifests_written_ = false;
  int64_t snapshot_id_ = 0;
};

// Live (ADDED or EXISTING) entries of the current snapshot, with inherited sequence numbers.
Result<std::vector<ManifestEntry>> LiveEntries(io::FileIO* io, const TableMetadata& m,
                                               std::optional<int64_t> snapshot_id = {});
// The same for delete files only (data manifests are not read).
Result<std::vector<ManifestEntry>> LiveDeleteEntries(io::FileIO* io, const TableMetadata& m);

// Snapshot expiry: which snapshots to remove (older than `older_than_ms`, never the current
// one nor one a branch or tag points at, keeping at least `retain_last` of main's history),
// the commit that removes them, and the files only they referenced (manifest lists,
// manifests, data and delete files), to delete once that commit succeeded.
struct ExpiryPlan {
  std::vector<int64_t> snapshot_ids;
  std::vector<TableUpdate> updates;
  std::vector<std::string> files_to_delete;
};
// A data or delete file goes once no kept snapshot reads it (a kept snapshot's manifest
// that lists it as deleted does not keep it). `also_keep` names more snapshots to keep.
Result<ExpiryPlan> PlanExpiry(io::FileIO* io, const TableMetadata& m, int64_t older_than_ms,
                              int retain_last = 1, const std::set<int64_t>& also_keep = {});

// A random positive 63-bit snapshot id.
int64_t NewSnapshotId();

}  // namespace pg2iceberg::iceberg
