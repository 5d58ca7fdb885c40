#include "materialize/batch_plan.h"

#include <string>

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

std::vector<std::string> KeyColumns(const stage::StagedRelation& r) {
  std::vector<std::string> out;
  for (int k : r.key) {
    const stage::StagedColumn& c = r.columns[static_cast<size_t>(k)];
    out.push_back(c.attnum > 0 ? std::to_string(c.attnum) : c.name);
  }
  return out;
}

size_t OneKeyLength(const std::vector<stage::DecodedStagedFile>& files) {
  for (size_t i = 1; i < files.size(); ++i) {
    if (KeyColumns(files[i].relation) != KeyColumns(files.front().relation)) return i;
  }
  return files.size();
}

std::vector<int> KeyIndexesOf(const std::vector<iceberg::Field>& fields,
                              const std::vector<int32_t>& key_ids) {
  std::vector<int> out;
  for (int32_t id : key_ids) {
    for (size_t i = 0; i < fields.size(); ++i) {
      if (fields[i].id == id) out.push_back(static_cast<int>(i));
    }
  }
  return out;
}

DeletePlan PlanDeletes(bool copy_batch, bool snapshot_only_before, bool replace, bool truncated,
                       bool indexed) {
  DeletePlan p;
  p.remove_all = truncated || replace;
  p.snapshot_only = replace || (copy_batch && snapshot_only_before && !truncated);
  p.delete_every_key = !truncated && ((indexed && !replace) || !p.snapshot_only);
  return p;
}

BatchRows RowsOf(fold::FoldResult folded, const LiveRows& live, bool delete_every_key,
                 bool indexed) {
  BatchRows out;
  for (auto& [k, row] : folded.rows) {
    if (delete_every_key) out.deletes.push_back(k);
    if (row.kind != fold::FoldedRow::Kind::kUpsert) {
      if (indexed) out.removed_keys.push_back(k);
      continue;
    }
    if (indexed) out.upsert_keys.push_back(k);
    std::vector<Value> values = std::move(row.values);
    if (!row.unresolved.empty()) {
      auto it = live.find(row.resolve_from);
      if (it == live.end()) {
        ++out.toast_not_found;
      } else {
        for (int c : row.unresolved) {
          values[static_cast<size_t>(c)] = it->second.second[static_cast<size_t>(c)];
        }
      }
    }
    out.upserts.push_back(std::move(values));
  }
  return out;
}

}  // namespace pg2iceberg::materialize
