#include "iceberg/commit_ops.h"

#include <algorithm>

#include "iceberg/manifest_cache.h"

namespace pg2iceberg::iceberg {
namespace {

std::string Describe(std::optional<int64_t> snapshot_id) {
  return snapshot_id ? "snapshot " + std::to_string(*snapshot_id) : "the empty table";
}

bool IsPositionDelete(const DataFile& f) { return f.content == FileContent::kPositionDeletes; }

// Whether position delete file (or deletion vector) `f` may name rows of data file `path`: the
// file it references, else the range of paths its file_path bounds give, as Iceberg Java's
// DeleteFileIndex prunes (truncated bounds still enclose every path); without either, any.
bool MayName(const DataFile& f, const std::string& path) {
  if (f.referenced_data_file) return *f.referenced_data_file == path;
  auto lower = f.lower_bounds.find(kPositionDeleteFilePathId);
  auto upper = f.upper_bounds.find(kPositionDeleteFilePathId);
  if (lower == f.lower_bounds.end() || upper == f.upper_bounds.end()) return true;
  return lower->second <= path && path <= upper->second;
}

}  // namespace

Result<CommitHistory> HistorySince(io::FileIO* io, const TableMetadata& m,
                                   std::optional<int64_t> starting_snapshot_id) {
  // main's ancestry, newest first, down to (not including) the starting snapshot.
  std::vector<const Snapshot*> since;
  bool reached = !starting_snapshot_id;
  for (const Snapshot* s = m.CurrentSnapshot(); s != nullptr;) {
    if (starting_snapshot_id && s->snapshot_id == *starting_snapshot_id) {
      reached = true;
      break;
    }
    since.push_back(s);
    if (!s->parent_snapshot_id) break;
    s = m.SnapshotById(*s->parent_snapshot_id);
    if (s == nullptr && starting_snapshot_id) {
      // Expired history: what happened in between cannot be read any more.
      return Aborted("the commits since " + Describe(starting_snapshot_id) +
                     ", on which this change was planned, are no longer in the table's history "
                     "(expired); the change must be planned again");
    }
  }
  if (!reached) {
    return Aborted(Describe(starting_snapshot_id) +
                   ", on which this change was planned, is no longer an ancestor of main "
                   "(rolled back or replaced); the change must be planned again");
  }
  CommitHistory out;
  out.commits = static_cast<int>(since.size());
  std::reverse(since.begin(), since.end());
  for (const Snapshot* s : since) {
    PG2I_ASSIGN_OR_RETURN(std::vector<ManifestFile> manifests,
                          LoadManifestList(*io, s->manifest_list));
    for (const ManifestFile& mf : manifests) {
      // Only a manifest this commit wrote can hold what it added or removed.
      if (mf.added_snapshot_id != s->snapshot_id) continue;
      PG2I_ASSIGN_OR_RETURN(std::vector<ManifestEntry> entries, LoadManifest(*io, mf));
      for (ManifestEntry& e : entries) {
        if (e.snapshot_id != s->snapshot_id) continue;
        if (e.status == ManifestEntry::EntryStatus::kAdded) out.added.push_back(std::move(e));
        if (e.status == ManifestEntry::EntryStatus::kDeleted) out.removed.push_back(std::move(e));
      }
    }
  }
  return out;
}

SnapshotUpdate::SnapshotUpdate(io::FileIO* io, Clock* clock,
                               std::optional<int64_t> starting_snapshot_id, SnapshotChange change)
    : io_(io), clock_(clock), starting_(starting_snapshot_id), change_(std::move(change)) {}

void SnapshotUpdate::SetSummary(const std::string& key, std::string value) {
  change_.extra_summary[key] = std::move(value);
}

Result<PendingSnapshot> SnapshotUpdate::Produce(const TableMetadata& base) {
  if (ChecksHistory() && base.current_snapshot_id != starting_) {
    PG2I_ASSIGN_OR_RETURN(CommitHistory since, HistorySince(io_, base, starting_));
    PG2I_RETURN_IF_ERROR(Validate(base, since));
  }
  if (!producer_) producer_.emplace(io_, clock_, change_);
  return producer_->Produce(base);
}

AppendFiles::AppendFiles(io::FileIO* io, Clock* clock, std::vector<DataFile> data)
    : SnapshotUpdate(io, clock, std::nullopt, [&] {
        SnapshotChange c;
        c.added_data = std::move(data);
        return c;
      }()) {}

// Appends commute with every other commit.
Status AppendFiles::Validate(const TableMetadata&, const CommitHistory&) const {
  return Status::Ok();
}

RowDelta::RowDelta(io::FileIO* io, Clock* clock, std::optional<int64_t> starting_snapshot_id,
                   std::vector<DataFile> data, std::vector<DataFile> deletes,
                   std::set<std::string> replaced_deletes)
    : SnapshotUpdate(io, clock, starting_snapshot_id, [&] {
        SnapshotChange c;
        c.added_data = std::move(data);
        c.added_deletes = std::move(deletes);
        c.removed_paths = std::move(replaced_deletes);
        return c;
      }()) {}

// Only position deletes and deletion vectors depend on what happened meanwhile: equality
// deletes apply by sequence number to whatever is older.
bool RowDelta::ChecksHistory() const {
  for (const DataFile& f : change().added_deletes) {
    if (IsPositionDelete(f)) return true;
  }
  return false;
}

Status RowDelta::Validate(const TableMetadata&, const CommitHistory& since) const {
  // The data files the new position deletes and DVs name must still be live.
  for (const ManifestEntry& e : since.removed) {
    if (e.file.content != FileContent::kData) continue;
    for (const DataFile& f : change().added_deletes) {
      if (!IsPositionDelete(f) || !MayName(f, e.file.file_path)) continue;
      return Aborted("data file " + e.file.file_path +
                     ", whose rows this change deletes by position, was removed by a concurrent "
                     "commit (a compaction or another writer); the change must be planned again");
    }
  }
  // Two deletion vectors for one data file cannot both be live; the second must merge the first.
  for (const ManifestEntry& e : since.added) {
    if (!IsDeletionVector(e.file) || !e.file.referenced_data_file) continue;
    for (const DataFile& f : change().added_deletes) {
      if (IsDeletionVector(f) && f.referenced_data_file == e.file.referenced_data_file) {
        return Aborted("a concurrent commit added a deletion vector for " +
                       *f.referenced_data_file +
                       ", which this change's vector does not include; the change must be "
                       "planned again");
      }
    }
  }
  return Status::Ok();
}

OverwriteFiles::OverwriteFiles(io::FileIO* io, Clock* clock, std::vector<DataFile> data,
                               std::vector<DataFile> deletes)
    : SnapshotUpdate(io, clock, std::nullopt, [&] {
        SnapshotChange c;
        c.added_data = std::move(data);
        c.added_deletes = std::move(deletes);
        c.remove_all = true;
        return c;
      }()) {}

// It removes whatever is live when it commits, so no commit before it can make it wrong.
Status OverwriteFiles::Validate(const TableMetadata&, const CommitHistory&) const {
  return Status::Ok();
}

RewriteFiles::RewriteFiles(io::FileIO* io, Clock* clock, int64_t starting_snapshot_id,
                           Rewrite rewrite)
    : SnapshotUpdate(io, clock, starting_snapshot_id, [&] {
        SnapshotChange c;
        c.added_data = rewrite.added;
        c.added_deletes = rewrite.added_deletes;
        c.removed_paths = rewrite.replaced;
        c.operation = "replace";
        c.data_sequence_number = rewrite.data_sequence_number;
        return c;
      }()),
      rewrite_(std::move(rewrite)) {}

Status RewriteFiles::Validate(const TableMetadata& base, const CommitHistory& since) const {
  for (const ManifestEntry& e : since.added) {
    const DataFile& f = e.file;
    if (f.content == FileContent::kData) continue;
    if (IsPositionDelete(f)) {
      if (rewrite_.carried.count(FileKey(f))) continue;
      // A position delete of a replaced file would not follow its rows into the rewrite.
      if (std::any_of(rewrite_.replaced.begin(), rewrite_.replaced.end(),
                      [&](const std::string& path) { return MayName(f, path); })) {
        return Aborted("a position delete or deletion vector was committed since the rewrite "
                       "was planned" +
                       (f.referenced_data_file ? " (for " + *f.referenced_data_file + ")"
                                               : std::string()) +
                       "; the rewrite must be planned again");
      }
      continue;
    }
    // An equality delete applies to the rewritten rows only through the data sequence number
    // they keep, and only where its partition still reaches them.
    if (!rewrite_.data_sequence_number) {
      return Aborted("an equality delete was committed since the rewrite was planned, and the "
                     "rewrite cannot keep the sequence number of what it replaces (format v1)");
    }
    const PartitionSpec* spec = base.SpecById(f.spec_id);
    if (spec != nullptr && !spec->unpartitioned() &&
        (f.spec_id != rewrite_.spec_id || rewrite_.moves_rows_between_specs)) {
      return Aborted("a partitioned equality delete was committed since the rewrite, which "
                     "moves rows between partition specs, was planned; the rewrite must be "
                     "planned again");
    }
  }
  return Status::Ok();
}

ExpireSnapshots::ExpireSnapshots(io::FileIO* io, int64_t older_than_ms, int retain_last)
    : io_(io), older_than_ms_(older_than_ms), retain_last_(retain_last) {}

Result<ExpiryPlan> ExpireSnapshots::Plan(const TableMetadata& m,
                                         const std::set<int64_t>& also_keep) const {
  return PlanExpiry(io_, m, older_than_ms_, retain_last_, also_keep);
}

}  // namespace pg2iceberg::iceberg
