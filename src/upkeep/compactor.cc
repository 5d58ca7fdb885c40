#include "upkeep/compactor.h"

#include <arrow/array.h>
#include <arrow/builder.h>
#include <arrow/record_batch.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "base/crash_point.h"
#include "base/log.h"
#include "base/scope_exit.h"
#include "iceberg/commit_ops.h"
#include "iceberg/file_names.h"
#include "iceberg/manifest.h"
#include "iceberg/parquet_io.h"
#include "iceberg/partitioned_writer.h"
#include "iceberg/puffin.h"
#include "iceberg/single_value.h"
#include "iceberg/table_scan.h"

namespace pg2iceberg::upkeep {
namespace {

using iceberg::DataFile;
using iceberg::FileContent;
using iceberg::ManifestEntry;
using iceberg::TableMetadata;

using PartitionKey = std::pair<int32_t, std::vector<Value>>;  // spec id, partition values

int64_t DataSeq(const ManifestEntry& e) { return e.sequence_number.value_or(0); }

// Whether delete file `del` is in the partition scope of data file `data` (the spec: a delete
// file of an unpartitioned spec reaches every partition; otherwise data files of the same spec
// and partition). A file in `unnormalized` (its partition tuple could not be put in one
// representation) counts as in every partition's scope: the safe side, its deletes are applied
// and kept.
bool InScope(const TableMetadata& m, const ManifestEntry& del, const ManifestEntry& data,
             const std::set<std::string>& unnormalized) {
  const iceberg::PartitionSpec* spec = m.SpecById(del.file.spec_id);
  if (spec == nullptr || spec->unpartitioned()) return true;
  if (unnormalized.count(del.file.file_path) || unnormalized.count(data.file.file_path)) {
    return true;
  }
  return del.file.spec_id == data.file.spec_id && del.file.partition == data.file.partition;
}

// Whether equality delete `del` applies to data file `data`: in scope, and only to data with a
// lower data sequence number.
bool Applies(const TableMetadata& m, const ManifestEntry& del, const ManifestEntry& data,
             const std::set<std::string>& unnormalized) {
  return DataSeq(del) > DataSeq(data) && InScope(m, del, data, unnormalized);
}

// Whether position delete `del` may delete rows of `data`: in scope, and to data with a data
// sequence number not above the delete's; its rows say which.
bool PositionApplies(const TableMetadata& m, const ManifestEntry& del, const ManifestEntry& data,
                     const std::set<std::string>& unnormalized) {
  return DataSeq(data) <= DataSeq(del) && InScope(m, del, data, unnormalized);
}

// Whether the key ranges of equality delete `del` and data file `data` may overlap, by their
// column bounds: false only when some equality column's ranges are disjoint. Bounds that are
// missing or unreadable (another type after a promotion) may overlap. Used to decide whether a
// partition is worth compacting (the materializer's deletes are global, so by scope alone every
// delete applies to every older file); never to decide what is dropped or applied.
bool MayOverlap(const TableMetadata& m, const ManifestEntry& del, const ManifestEntry& data) {
  const iceberg::Schema* schema = m.CurrentSchema();
  for (int32_t id : del.file.equality_ids) {
    const iceberg::Field* f = schema->FindById(id);
    if (f == nullptr || f->type.kind != iceberg::DataType::Kind::kPrimitive) continue;
    auto dl = del.file.lower_bounds.find(id), du = del.file.upper_bounds.find(id);
    auto fl = data.file.lower_bounds.find(id), fu = data.file.upper_bounds.find(id);
    if (dl == del.file.lower_bounds.end() || du == del.file.upper_bounds.end() ||
        fl == data.file.lower_bounds.end() || fu == data.file.upper_bounds.end()) {
      continue;
    }
    auto a_lo = iceberg::DeserializeSingleValue(f->type.primitive, dl->second);
    auto a_hi = iceberg::DeserializeSingleValue(f->type.primitive, du->second);
    auto b_lo = iceberg::DeserializeSingleValue(f->type.primitive, fl->second);
    auto b_hi = iceberg::DeserializeSingleValue(f->type.primitive, fu->second);
    if (!a_lo.ok() || !a_hi.ok() || !b_lo.ok() || !b_hi.ok()) continue;
    if (a_lo->index() != b_hi->index() || b_lo->index() != a_hi->index()) continue;
    if (*a_hi < *b_lo || *b_hi < *a_lo) return false;
  }
  return true;
}

// Partition tuples in one representation (another writer's manifest may hold a day as a date
// where ours holds an int), so that tuples of one partition compare equal.
// False when a value could not be converted (the tuple then may not compare equal to its
// partition's other tuples).
bool NormalizePartition(const TableMetadata& m, DataFile* f) {
  const iceberg::PartitionSpec* spec = m.SpecById(f->spec_id);
  if (spec == nullptr) return false;
  if (spec->unpartitioned()) return true;
  if (f->partition.size() != spec->fields.size()) return false;
  auto types = iceberg::PartitionTypes(*m.CurrentSchema(), *spec);
  if (!types.ok()) return false;
  for (size_t i = 0; i < f->partition.size(); ++i) {
    if (std::holds_alternative<std::monostate>(f->partition[i])) continue;
    auto v = iceberg::PartitionValueAs((*types)[i], f->partition[i]);
    if (!v.ok()) return false;
    f->partition[i] = std::move(*v);
  }
  return true;
}

struct Plan {
  int64_t base_snapshot_id = -1;
  int64_t base_seq = 0;
  std::map<PartitionKey, std::vector<ManifestEntry>> groups;  // data files to rewrite
  std::vector<ManifestEntry> deletes;                          // equality deletes to apply
  // Position delete files (by FileKey): their entry, and the positions they delete per data
  // file.
  std::map<std::string, std::pair<ManifestEntry, std::map<std::string, std::set<int64_t>>>>
      positions;
  std::set<std::string> drop_deletes;  // delete files that apply to no data file left
  std::set<std::string> unnormalized;  // files whose partition tuple could not be normalized
  bool rewrites_other_spec = false;    // some rewritten file is not of the default spec
  std::string skipped;
};

Result<Plan> MakePlan(const std::shared_ptr<io::FileIO>& io_shared, const TableMetadata& m,
                      const CompactionOptions& o) {
  io::FileIO* io = io_shared.get();
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
  std::vector<ManifestEntry> eq_deletes, pos_deletes;
  for (ManifestEntry& e : live) {
    if (!NormalizePartition(m, &e.file)) p.unnormalized.insert(e.file.file_path);
    switch (e.file.content) {
      case FileContent::kData:
        by_partition[{e.file.spec_id, e.file.partition}].push_back(std::move(e));
        break;
      case FileContent::kEqualityDeletes:
        eq_deletes.push_back(std::move(e));
        break;
      case FileContent::kPositionDeletes:
        pos_deletes.push_back(std::move(e));
        break;
    }
  }
  // Position deletes are read whole (their rows say which data file they reach); a deletion
  // vector is its blob in a Puffin file that may hold others.
  for (ManifestEntry& d : pos_deletes) {
    PG2I_ASSIGN_OR_RETURN(auto by_file, iceberg::ReadPositionDeletes(io_shared, d.file));
    const std::string key = iceberg::FileKey(d.file);
    p.positions[key] = {std::move(d), std::move(by_file)};
  }
  const iceberg::Schema* schema = m.CurrentSchema();
  for (const ManifestEntry& d : eq_deletes) {
    for (int32_t id : d.file.equality_ids) {
      if (schema->FindById(id) == nullptr) {
        p.skipped = "equality delete file " + d.file.file_path + " deletes by field id " +
                    std::to_string(id) + ", which the current schema lacks";
        return p;
      }
    }
  }
  // In a partition past a threshold, the small files and those with deletes that may apply
  // are rewritten; a large file without deletes stays as it is. Bounds are not looked at with
  // --all, or once delete files pile up (4× the threshold): then every file in a delete's
  // scope is rewritten, so that the (global) deletes can go.
  const bool drain =
      o.all || static_cast<int64_t>(eq_deletes.size()) >= 4 * static_cast<int64_t>(o.min_delete_files);
  std::set<std::string> rewrite;
  for (auto& [key, files] : by_partition) {
    int64_t small = 0;
    std::set<std::string> applying;
    std::vector<const ManifestEntry*> candidates;
    for (const ManifestEntry& f : files) {
      bool has_deletes = false;
      for (const ManifestEntry& d : eq_deletes) {
        if (Applies(m, d, f, p.unnormalized) && (drain || MayOverlap(m, d, f))) {
          applying.insert(d.file.file_path);
          has_deletes = true;
        }
      }
      for (const auto& [path, pd] : p.positions) {
        if (pd.second.count(f.file.file_path) && PositionApplies(m, pd.first, f, p.unnormalized)) {
          applying.insert(path);
          has_deletes = true;
        }
      }
      const bool is_small = f.file.file_size_in_bytes < o.target_file_size * 3 / 4;
      small += is_small;
      if (is_small || has_deletes) candidates.push_back(&f);
    }
    const int64_t n_deletes = static_cast<int64_t>(applying.size());
    const bool worth = o.all ? (candidates.size() > 1 || n_deletes > 0)
                             : (small >= o.min_data_files || n_deletes >= o.min_delete_files);
    if (!worth || candidates.empty()) continue;
    std::vector<ManifestEntry>& group = p.groups[key];
    for (const ManifestEntry* f : candidates) {
      rewrite.insert(f->file.file_path);
      if (f->file.spec_id != m.default_spec_id) p.rewrites_other_spec = true;
      group.push_back(*f);
    }
  }
  // A delete file stays while some data file that is not rewritten has a lower sequence
  // number in its scope (by the spec's rule alone, not by bounds). The rewritten files get the
  // base snapshot's sequence number, which no live delete file exceeds.
  int64_t dead = 0;
  for (ManifestEntry& d : eq_deletes) {
    bool needed = false, used = false;
    for (const auto& [key, files] : by_partition) {
      for (const ManifestEntry& f : files) {
        if (!Applies(m, d, f, p.unnormalized)) continue;
        (rewrite.count(f.file.file_path) ? used : needed) = true;
      }
    }
    if (!needed) {
      p.drop_deletes.insert(d.file.file_path);
      if (!used) ++dead;
    }
    if (used) p.deletes.push_back(std::move(d));
  }
  // A position delete file goes once every live data file its rows reach is rewritten.
  for (const auto& [path, pd] : p.positions) {
    bool needed = false, used = false;
    for (const auto& [key, files] : by_partition) {
      for (const ManifestEntry& f : files) {
        if (!pd.second.count(f.file.file_path) || !PositionApplies(m, pd.first, f, p.unnormalized)) {
          continue;
        }
        (rewrite.count(f.file.file_path) ? used : needed) = true;
      }
    }
    if (!needed) {
      p.drop_deletes.insert(path);
      if (!used) ++dead;
    }
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

// Where the rewrite put the rows of each file it replaced, so that a position delete committed
// for a replaced file while it ran can be carried to the row's new place.
struct Moves {
  struct Replaced {
    size_t group = 0;               // index in `groups`
    int64_t first = 0;              // the writer's row number of its first kept row
    std::vector<int64_t> dropped;   // its positions not rewritten (deleted), ascending
  };
  struct Group {
    size_t first_file = 0;  // index of its first new file in the rewrite's added files
    iceberg::PartitionedWriter::RowLocations rows;  // of the written rows
  };
  std::map<std::string, Replaced> files;  // by replaced data file path
  std::vector<Group> groups;

  // The new place (index in the added files, position) of row `pos` of replaced file `path`;
  // empty when the file was not rewritten or the row was dropped by the rewrite.
  std::optional<std::pair<size_t, int64_t>> Find(const std::string& path, int64_t pos) const {
    auto f = files.find(path);
    if (f == files.end()) return std::nullopt;
    const Replaced& r = f->second;
    auto below = std::lower_bound(r.dropped.begin(), r.dropped.end(), pos);
    if (below != r.dropped.end() && *below == pos) return std::nullopt;
    const int64_t row = r.first + pos - (below - r.dropped.begin());
    const Group& g = groups[r.group];
    if (row < 0 || row >= static_cast<int64_t>(g.rows.size())) return std::nullopt;
    const auto loc = g.rows[static_cast<size_t>(row)];
    return std::make_pair(g.first_file + loc.file, loc.pos);
  }
};

// Columns of `fields` that identity-partition `f`, with `f`'s partition value for them.
std::vector<std::pair<size_t, Value>> IdentityColumns(const TableMetadata& m, const DataFile& f,
                                                      const std::vector<iceberg::Field>& fields) {
  std::vector<std::pair<size_t, Value>> out;
  const iceberg::PartitionSpec* spec = m.SpecById(f.spec_id);
  if (spec == nullptr || spec->fields.size() != f.partition.size()) return out;
  for (size_t i = 0; i < spec->fields.size(); ++i) {
    if (spec->fields[i].transform != "identity") continue;
    if (std::holds_alternative<std::monostate>(f.partition[i])) continue;
    for (size_t c = 0; c < fields.size(); ++c) {
      if (fields[c].id != spec->fields[i].source_id) continue;
      if (fields[c].type.kind != iceberg::DataType::Kind::kPrimitive) continue;
      auto v = iceberg::PartitionValueAs(fields[c].type.primitive, f.partition[i]);
      if (v.ok()) out.emplace_back(c, std::move(*v));
    }
  }
  return out;
}

// `batch` with the NULLs of its row-lineage columns (at `at`: _row_id, then
// _last_updated_sequence_number) filled as the spec has them inherited: the file's first row
// id plus the row's position (`first_position` is the batch's first row's), and the file's
// data sequence number.
Result<std::shared_ptr<arrow::RecordBatch>> WithLineage(std::shared_ptr<arrow::RecordBatch> batch,
                                                        size_t at, const ManifestEntry& f,
                                                        int64_t first_position) {
  const std::optional<int64_t> row_id_base = f.file.first_row_id;
  const std::optional<int64_t> seq = f.sequence_number;
  for (size_t c = at; c < at + 2; ++c) {
    const auto& column = static_cast<const arrow::Int64Array&>(*batch->column(static_cast<int>(c)));
    const bool row_ids = c == at;
    if (column.null_count() == 0 || !(row_ids ? row_id_base : seq)) continue;
    arrow::Int64Builder b;
    if (auto st = b.Reserve(column.length()); !st.ok()) return Internal(st.ToString());
    for (int64_t i = 0; i < column.length(); ++i) {
      if (column.IsValid(i)) {
        b.UnsafeAppend(column.Value(i));
      } else {
        b.UnsafeAppend(row_ids ? *row_id_base + first_position + i : *seq);
      }
    }
    std::shared_ptr<arrow::Array> filled;
    if (auto st = b.Finish(&filled); !st.ok()) return Internal(st.ToString());
    auto set = batch->SetColumn(static_cast<int>(c), batch->schema()->field(static_cast<int>(c)),
                                filled);
    if (!set.ok()) return Internal(set.status().ToString());
    batch = *set;
  }
  return batch;
}

// Writes the rows of `batch` (the file's rows from `first_position` on) that `deleted` does not
// name into `partition`, as slices between the deleted ones, whose positions go to `dropped`.
// Returns the rows written.
Result<int64_t> WriteKept(iceberg::PartitionedWriter& writer, const std::vector<Value>& partition,
                          const arrow::RecordBatch& batch, int64_t first_position,
                          const std::set<int64_t>& deleted, std::vector<int64_t>* dropped) {
  const int64_t n = batch.num_rows();
  int64_t kept = 0, run_start = 0;
  auto flush = [&](int64_t end) -> Status {
    if (end > run_start) {
      PG2I_RETURN_IF_ERROR(writer.WriteTo(partition, *batch.Slice(run_start, end - run_start)));
      kept += end - run_start;
    }
    return Status::Ok();
  };
  for (auto it = deleted.lower_bound(first_position);
       it != deleted.end() && *it < first_position + n; ++it) {
    const int64_t i = *it - first_position;
    PG2I_RETURN_IF_ERROR(flush(i));
    dropped->push_back(*it);
    run_start = i + 1;
  }
  PG2I_RETURN_IF_ERROR(flush(n));
  return kept;
}

Result<std::vector<DataFile>> Rewrite(std::shared_ptr<io::FileIO> io, const TableMetadata& m,
                                      const Plan& p, const CompactionOptions& o,
                                      CompactionResult* r, std::vector<std::string>* written,
                                      Moves* moves, Clock* clock) {
  const Stopwatch started(clock);
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
  // Format v3 row lineage: a row moved to a new file keeps its _row_id and
  // _last_updated_sequence_number (read from its file, or inherited there: the file's first
  // row id plus the row's position, and the file's data sequence number), written as the
  // reserved columns after the table's.
  const bool lineage = m.format_version >= 3;
  std::vector<iceberg::Field> read_fields = fields;
  TableMetadata write_meta = m;
  if (lineage) {
    const auto lng = iceberg::DataType::Primitive(Type{TypeId::kLong});
    read_fields.push_back(iceberg::Field{iceberg::kRowIdFieldId, "_row_id", false, lng, "", {}, {}});
    read_fields.push_back(iceberg::Field{iceberg::kLastUpdatedSequenceNumberFieldId,
                                         "_last_updated_sequence_number", false, lng, "", {}, {}});
    for (iceberg::Schema& sc : write_meta.schemas) {
      if (sc.schema_id() == m.current_schema_id) {
        sc = iceberg::Schema(sc.schema_id(), read_fields, sc.identifier_field_ids());
      }
    }
  }
  std::vector<DataFile> out;
  for (const auto& [key, files] : p.groups) {
    // One writer per partition: one open file at a time.
    PG2I_ASSIGN_OR_RETURN(auto writer, iceberg::PartitionedWriter::MakeData(io, write_meta, wo));
    const size_t group = moves->groups.size();
    moves->groups.emplace_back();
    int64_t group_rows = 0;  // rows written so far in this group
    for (const ManifestEntry& f : files) {
      if (o.cancel != nullptr && o.cancel->load()) return Cancelled("compaction stopped");
      if (o.max_write_time.count() > 0 && started.Elapsed() > o.max_write_time) {
        return FailedPrecondition(
            "the rewrite took longer than half of sink.maintenance_grace, after which maintain "
            "could take its uncommitted files for orphans; raise the grace, or lower "
            "sink.compaction_data_files so that partitions are compacted while small");
      }
      PG2I_ASSIGN_OR_RETURN(auto reader,
                            iceberg::DataFileReader::Open(io, f.file.file_path, read_fields));
      // Files other engines imported (add_files) may lack identity-partition columns, which
      // readers take from the partition tuple: so do we.
      const auto identity = IdentityColumns(m, f.file, fields);
      const std::vector<int32_t> in_file = reader->file_field_ids();
      const bool identity_in_file =
          std::all_of(identity.begin(), identity.end(), [&](const auto& c) {
            return std::find(in_file.begin(), in_file.end(), fields[c.first].id) != in_file.end();
          });
      std::vector<const DeleteKeys*> applying;
      for (const DeleteKeys& d : deletes) {
        if (Applies(m, *d.entry, f, p.unnormalized)) applying.push_back(&d);
      }
      std::set<int64_t> deleted_positions;
      for (const auto& [path, pd] : p.positions) {
        auto rows = pd.second.find(f.file.file_path);
        if (rows == pd.second.end() || !PositionApplies(m, pd.first, f, p.unnormalized)) continue;
        deleted_positions.insert(rows->second.begin(), rows->second.end());
      }
      Moves::Replaced& moved = moves->files[f.file.file_path];
      moved.group = group;
      moved.first = group_rows;
      int64_t position = 0;  // of the next row in the file
      // Without equality deletes to match or partition values to fill in, and in the default
      // spec (every row of the file in its partition), the rows of a large file are moved as
      // Arrow columns (0.64 of the CPU for a 1,000,000-row file, bench/compact_bench.sh). Small
      // files gain nothing, and 810 small files moved as columns left glibc's heap at 4× the
      // peak RSS (290 MiB instead of 80 MiB, freed blocks it kept) where rows did not.
      const bool columnar = f.file.record_count >= iceberg::ParquetReadOptions{}.batch_rows &&
                            applying.empty() && identity_in_file &&
                            f.file.spec_id == m.default_spec_id &&
                            !p.unnormalized.count(f.file.file_path);
      std::optional<std::vector<Value>> partition;  // of the file's rows, once known
      // Batch by batch, so that memory holds one batch of the file, not the file.
      std::vector<Value> probe;
      while (true) {
        PG2I_ASSIGN_OR_RETURN(std::shared_ptr<arrow::RecordBatch> batch, reader->Next());
        if (batch == nullptr) break;
        // A batch with NULLs in an identity-partition column goes through rows (they are filled).
        const bool batch_columnar =
            columnar && std::none_of(identity.begin(), identity.end(), [&](const auto& c) {
              return batch->column(static_cast<int>(c.first))->null_count() > 0;
            });
        if (batch_columnar) {
          if (!partition && batch->num_rows() > 0) {
            PG2I_ASSIGN_OR_RETURN(auto first, iceberg::RowsOf(*batch->Slice(0, 1), read_fields));
            PG2I_ASSIGN_OR_RETURN(partition, writer->PartitionOf(first.at(0)));
          }
          if (lineage) {
            PG2I_ASSIGN_OR_RETURN(batch, WithLineage(batch, fields.size(), f, position));
          }
          PG2I_ASSIGN_OR_RETURN(const int64_t kept,
                                WriteKept(*writer, partition.value_or(std::vector<Value>{}), *batch,
                                          position, deleted_positions, &moved.dropped));
          position += batch->num_rows();
          group_rows += kept;
          r->rows_read += batch->num_rows();
          r->rows_written += kept;
          continue;
        }
        PG2I_ASSIGN_OR_RETURN(auto rows, iceberg::RowsOf(*batch, read_fields));
        std::vector<std::vector<Value>> keep;
        keep.reserve(rows.size());
        for (auto& row : rows) {
          const int64_t at = position++;
          if (deleted_positions.count(at)) {
            moved.dropped.push_back(at);
            continue;
          }
          if (lineage) {
            Value& row_id = row[fields.size()];
            Value& updated = row[fields.size() + 1];
            if (std::holds_alternative<std::monostate>(row_id) && f.file.first_row_id) {
              row_id = *f.file.first_row_id + at;
            }
            if (std::holds_alternative<std::monostate>(updated) && f.sequence_number) {
              updated = *f.sequence_number;
            }
          }
          for (const auto& [column, value] : identity) {
            if (std::holds_alternative<std::monostate>(row[column])) row[column] = value;
          }
          bool deleted = false;
          for (const DeleteKeys* d : applying) {
            probe.clear();
            for (size_t i : d->idx) probe.push_back(row[i]);
            if (d->keys.count(probe)) {
              deleted = true;
              break;
            }
          }
          if (deleted) {
            moved.dropped.push_back(at);
          } else {
            keep.push_back(std::move(row));
          }
        }
        group_rows += static_cast<int64_t>(keep.size());
        r->rows_read += static_cast<int64_t>(rows.size());
        r->rows_written += static_cast<int64_t>(keep.size());
        PG2I_RETURN_IF_ERROR(writer->Write(keep));
      }
      r->bytes_read += f.file.file_size_in_bytes;
      ++r->data_files_read;
    }
    PG2I_ASSIGN_OR_RETURN(std::vector<DataFile> done, writer->Close());
    moves->groups[group].first_file = out.size();
    moves->groups[group].rows = writer->TakeLocations();
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

// The rewrite to commit on `now`: `planned`, plus the position deletes and deletion vectors
// committed since the plan for rows of replaced files, carried to the rows' new places (a
// materializer deleting rows of a file the rewrite replaces would otherwise fail every plan
// while changes keep coming). A delete file that names only replaced files goes with them; one
// of the plan that a later commit removed (a deletion vector merged into a newer one) is not
// removed again.
struct CarriedRewrite {
  iceberg::RewriteFiles::Rewrite rewrite;
  int64_t positions = 0;              // rows the carried deletes delete
  std::vector<std::string> written;   // the carried delete files
};

Result<CarriedRewrite> CarryConcurrentDeletes(const std::shared_ptr<io::FileIO>& io,
                                              const TableMetadata& now, const Plan& plan,
                                              const Moves& moves,
                                              const iceberg::RewriteFiles::Rewrite& planned) {
  CarriedRewrite out;
  out.rewrite = planned;
  if (now.current_snapshot_id.value_or(-1) == plan.base_snapshot_id) return out;
  PG2I_ASSIGN_OR_RETURN(iceberg::CommitHistory since,
                        iceberg::HistorySince(io.get(), now, plan.base_snapshot_id));
  std::set<std::string> removed;
  for (const ManifestEntry& e : since.removed) {
    const std::string key = iceberg::FileKey(e.file);
    removed.insert(key);
    if (e.file.content != FileContent::kData) out.rewrite.replaced.erase(key);
  }
  std::map<size_t, std::set<int64_t>> deleted;  // by index in the added files
  for (const ManifestEntry& e : since.added) {
    if (e.file.content != FileContent::kPositionDeletes) continue;
    PG2I_ASSIGN_OR_RETURN(auto by_file, iceberg::ReadPositionDeletes(io, e.file));
    bool names_replaced = false, names_others = false;
    for (const auto& [path, positions] : by_file) {
      if (!moves.files.count(path)) {
        names_others = true;
        continue;
      }
      names_replaced = true;
      for (int64_t pos : positions) {
        if (auto to = moves.Find(path, pos)) deleted[to->first].insert(to->second);
      }
    }
    if (!names_replaced) continue;
    const std::string key = iceberg::FileKey(e.file);
    out.rewrite.carried.insert(key);
    if (!names_others && !removed.count(key)) out.rewrite.replaced.insert(key);
  }
  if (deleted.empty()) return out;
  const std::vector<DataFile>& added = out.rewrite.added;
  if (now.format_version >= 3) {
    std::vector<iceberg::DeletionVectorWriter::Vector> vectors;
    for (auto& [file, positions] : deleted) {
      const DataFile& f = added[file];
      vectors.push_back({f.file_path, f.spec_id, f.partition, {positions.begin(), positions.end()}});
      out.positions += static_cast<int64_t>(positions.size());
    }
    const std::string uri = iceberg::NewDeletionVectorUri(now.location);
    out.written.push_back(uri);
    PG2I_ASSIGN_OR_RETURN(out.rewrite.added_deletes,
                          iceberg::DeletionVectorWriter::Write(io.get(), uri, vectors));
    return out;
  }
  // One position delete file per partition of the rewritten files.
  std::map<std::pair<int32_t, std::vector<Value>>, std::unique_ptr<iceberg::PositionDeleteWriter>>
      writers;
  for (auto& [file, positions] : deleted) {
    const DataFile& f = added[file];
    auto& w = writers[{f.spec_id, f.partition}];
    if (w == nullptr) {
      iceberg::ParquetWriteOptions o;
      o.new_file_uri = iceberg::NewDataFileUris(iceberg::TableSubdir(now.location, "data"),
                                               iceberg::DataFileRole::kPositionDeletes);
      PG2I_ASSIGN_OR_RETURN(w, iceberg::PositionDeleteWriter::Make(io, o));
    }
    for (int64_t pos : positions) w->Add(f.file_path, pos);
    out.positions += static_cast<int64_t>(positions.size());
  }
  for (auto& [part, w] : writers) {
    PG2I_ASSIGN_OR_RETURN(std::vector<DataFile> files, w->Close());
    for (DataFile& f : files) {
      f.spec_id = part.first;
      f.partition = part.second;
      out.written.push_back(f.file_path);
      out.rewrite.added_deletes.push_back(std::move(f));
    }
  }
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
    PG2I_ASSIGN_OR_RETURN(Plan plan, MakePlan(io, loaded.metadata, options));
    if (!plan.skipped.empty()) {
      r.skipped = plan.skipped;
      return r;
    }
    std::vector<std::string> written;
    const Stopwatch rewrite_started(clock);
    auto attempt = [&]() -> Result<CompactionResult> {
      iceberg::RewriteFiles::Rewrite rewrite;
      Moves moves;
      PG2I_ASSIGN_OR_RETURN(
          rewrite.added, Rewrite(io, loaded.metadata, plan, options, &r, &written, &moves, clock));
      // The rewritten rows keep the sequence number they were read at, so that equality deletes
      // committed while the rewrite ran still apply to them.
      if (loaded.metadata.format_version >= 2) rewrite.data_sequence_number = plan.base_seq;
      for (const auto& [key, files] : plan.groups) {
        for (const ManifestEntry& f : files) rewrite.replaced.insert(f.file.file_path);
      }
      rewrite.replaced.insert(plan.drop_deletes.begin(), plan.drop_deletes.end());
      rewrite.spec_id = loaded.metadata.default_spec_id;
      rewrite.moves_rows_between_specs = plan.rewrites_other_spec;
      std::vector<std::string> added;
      for (const DataFile& f : rewrite.added) added.push_back(f.file_path);
      r.delete_files_removed = static_cast<int64_t>(plan.drop_deletes.size());
      CrashPoint("after_compaction_write");
      bool turn = false;
      if (options.take_commit_turn) {
        Result<bool> took = options.take_commit_turn(ident.ToString());
        turn = took.ok() && *took;
      }
      const ScopeExit end_turn([&] {
        if (turn && options.end_commit_turn) options.end_commit_turn(ident.ToString());
      });
      catalog::LoadedTable base = loaded;
      // In its turn the table's other committers wait: commit on the table as it is now.
      if (turn) {
        PG2I_ASSIGN_OR_RETURN(base, catalog.LoadTable(ident));
      }
      for (int commit_no = 0;; ++commit_no) {
        PG2I_ASSIGN_OR_RETURN(CarriedRewrite carried,
                              CarryConcurrentDeletes(io, base.metadata, plan, moves, rewrite));
        written.insert(written.end(), carried.written.begin(), carried.written.end());
        // Checks what was committed since the plan (iceberg/commit_ops.h).
        iceberg::RewriteFiles op(io.get(), clock, plan.base_snapshot_id, std::move(carried.rewrite));
        op.SetSummary("pg2iceberg.compaction", "true");
        PG2I_ASSIGN_OR_RETURN(iceberg::PendingSnapshot pending, op.Produce(base.metadata));
        written.insert(written.end(), pending.written.begin(), pending.written.end());
        // A backstop against anything that removed our files before the commit.
        for (const std::string& f : added) {
          PG2I_ASSIGN_OR_RETURN(bool exists, io->Exists(f));
          if (!exists) return Aborted("a rewritten file vanished before the commit: " + f);
        }
        if (options.max_write_time.count() > 0 &&
            rewrite_started.Elapsed() > options.max_write_time) {
          return FailedPrecondition(
              "the rewrite and its commit took longer than half of sink.maintenance_grace, after "
              "which maintain could take its uncommitted files for orphans; raise the grace");
        }
        auto committed = catalog.CommitTable({ident, pending.requirements, pending.updates});
        if (committed.ok()) {
          CrashPoint("after_compaction_commit");
          r.snapshot_id = pending.snapshot.snapshot_id;
          r.deletes_carried = carried.positions;
          return r;
        }
        if (committed.status().code() != StatusCode::kAborted || commit_no >= 10) {
          return committed.status();
        }
        (void)io->DeleteMany(carried.written);  // refused: the next attempt writes its own
        PG2I_ASSIGN_OR_RETURN(base, catalog.LoadTable(ident));
      }
    };
    auto done = attempt();
    if (!done.ok() && IsNotFound(done.status())) {
      // A file the plan read was removed meanwhile (expired by maintain, replaced by a copy):
      // plan again on the table as it is now.
      done = Aborted("a file was removed while the rewrite ran: " + done.status().message());
    }
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
