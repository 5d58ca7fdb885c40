#include "iceberg/snapshot_producer.h"

#include "iceberg/maintenance.h"
#include "iceberg/manifest_cache.h"

#include <algorithm>
#include <random>

namespace pg2iceberg::iceberg {
namespace {


int64_t SummaryLong(const Snapshot* s, const char* key) {
  if (s == nullptr) return 0;
  auto it = s->summary.find(key);
  if (it == s->summary.end()) return 0;
  return std::atoll(it->second.c_str());
}

bool IsLive(const ManifestEntry& e) {
  return e.status != ManifestEntry::EntryStatus::kDeleted;
}

}  // namespace

// What a commit adds or removes, for the snapshot summary.
struct FileTally {
  int64_t data_files = 0, delete_files = 0, eq_delete_files = 0, pos_delete_files = 0, dvs = 0;
  int64_t records = 0, files_size = 0, eq_deletes = 0, pos_deletes = 0;
  void Add(const DataFile& f, int sign) {
    // A deletion vector counts its blob (as Java does), not the Puffin file it shares.
    files_size += sign * (IsDeletionVector(f) ? f.content_size_in_bytes.value_or(0) : f.file_size_in_bytes);
    if (f.content == FileContent::kData) {
      data_files += sign;
      records += sign * f.record_count;
    } else {
      delete_files += sign;
      if (f.content == FileContent::kEqualityDeletes) {
        eq_delete_files += sign;
        eq_deletes += sign * f.record_count;
      } else {
        (IsDeletionVector(f) ? dvs : pos_delete_files) += sign;
        pos_deletes += sign * f.record_count;
      }
    }
  }
};


int64_t NewSnapshotId() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  int64_t id;
  do {
    id = static_cast<int64_t>(rng() >> 1);
  } while (id == 0);
  return id;
}

namespace {

Result<std::vector<ManifestEntry>> LiveEntriesOf(io::FileIO* io, const Snapshot* s,
                                                 bool deletes_only) {
  std::vector<ManifestEntry> out;
  if (s == nullptr) return out;
  PG2I_ASSIGN_OR_RETURN(std::vector<ManifestFile> manifests,
                        LoadManifestList(*io, s->manifest_list));
  for (const ManifestFile& mf : manifests) {
    if (deletes_only && mf.content != ManifestContent::kDeletes) continue;
    PG2I_ASSIGN_OR_RETURN(std::vector<ManifestEntry> entries, LoadManifest(*io, mf));
    for (auto& e : entries) {
      if (IsLive(e)) out.push_back(std::move(e));
    }
  }
  return out;
}

}  // namespace

Result<std::vector<ManifestEntry>> LiveEntries(io::FileIO* io, const TableMetadata& m,
                                               std::optional<int64_t> snapshot_id) {
  return LiveEntriesOf(io, snapshot_id ? m.SnapshotById(*snapshot_id) : m.CurrentSnapshot(), false);
}

Result<std::vector<ManifestEntry>> LiveDeleteEntries(io::FileIO* io, const TableMetadata& m) {
  return LiveEntriesOf(io, m.CurrentSnapshot(), true);
}

SnapshotProducer::SnapshotProducer(io::FileIO* io, Clock* clock, SnapshotChange change)
    : io_(io), clock_(clock ? clock : Clock::Real()), change_(std::move(change)),
      snapshot_id_(NewSnapshotId()) {}

