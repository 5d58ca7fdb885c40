#include "upkeep/compactor.h"

#include <map>
#include <set>
#include <utility>
#include <vector>

#include "base/crash_point.h"
#include "base/log.h"
#include "iceberg/parquet_io.h"
#include "iceberg/partitioned_writer.h"
#include "iceberg/snapshot_producer.h"

namespace pg2iceberg::upkeep {
namespace {

using iceberg::DataFile;
using iceberg::FileContent;
using iceberg::ManifestEntry;
using iceberg::TableMetadata;

using PartitionKey = std::pair<int32_t, std::vector<Value>>;  // spec id, partition values

int64_t DataSeq(const ManifestEntry& e) { return e.sequence_number.value_or(0); }

// Whether equality delete `del` applies to data file `data` (the spec: a delete file of an
// unpartitioned spec applies to every partition; otherwise to data files of the same spec and
// partition; and only to data with a lower data sequence number).
bool Applies(const TableMetadata& m, const ManifestEntry& del, const ManifestEntry& data) {
  if (DataSeq(del) <= DataSeq(data)) return false;
  const iceberg::PartitionSpec* spec = m.SpecById(del.file.spec_id);
  if (spec == nullptr || spec->unpartitioned()) return true;
  return del.file.spec_id == data.file.spec_id && del.file.partition == data.file.partition;
}

struct Plan {
  int64_t base_snapshot_id = -1;
  int64_t base_seq = 0;
  std::map<PartitionKey, std::vector<ManifestEntry>> groups;  // data files to rewrite
  std::vector<ManifestEntry> deletes;                          // equality deletes to apply
  std::set<std::string> drop_deletes;  // delete files that apply to no data file left
  std::set<std::string> live_paths;    // every live file the plan saw
  std::string skipped;
};

Result<Plan> MakePlan(io::FileIO* io, const TableMetadata& m, const CompactionOptions& o) {
  Plan p;
  const iceberg::Snapshot* current = m.CurrentSnapshot();
  if (current == nullptr) {
    p.skipped = "the table has no snapshot yet";
    return p;
  }
  p.base_snapshot_id = current->snapshot_id;
  p.base_seq = current->sequence_number;
  PG2I_ASSIGN_OR_RETURN(std::vector<ManifestEntry> live, iceberg::LiveEntries(io, m));
  std::map<PartitionKey, std::vector<ManifestEntry>> by_partition;
  std::vector<ManifestEntry> eq_deletes;
  for (ManifestEntry& e : live) {
    p.live_paths.insert(e.file.file_path);
    switch (e.file.content) {
      case FileContent::kData:
        by_partition[{e.file.spec_id, e.file.partition}].push_back(std::move(e));
        break;
      case FileContent::kEqualityDeletes:
        eq_deletes.push_back(std::move(e));
        break;
      case FileContent::kPositionDeletes:
        p.skipped = "it has position deletes or deletion vectors (written by another engine), "
                    "which compaction does not apply yet";
        return p;
    }
  }
  for (auto& [key, files] : by_partition) {
    int64_t small = 0;
    std::set<std::string> applying;
    for (const ManifestEntry& f : files) {
      if (f.file.file_size_in_bytes < o.target_file_size) ++small;
      for (const ManifestEntry& d : eq_deletes) {
        if (Applies(m, d, f)) applying.insert(d.file.file_path);
      }
    }
    const int64_t n_deletes = static_cast<int64_t>(applying.size());
    const bool worth = o.all ? (files.size() > 1 || n_deletes > 0)
                             : (small >= o.min_data_files || n_deletes >= o.min_delete_files);
    if (worth) p.groups[key] = std::move(files);
  }
  // A delete file stays while some data file that is not rewritten has a lower sequence
  // number in its scope. The rewritten files get the base snapshot's sequence number, which
  // no live delete file exceeds.
  int64_t dead = 0;
  for (ManifestEntry& d : eq_deletes) {
    bool needed = false, used = false;
    for (const auto& [key, files] : by_partition) {
      const bool rewritten = p.groups.count(key) > 0;
      const auto& list = rewritten ? p.groups.at(key) : files;
      for (const ManifestEntry& f : list) {
        if (!Applies(m, d, f)) continue;
        (rewritten ? used : needed) = true;
      }
    }
    if (!needed) {
      p.drop_deletes.insert(d.file.file_path);
      if (!used) ++dead;
    }
    if (used) p.deletes.push_back(std::move(d));
  }
  // Delete files that apply to nothing are worth a commit of their own once there are enough.
  if (p.groups.empty() && !(dead > 0 && (o.all || dead >= o.min_delete_files))) {
    p.drop_deletes.clear();
    p.skipped = "no partition reached the thresholds";
  }
  return p;
}

// One equality delete file's keys, projected on the current schema.
struct DeleteKeys {
  const ManifestEntry* entry = nullptr;
  std::vector<size_t> idx;  // positions of its equality fields in the current schema
  std::set<std::vector<Value>> keys;
};

Result<std::vector<DataFile>> Rewrite(std::shared_ptr<io::FileIO> io, const TableMetadata& m,
                                      const Plan& p, const CompactionOptions& o,
                                      CompactionResult* r, std::vector<std::string>* written) {
  const std::vector<iceberg::Field> fields = m.CurrentSchema()->fields();
  std::vector<DeleteKeys> deletes;
  for (const ManifestEntry& d : p.deletes) {
    DeleteKeys k;
    k.entry = &d;
    std::vector<iceberg::Field> eq;
    for (int32_t id : d.file.equality_ids) {
      size_t i = 0;
      while (i < fields.size() && fields[i].id != id) ++i;
      if (i == fields.size()) {
        return FailedPrecondition("equality delete file " + d.file.file_path +
                                  " deletes by field id " + std::to_string(id) +
                                  ", which the current schema lacks; the table is not compacted");
      }
      k.idx.push_back(i);
      eq.push_back(fields[i]);
    }
    PG2I_ASSIGN_OR_RETURN(auto reader, iceberg::DataFileReader::Open(io, d.file.file_path, eq));
    PG2I_ASSIGN_OR_RETURN(auto rows, reader->ReadAllRows());
    for (auto& row : rows) k.keys.insert(std::move(row));
    deletes.push_back(std::move(k));
  }
  iceberg::ParquetWriteOptions wo;
  wo.target_file_size = o.target_file_size;
  std::vector<DataFile> out;
  for (const auto& [key, files] : p.groups) {
    // One writer per partition: one open file at a time.
    PG2I_ASSIGN_OR_RETURN(auto writer, iceberg::PartitionedWriter::MakeData(io, m, wo));
    for (const ManifestEntry& f : files) {
      if (o.cancel != nullptr && o.cancel->load()) return Cancelled("compaction stopped");
      PG2I_ASSIGN_OR_RETURN(auto reader, iceberg::DataFileReader::Open(io, f.file.file_path, fields));
      PG2I_ASSIGN_OR_RETURN(auto rows, reader->ReadAllRows());
      std::vector<const DeleteKeys*> applying;
      for (const DeleteKeys& d : deletes) {
        if (Applies(m, *d.entry, f)) applying.push_back(&d);
      }
      std::vector<std::vector<Value>> keep;
      keep.reserve(rows.size());
      std::vector<Value> probe;
      for (auto& row : rows) {
        bool deleted = false;
        for (const DeleteKeys* d : applying) {
          probe.clear();
          for (size_t i : d->idx) probe.push_back(row[i]);
          if (d->keys.count(probe)) {
            deleted = true;
            break;
          }
        }
        if (!deleted) keep.push_back(std::move(row));
      }
      r->rows_read += static_cast<int64_t>(rows.size());
      r->rows_written += static_cast<int64_t>(keep.size());
      r->bytes_read += f.file.file_size_in_bytes;
      ++r->data_files_read;
      PG2I_RETURN_IF_ERROR(writer->Write(keep));
    }
    PG2I_ASSIGN_OR_RETURN(std::vector<DataFile> done, writer->Close());
    for (DataFile& f : done) {
      written->push_back(f.file_path);
      r->bytes_written += f.file_size_in_bytes;
      out.push_back(std::move(f));
    }
    ++r->partitions;
  }
  r->data_files_written = static_cast<int64_t>(out.size());
  return out;
}

}  // namespace

Result<CompactionResult> CompactTable(catalog::Catalog& catalog, std::shared_ptr<io::FileIO> io,
                                      const catalog::TableIdent& ident,
                                      const CompactionOptions& options, Clock* clock) {
  if (options.target_file_size <= 0) {
    return InvalidArgument("compaction needs a target file size above 0");
  }
  for (int plan_no = 0;; ++plan_no) {
    CompactionResult r;
    PG2I_ASSIGN_OR_RETURN(catalog::LoadedTable loaded, catalog.LoadTable(ident));
    PG2I_ASSIGN_OR_RETURN(Plan plan, MakePlan(io.get(), loaded.metadata, options));
    if (!plan.skipped.empty()) {
      r.skipped = plan.skipped;
      return r;
    }
    std::vector<std::string> written;
    auto attempt = [&]() -> Result<CompactionResult> {
      iceberg::SnapshotChange change;
      PG2I_ASSIGN_OR_RETURN(change.added_data,
                            Rewrite(io, loaded.metadata, plan, options, &r, &written));
      if (loaded.metadata.format_version >= 2) change.data_sequence_number = plan.base_seq;
      for (const auto& [key, files] : plan.groups) {
        for (const ManifestEntry& f : files) change.removed_paths.insert(f.file.file_path);
      }
      change.removed_paths.insert(plan.drop_deletes.begin(), plan.drop_deletes.end());
      r.delete_files_removed = static_cast<int64_t>(plan.drop_deletes.size());
      change.operation = "replace";
      change.extra_summary["pg2iceberg.compaction"] = "true";
      CrashPoint("after_compaction_write");
      iceberg::SnapshotProducer producer(io.get(), clock, std::move(change));
      catalog::LoadedTable base = loaded;
      for (int commit_no = 0;; ++commit_no) {
        if (base.metadata.current_snapshot_id != plan.base_snapshot_id) {
          // A position delete or deletion vector committed since may target a rewritten file.
          PG2I_ASSIGN_OR_RETURN(auto live, iceberg::LiveEntries(io.get(), base.metadata));
          for (const ManifestEntry& e : live) {
            if (e.file.content == FileContent::kPositionDeletes &&
                !plan.live_paths.count(e.file.file_path)) {
              return Aborted("a position delete was committed since the rewrite was planned");
            }
          }
        }
        PG2I_ASSIGN_OR_RETURN(iceberg::PendingSnapshot pending, producer.Produce(base.metadata));
        auto committed = catalog.CommitTable({ident, pending.requirements, pending.updates});
        if (committed.ok()) {
          CrashPoint("after_compaction_commit");
          r.snapshot_id = pending.snapshot.snapshot_id;
          return r;
        }
        if (committed.status().code() != StatusCode::kAborted || commit_no >= 10) {
          return committed.status();
        }
        PG2I_ASSIGN_OR_RETURN(base, catalog.LoadTable(ident));
      }
    };
    auto done = attempt();
    if (done.ok()) return done;
    if (done.status().code() == StatusCode::kCommitStateUnknown) {
      return done.status().WithContext("compacting " + ident.ToString() +
                                       " (its new files are left for maintain's orphan cleanup)");
    }
    (void)io->DeleteMany(written);
    if (done.status().code() != StatusCode::kAborted || plan_no + 1 >= options.max_plans) {
      return done.status().WithContext("compacting " + ident.ToString());
    }
    log::Info("compaction planned again: the table changed under it",
              {{"table", ident.ToString()}, {"reason", done.status().message()}});
  }
}

}  // namespace pg2iceberg::upkeep
