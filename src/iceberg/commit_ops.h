// Iceberg commit operations, one type per kind, as Iceberg Java has them. Each turns a planned
// change into a new snapshot on the table's current metadata (`Produce`, through
// SnapshotProducer). A change is planned on one snapshot (its *starting* snapshot); when the
// table has moved on by the time it commits, `Produce` first checks the commits in between the
// way Java's operation of that kind checks them, so that a concurrent writer (another engine
// compacting, a second pipeline) cannot make the change wrong:
//
//   AppendFiles     data files only                     no check: appends commute
//   RowDelta        data and delete files; may replace  the data files its position deletes and
//                   delete files (a merged DV)          deletion vectors name were not removed,
//                                                       and no other DV for them was added
//                                                       (Java BaseRowDelta)
//   OverwriteFiles  removes every live file, adds data  no check: it removes what is live when it
//                   (TRUNCATE, a copy replacing the     commits (Java BaseOverwriteFiles without a
//                   table)                              conflict filter)
//   RewriteFiles    compaction: replaces files by       no delete committed since applies to a
//                   their rewrite, keeping the data     replaced data file unless the rewrite
//                   sequence number of what it read;    carries it (Java BaseRewriteFiles); a
//                   may add the position deletes it     partitioned equality delete cannot follow
//                   carries to the rewritten rows       rows the rewrite moved between specs
//   ExpireSnapshots removes old snapshots and says      (plans on the metadata it is given; the
//                   which files only they referenced    catalog's ref check orders it)
//
// Every kind also fails when a file it removes is no longer live. A failed check, like a lost
// race in the catalog, is kAborted: plan the change again on the table as it is now. The history
// between the starting snapshot and the current one is read from the manifests those commits
// added; a starting snapshot that is no longer an ancestor of `main` (expired, rolled back) is
// kAborted too. Not thread-safe; one object per planned change, reused across its attempts.
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
#include "iceberg/snapshot_producer.h"
#include "io/file_io.h"

namespace pg2iceberg::iceberg {

// What the commits after `starting_snapshot_id` (exclusive) up to `m`'s current snapshot added
// and removed, oldest first. `starting_snapshot_id` empty: every commit of `main`.
struct CommitHistory {
  std::vector<ManifestEntry> added;    // data and delete files those commits added
  std::vector<ManifestEntry> removed;  // files they removed
  int commits = 0;
};
Result<CommitHistory> HistorySince(io::FileIO* io, const TableMetadata& m,
                                   std::optional<int64_t> starting_snapshot_id);

class SnapshotUpdate {
 public:
  virtual ~SnapshotUpdate() = default;
  SnapshotUpdate(const SnapshotUpdate&) = delete;
  SnapshotUpdate& operator=(const SnapshotUpdate&) = delete;

  // Checks the commits since the starting snapshot (when `base` has moved past it), then builds
  // the snapshot on `base`. Call again with a newer base after a kAborted commit.
  Result<PendingSnapshot> Produce(const TableMetadata& base);
  // A summary property of the new snapshot (pg2iceberg's cursor, generation, markers).
  void SetSummary(const std::string& key, std::string value);

 protected:
  SnapshotUpdate(io::FileIO* io, Clock* clock, std::optional<int64_t> starting_snapshot_id,
                 SnapshotChange change);
  // Whether the operation checks the commits since its starting snapshot at all (reading them
  // costs a manifest list and manifests per commit).
  virtual bool ChecksHistory() const = 0;
  // The operation's check of `since`, the commits made after the starting snapshot.
  virtual Status Validate(const TableMetadata& base, const CommitHistory& since) const = 0;
  const SnapshotChange& change() const { return change_; }

 private:
  io::FileIO* io_;
  Clock* clock_;
  std::optional<int64_t> starting_;
  SnapshotChange change_;
  std::optional<SnapshotProducer> producer_;  // made on the first Produce
};

class AppendFiles final : public SnapshotUpdate {
 public:
  AppendFiles(io::FileIO* io, Clock* clock, std::vector<DataFile> data);

 private:
  bool ChecksHistory() const override { return false; }
  Status Validate(const TableMetadata&, const CommitHistory&) const override;
};

class RowDelta final : public SnapshotUpdate {
 public:
  // `replaced_deletes`: FileKey()s of delete files this change supersedes (a deletion vector
  // merged into a new one).
  RowDelta(io::FileIO* io, Clock* clock, std::optional<int64_t> starting_snapshot_id,
           std::vector<DataFile> data, std::vector<DataFile> deletes,
           std::set<std::string> replaced_deletes = {});

 private:
  bool ChecksHistory() const override;
  Status Validate(const TableMetadata& base, const CommitHistory& since) const override;
};

class OverwriteFiles final : public SnapshotUpdate {
 public:
  // Removes every file live when it commits and adds `data` (and `deletes`, which can only
  // name rows of `data`: a batch that truncates and then deletes some of the rows it re-adds).
  OverwriteFiles(io::FileIO* io, Clock* clock, std::vector<DataFile> data,
                 std::vector<DataFile> deletes = {});

 private:
  bool ChecksHistory() const override { return false; }
  Status Validate(const TableMetadata&, const CommitHistory&) const override;
};

class RewriteFiles final : public SnapshotUpdate {
 public:
  struct Rewrite {
    std::set<std::string> replaced;  // FileKey()s of the data and delete files it replaces
    std::vector<DataFile> added;     // their rewrite (data files)
    // The data sequence number of the snapshot the replaced files were read at: the new files
    // keep it, so that equality deletes committed since still apply to them. Empty (format
    // v1): the commit's own, and then any delete committed since conflicts.
    std::optional<int64_t> data_sequence_number;
    // The spec the rewrite writes, and whether it moves rows out of other specs into it.
    int32_t spec_id = 0;
    bool moves_rows_between_specs = false;
    // Position deletes or deletion vectors for rows of `added`: those committed since the
    // rewrite was planned for rows of replaced files, carried to where the rows went.
    std::vector<DataFile> added_deletes;
    // FileKey()s of the position deletes and deletion vectors committed since whose rows of
    // replaced files `added_deletes` carries: they do not fail the check.
    std::set<std::string> carried;
  };
  RewriteFiles(io::FileIO* io, Clock* clock, int64_t starting_snapshot_id, Rewrite rewrite);

 private:
  bool ChecksHistory() const override { return true; }
  Status Validate(const TableMetadata& base, const CommitHistory& since) const override;
  Rewrite rewrite_;
};

// Snapshot expiry (see PlanExpiry in snapshot_producer.h): which snapshots go, the commit that
// removes them, and the files to delete once that commit succeeded.
class ExpireSnapshots {
 public:
  ExpireSnapshots(io::FileIO* io, int64_t older_than_ms, int retain_last = 1);
  // `also_keep`: more snapshots to keep (those a pipeline still reads from).
  Result<ExpiryPlan> Plan(const TableMetadata& m, const std::set<int64_t>& also_keep = {}) const;

 private:
  io::FileIO* io_;
  int64_t older_than_ms_;
  int retain_last_;
};

}  // namespace pg2iceberg::iceberg