Status SnapshotProducer::WriteNewManifests(const TableMetadata& base) {
  const Schema* schema = base.CurrentSchema();
  if (schema == nullptr) return DataLoss("table metadata has no current schema");
  const int32_t default_spec = base.default_spec_id;
  std::map<std::pair<int, int32_t>, std::vector<ManifestEntry>> groups;
  auto add = [&](const std::vector<DataFile>& files, ManifestContent content) {
    for (const DataFile& f : files) {
      ManifestEntry e;
      e.status = ManifestEntry::EntryStatus::kAdded;
      e.file = f;
      // Files that do not name a spec belong to the default one.
      if (e.file.spec_id < 0 || base.SpecById(e.file.spec_id) == nullptr) {
        e.file.spec_id = default_spec;
      }
      groups[{static_cast<int>(content), e.file.spec_id}].push_back(std::move(e));
    }
  };
  add(change_.added_data, ManifestContent::kData);
  if (change_.data_sequence_number) {
    for (auto& [key, entries] : groups) {
      if (key.first != static_cast<int>(ManifestContent::kData)) continue;
      for (ManifestEntry& e : entries) e.sequence_number = *change_.data_sequence_number;
    }
  }
  for (const DataFile& f : change_.added_deletes) {
    if (IsDeletionVector(f) && base.format_version < 3) {
      return InvalidArgument("deletion vector " + f.file_path + " cannot be added to a format v" +
                             std::to_string(base.format_version) + " table (they are v3)");
    }
  }
  add(change_.added_deletes, ManifestContent::kDeletes);
  for (auto& [key, entries] : groups) {
    const PartitionSpec* spec = base.SpecById(key.second);
    if (spec == nullptr) return InvalidArgument("added file uses unknown partition spec");
    PG2I_ASSIGN_OR_RETURN(ManifestWriteResult w,
                          WriteManifest(base.format_version, *schema, *spec,
                                        static_cast<ManifestContent>(key.first), snapshot_id_,
                                        entries));
    const std::string path = NewManifestUri(base.location, ManifestOrigin::kNewFiles);
    PG2I_RETURN_IF_ERROR(io_->WriteAll(path, w.bytes));
    ManifestFile mf = w.summary;
    mf.manifest_path = path;
    mf.manifest_length = static_cast<int64_t>(w.bytes.size());
    new_manifests_.push_back(std::move(mf));
  }
  new_manifests_written_ = true;
  return Status::Ok();
}

namespace {

// Writes `entries` as a manifest of this commit (a carried manifest rewritten, or merged ones).
Result<ManifestFile> WriteCommitManifest(io::FileIO* io, const TableMetadata& base,
                                         const PartitionSpec& spec, ManifestContent content,
                                         int64_t snapshot_id, int64_t seq,
                                         const std::vector<ManifestEntry>& entries,
                                         ManifestOrigin origin) {
  int64_t min_seq = seq;
  for (const ManifestEntry& e : entries) {
    if (e.status != ManifestEntry::EntryStatus::kDeleted && e.sequence_number) {
      min_seq = std::min(min_seq, *e.sequence_number);
    }
  }
  PG2I_ASSIGN_OR_RETURN(ManifestWriteResult w,
                        WriteManifest(base.format_version, *base.CurrentSchema(), spec, content,
                                      snapshot_id, entries));
  ManifestFile n = w.summary;
  n.manifest_path = NewManifestUri(base.location, origin);
  n.manifest_length = static_cast<int64_t>(w.bytes.size());
  n.sequence_number = seq;
  n.min_sequence_number = min_seq;
  PG2I_RETURN_IF_ERROR(io->WriteAll(n.manifest_path, w.bytes));
  return n;
}

int32_t MinCountToMerge(const TableMetadata& base) {
  auto it = base.properties.find("commit.manifest.min-count-to-merge");
  return it == base.properties.end() ? 100 : std::max(2, std::atoi(it->second.c_str()));
}

// The snapshot summary: the operation, what this commit added and removed, the table's totals.
std::map<std::string, std::string> SummaryOf(const std::string& op, const Snapshot* parent,
                                             const FileTally& added, const FileTally& removed) {
  std::map<std::string, std::string> sum;
  sum["operation"] = op;
  auto put = [&](const char* k, int64_t v) {
    if (v != 0) sum[k] = std::to_string(v);
  };
  put("added-data-files", added.data_files);
  put("added-records", added.records);
  put("added-files-size", added.files_size);
  put("added-delete-files", added.delete_files);
  put("added-equality-delete-files", added.eq_delete_files);
  put("added-position-delete-files", added.pos_delete_files);
  put("added-equality-deletes", added.eq_deletes);
  put("added-position-deletes", added.pos_deletes);
  put("added-dvs", added.dvs);
  put("deleted-data-files", removed.data_files);
  put("deleted-records", removed.records);
  put("removed-files-size", removed.files_size);
  put("removed-delete-files", removed.delete_files);
  put("removed-equality-delete-files", removed.eq_delete_files);
  put("removed-position-delete-files", removed.pos_delete_files);
  put("removed-equality-deletes", removed.eq_deletes);
  put("removed-position-deletes", removed.pos_deletes);
  put("removed-dvs", removed.dvs);
  auto total = [&](const char* k, int64_t add, int64_t rem) {
    sum[k] = std::to_string(std::max<int64_t>(0, SummaryLong(parent, k) + add - rem));
  };
  total("total-records", added.records, removed.records);
  total("total-files-size", added.files_size, removed.files_size);
  total("total-data-files", added.data_files, removed.data_files);
  total("total-delete-files", added.delete_files, removed.delete_files);
  total("total-position-deletes", added.pos_deletes, removed.pos_deletes);
  total("total-equality-deletes", added.eq_deletes, removed.eq_deletes);
  return sum;
}

}  // namespace

