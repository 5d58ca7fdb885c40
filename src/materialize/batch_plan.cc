#include "materialize/batch_plan.h"

namespace pg2iceberg::materialize {

size_t BatchLength(const std::vector<coord::LogEntry>& entries, int64_t max_changes,
                   int64_t resync_at, int64_t marker_cut) {
  int64_t changes = 0;
  size_t keep = 0;
  while (keep < entries.size() && (keep == 0 || changes + entries[keep].rows <= max_changes)) {
    changes += entries[keep++].rows;
  }
  if (!entries.empty() && IsSnapshotFile(entries.front())) {
    size_t copied = 0;
    while (copied < keep && IsSnapshotFile(entries[copied])) ++copied;
    keep = copied;
  }
  for (size_t i = 1; i < keep; ++i) {
    if (entries[i].start_offset == resync_at ||
        (marker_cut >= 0 && entries[i].start_offset >= marker_cut)) {
      return i;
    }
  }
  return keep;
}

bool AllSkipped(const stage::DecodedStagedFile& f, const coord::LogEntry& e,
                const CopyFilter& only, int64_t from_offset) {
  if (IsSnapshotFile(e)) return false;
  if (only.SkipsFile(f.relation.oid, e.start_offset)) return true;
  int64_t offset = e.start_offset;
  for (const auto& sc : f.changes) {
    const int64_t this_offset = offset++;
    if (this_offset < from_offset) continue;
    const Lsn commit = sc.change.commit_lsn.valid() ? sc.change.commit_lsn : e.max_commit_lsn;
    if (!only.SkipsChange(commit, this_offset)) return false;
  }
  return true;
}

}  // namespace pg2iceberg::materialize