Result<std::vector<ManifestFile>> SnapshotProducer::NewManifests(const TableMetadata& base,
                                                                 int64_t seq) {
  if (!new_manifests_written_) PG2I_RETURN_IF_ERROR(WriteNewManifests(base));
  std::vector<ManifestFile> manifests;
  for (const ManifestFile& m : new_manifests_) {
    ManifestFile mf = m;
    mf.sequence_number = seq;
    mf.min_sequence_number = seq;
    if (change_.data_sequence_number && mf.content == ManifestContent::kData) {
      if (*change_.data_sequence_number > seq) {
        return InvalidArgument("a data sequence number cannot be newer than the commit's");
      }
      mf.min_sequence_number = *change_.data_sequence_number;
    }
    manifests.push_back(std::move(mf));
  }
  return manifests;
}

Status SnapshotProducer::CarryParentManifests(const TableMetadata& base, int64_t seq,
                                              std::vector<ManifestFile>* manifests,
                                              FileTally* removed, PendingSnapshot* out) {
  const Snapshot* parent = base.CurrentSnapshot();
  if (parent == nullptr) return Status::Ok();
  const bool removing = change_.remove_all || !change_.removed_paths.empty();
  auto removes = [&](const ManifestEntry& e) {
    return IsLive(e) && (change_.remove_all || change_.removed_paths.count(FileKey(e.file)));
  };
  std::set<std::string> still_to_remove = change_.removed_paths;
  PG2I_ASSIGN_OR_RETURN(std::vector<ManifestFile> existing,
                        LoadManifestList(*io_, parent->manifest_list));
  for (const ManifestFile& mf : existing) {
    if (!removing) {
      manifests->push_back(mf);
      continue;
    }
    PG2I_ASSIGN_OR_RETURN(std::vector<ManifestEntry> entries, LoadManifest(*io_, mf));
    if (std::none_of(entries.begin(), entries.end(), removes)) {
      manifests->push_back(mf);
      continue;
    }
    // Rewritten: the removed entries DELETED by this snapshot, the others EXISTING; earlier
    // deletions are not carried.
    std::vector<ManifestEntry> rewritten;
    for (const ManifestEntry& e : entries) {
      if (!IsLive(e)) continue;
      ManifestEntry n = e;
      if (removes(e)) {
        n.status = ManifestEntry::EntryStatus::kDeleted;
        n.snapshot_id = snapshot_id_;
        removed->Add(e.file, 1);
        still_to_remove.erase(FileKey(e.file));
      } else {
        n.status = ManifestEntry::EntryStatus::kExisting;
      }
      rewritten.push_back(std::move(n));
    }
    const PartitionSpec* mspec = base.SpecById(mf.partition_spec_id);
    if (mspec == nullptr) return DataLoss("manifest uses unknown partition spec");
    PG2I_ASSIGN_OR_RETURN(ManifestFile n, WriteCommitManifest(io_, base, *mspec, mf.content,
                                                              snapshot_id_, seq, rewritten,
                                                              ManifestOrigin::kRewritten));
    out->written.push_back(n.manifest_path);
    manifests->push_back(std::move(n));
  }
  if (!still_to_remove.empty()) {
    return Aborted("file " + *still_to_remove.begin() +
                   " to be replaced is no longer live in the table; a concurrent change "
                   "removed it, so this replacement must be planned again");
  }
  return Status::Ok();
}

Status SnapshotProducer::MergeManifests(const TableMetadata& base, int64_t seq,
                                        std::vector<ManifestFile>* manifests,
                                        PendingSnapshot* out) {
  if (static_cast<int32_t>(manifests->size()) <= MinCountToMerge(base)) return Status::Ok();
  const PartitionSpec& spec = *base.DefaultSpec();
  for (ManifestContent content : {ManifestContent::kData, ManifestContent::kDeletes}) {
    // This commit's own manifests stay as they are (their entries are ADDED).
    std::vector<ManifestFile> keep, merge;
    for (ManifestFile& mf : *manifests) {
      const bool mergeable = mf.content == content && mf.partition_spec_id == spec.spec_id &&
                             mf.added_snapshot_id != snapshot_id_;
      (mergeable ? merge : keep).push_back(mf);
    }
    if (merge.size() < 2) continue;
    std::vector<ManifestEntry> entries;
    for (const ManifestFile& mf : merge) {
      PG2I_ASSIGN_OR_RETURN(std::vector<ManifestEntry> es, LoadManifest(*io_, mf));
      for (ManifestEntry& e : es) {
        if (!IsLive(e)) continue;
        e.status = ManifestEntry::EntryStatus::kExisting;
        entries.push_back(std::move(e));
      }
    }
    PG2I_ASSIGN_OR_RETURN(ManifestFile n, WriteCommitManifest(io_, base, spec, content,
                                                              snapshot_id_, seq, entries,
                                                              ManifestOrigin::kMerged));
    out->written.push_back(n.manifest_path);
    keep.push_back(std::move(n));
    *manifests = std::move(keep);
  }
  return Status::Ok();
}

Result<PendingSnapshot> SnapshotProducer::Produce(const TableMetadata& base) {
  const Schema* schema = base.CurrentSchema();
  if (schema == nullptr || base.DefaultSpec() == nullptr) {
    return DataLoss("table metadata has no current schema or default partition spec");
  }
  PendingSnapshot out;
  const int64_t seq = NextSequenceNumber(base);
  const Snapshot* parent = base.CurrentSnapshot();

  // New files: written once, reused by every attempt; then the parent's manifests.
  PG2I_ASSIGN_OR_RETURN(std::vector<ManifestFile> manifests, NewManifests(base, seq));
  FileTally added, removed;
  for (const DataFile& f : change_.added_data) added.Add(f, 1);
  for (const DataFile& f : change_.added_deletes) added.Add(f, 1);
  PG2I_RETURN_IF_ERROR(CarryParentManifests(base, seq, &manifests, &removed, &out));
  // Fewer manifests keep reads fast for engines.
  PG2I_RETURN_IF_ERROR(MergeManifests(base, seq, &manifests, &out));

  // Data manifests first, then deletes (as Java orders them).
  std::stable_sort(manifests.begin(), manifests.end(),
                   [](const ManifestFile& a, const ManifestFile& b) {
                     return static_cast<int>(a.content) < static_cast<int>(b.content);
                   });
  // v3 row lineage: each data manifest written by this commit gets the next range of row ids,
  // as many as it holds live rows; the snapshot says where its ranges start and how many.
  Snapshot& s = out.snapshot;
  if (base.format_version >= 3) {
    s.first_row_id = base.next_row_id.value_or(0);
    int64_t next = *s.first_row_id;
    for (ManifestFile& mf : manifests) {
      if (mf.content != ManifestContent::kData || mf.first_row_id) continue;
      mf.first_row_id = next;
      next += mf.added_rows_count + mf.existing_rows_count;
    }
    s.added_rows = next - *s.first_row_id;
  }
  PG2I_ASSIGN_OR_RETURN(
      std::string list_bytes,
      WriteManifestList(base.format_version, snapshot_id_,
                        parent ? std::optional<int64_t>(parent->snapshot_id) : std::nullopt,
                        seq, manifests));
  const std::string list_path = NewManifestListUri(base.location, snapshot_id_);
  PG2I_RETURN_IF_ERROR(io_->WriteAll(list_path, list_bytes));
  out.written.push_back(list_path);

  std::string op = change_.operation;
  if (op.empty()) {
    const bool adds_data = !change_.added_data.empty();
    const bool deletes = !change_.added_deletes.empty() || removed.data_files + removed.delete_files > 0;
    op = !deletes ? "append" : (adds_data ? "overwrite" : "delete");
  }
  s.snapshot_id = snapshot_id_;
  if (parent) s.parent_snapshot_id = parent->snapshot_id;
  s.sequence_number = seq;
  s.timestamp_ms = std::max(clock_->NowMillis(), base.last_updated_ms);
  s.manifest_list = list_path;
  s.schema_id = schema->schema_id();
  s.summary = SummaryOf(op, parent, added, removed);
  for (const auto& [k, v] : change_.extra_summary) s.summary[k] = v;

  out.requirements.push_back(TableRequirement::AssertRefSnapshotId(
      std::string(kMainBranch),
      parent ? std::optional<int64_t>(parent->snapshot_id) : std::nullopt));
  out.updates.push_back(TableUpdate::AddSnapshot(s));
  SnapshotRef ref;
  ref.snapshot_id = snapshot_id_;
  ref.type = "branch";
  out.updates.push_back(TableUpdate::SetSnapshotRef(std::string(kMainBranch), ref));
  for (const ManifestFile& m : new_manifests_) out.written.push_back(m.manifest_path);
  return out;
}

namespace {

// Every file a snapshot references: its manifest list, manifests, and data/delete files (only
// the live ones with `live_only`: a deleted entry names a file the snapshot no longer reads).
Status CollectFiles(io::FileIO* io, const Snapshot& s, bool live_only,
                    std::set<std::string>* lists, std::set<std::string>* manifests,
                    std::set<std::string>* files) {
  lists->insert(s.manifest_list);
  PG2I_ASSIGN_OR_RETURN(std::vector<ManifestFile> mfs, LoadManifestList(*io, s.manifest_list));
  for (const ManifestFile& mf : mfs) {
    if (!manifests->insert(mf.manifest_path).second) continue;
    PG2I_ASSIGN_OR_RETURN(std::vector<ManifestEntry> entries, LoadManifest(*io, mf));
    for (const ManifestEntry& e : entries) {
      if (live_only && e.status == ManifestEntry::EntryStatus::kDeleted) continue;
      files->insert(e.file.file_path);
    }
  }
  return Status::Ok();
}

}  // namespace

Result<ExpiryPlan> PlanExpiry(io::FileIO* io, const TableMetadata& m, int64_t older_than_ms,
                              int retain_last, const std::set<int64_t>& also_keep) {
  ExpiryPlan plan;
  std::set<int64_t> keep = also_keep;
  for (const auto& [name, ref] : m.refs) keep.insert(ref.snapshot_id);
  if (m.current_snapshot_id) keep.insert(*m.current_snapshot_id);
  // The newest `retain_last` snapshots of main's ancestry stay.
  const Snapshot* s = m.CurrentSnapshot();
  for (int i = 0; s != nullptr && i < retain_last; ++i) {
    keep.insert(s->snapshot_id);
    s = s->parent_snapshot_id ? m.SnapshotById(*s->parent_snapshot_id) : nullptr;
  }
  for (const Snapshot& snap : m.snapshots) {
    if (!keep.count(snap.snapshot_id) && snap.timestamp_ms < older_than_ms) {
      plan.snapshot_ids.push_back(snap.snapshot_id);
    }
  }
  if (plan.snapshot_ids.empty()) return plan;
  std::set<std::string> kept_lists, kept_manifests, kept_files;
  std::set<std::string> gone_lists, gone_manifests, gone_files;
  const std::set<int64_t> removing(plan.snapshot_ids.begin(), plan.snapshot_ids.end());
  for (const Snapshot& snap : m.snapshots) {
    if (removing.count(snap.snapshot_id)) {
      PG2I_RETURN_IF_ERROR(
          CollectFiles(io, snap, /*live_only=*/false, &gone_lists, &gone_manifests, &gone_files));
    } else {
      PG2I_RETURN_IF_ERROR(
          CollectFiles(io, snap, /*live_only=*/true, &kept_lists, &kept_manifests, &kept_files));
    }
  }
  // Compared in one spelling: a file named s3a://… in one manifest and s3://… in another is
  // one object.
  auto add = [&](const std::set<std::string>& gone, const std::set<std::string>& kept) {
    std::set<std::string> keep;
    for (const auto& f : kept) keep.insert(CanonicalLocation(f));
    for (const auto& f : gone) {
      if (!keep.count(CanonicalLocation(f))) plan.files_to_delete.push_back(f);
    }
  };
  add(gone_files, kept_files);
  add(gone_manifests, kept_manifests);
  add(gone_lists, kept_lists);
  plan.updates.push_back(TableUpdate::RemoveSnapshots(plan.snapshot_ids));
  return plan;
}

}  // namespace pg2iceberg::iceberg
