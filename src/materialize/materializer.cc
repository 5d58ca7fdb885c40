#include "materialize/materializer.h"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <set>

#include "base/crash_point.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/scope_exit.h"
#include "fold/fold.h"
#include "iceberg/commit_ops.h"
#include "iceberg/metadata_edit.h"
#include "iceberg/parquet_io.h"
#include "iceberg/partitioned_writer.h"
#include "iceberg/puffin.h"
#include "iceberg/snapshot_producer.h"
#include "iceberg/table_scan.h"
#include "materialize/batch_plan.h"
#include "materialize/columns.h"
#include "materialize/history.h"
#include "notify/event.h"
#include "stage/staged_file.h"

namespace pg2iceberg::materialize {
namespace {

// Summary key marking a commit of initial-snapshot rows onto a table holding only those.
constexpr const char* kSnapshotOnlyKey = "pg2iceberg.snapshot-only";



using iceberg::Field;
using iceberg::Schema;


// Delete-file debt and size of the table as its current snapshot's summary totals say.
void RecordTableGauges(const std::string& table, const iceberg::TableMetadata& m) {
  const iceberg::Snapshot* s = m.CurrentSnapshot();
  if (s == nullptr) return;
  auto total = [s](const char* key) {
    auto it = s->summary.find(key);
    return it == s->summary.end() ? 0.0 : std::atof(it->second.c_str());
  };
  auto& r = metrics::Default();
  const metrics::Labels l = {{"table", table}};
  r.GetGauge("pg2iceberg_delete_files",
             "Delete files live in the table's current snapshot (debt until compaction)", l)
      .Set(total("total-delete-files"));
  r.GetGauge("pg2iceberg_equality_delete_rows",
             "Equality-delete rows live in the table's current snapshot", l)
      .Set(total("total-equality-deletes"));
  r.GetGauge("pg2iceberg_position_delete_rows",
             "Position-delete rows live in the table's current snapshot", l)
      .Set(total("total-position-deletes"));
  r.GetGauge("pg2iceberg_data_files", "Data files live in the table's current snapshot", l)
      .Set(total("total-data-files"));
  r.GetGauge("pg2iceberg_iceberg_records", "Records in the table's current snapshot's data files",
             l)
      .Set(total("total-records"));
}

// Counters and durations of one materialized batch.
void RecordBatch(const std::string& table, const TableResult& r, int64_t bytes,
                 double seconds, double commit_seconds) {
  auto& reg = metrics::Default();
  const metrics::Labels l = {{"table", table}};
  reg.GetCounter("pg2iceberg_materialized_changes_total",
                 "Staged changes folded into Iceberg commits", l)
      .Add(static_cast<double>(r.changes));
  reg.GetCounter("pg2iceberg_materialized_rows_total", "Data rows written to Iceberg", l)
      .Add(static_cast<double>(r.rows_written));
  reg.GetCounter("pg2iceberg_materialized_deletes_total", "Delete rows written to Iceberg (equality deletes, or position deletes of live rows)",
                 l)
      .Add(static_cast<double>(r.deletes_written));
  reg.GetCounter("pg2iceberg_materialized_bytes_total",
                 "Bytes of data and delete files written to Iceberg", l)
      .Add(static_cast<double>(bytes));
  reg.GetCounter("pg2iceberg_iceberg_commits_total", "Iceberg snapshots committed", l).Add();
  reg.GetHistogram("pg2iceberg_materialize_duration_seconds",
                   "Time to materialize one batch: read staged files, fold, write, commit", l)
      .Observe(seconds);
  reg.GetHistogram("pg2iceberg_commit_duration_seconds",
                   "Time of the catalog commit of one batch, conflicts and retries included", l)
      .Observe(commit_seconds);
}

std::string TransformText(const config::PartitionField& p) {
  switch (p.transform) {
    case config::PartitionTransform::kIdentity: return "identity";
    case config::PartitionTransform::kYear: return "year";
    case config::PartitionTransform::kMonth: return "month";
    case config::PartitionTransform::kDay: return "day";
    case config::PartitionTransform::kHour: return "hour";
    case config::PartitionTransform::kBucket: return "bucket[" + std::to_string(p.param) + "]";
    case config::PartitionTransform::kTruncate:
      return "truncate[" + std::to_string(p.param) + "]";
  }
  return "identity";
}

const iceberg::PartitionSpec* UnpartitionedSpec(const iceberg::TableMetadata& m) {
  for (const auto& s : m.partition_specs) {
    if (s.fields.empty()) return &s;
  }
  return nullptr;
}

// Summary key naming the pipeline generation that made a commit.
constexpr const char* kGenerationKey = "pg2iceberg.generation";

// Whether snapshot `s` was committed by pipeline generation `generation`.
bool OfGeneration(const iceberg::Snapshot& s, const std::string& generation) {
  auto it = s.summary.find(kGenerationKey);
  if (it == s.summary.end()) return generation.empty() || generation == "legacy";
  return it->second == generation;
}

// The highest offset a commit of this generation recorded (-1: none). Commits of an earlier
// pipeline (before a cleanup) or of another writer never count: their offsets number another
// log.
int64_t CommittedOffset(const iceberg::TableMetadata& m, const std::string& key,
                        const std::string& generation) {
  int64_t best = -1;
  for (const auto& s : m.snapshots) {
    auto it = s.summary.find(key);
    if (it == s.summary.end() || !OfGeneration(s, generation)) continue;
    best = std::max<int64_t>(best, std::atoll(it->second.c_str()));
  }
  return best;
}

// The commit time of each transaction of `files`, by commit LSN.
std::map<Lsn, int64_t> CommitTimesOf(const std::vector<stage::DecodedStagedFile>& files) {
  std::map<Lsn, int64_t> commit_ts;
  for (const auto& f : files) {
    for (const auto& c : f.changes) {
      if (c.commit_ts_micros != 0) commit_ts[c.change.commit_lsn] = c.commit_ts_micros;
    }
  }
  return commit_ts;
}

// sink.include_metadata: each upserted row's _commit_ts and _lsn, from the last change to it
// (a change of a copy has no commit time: NULL). `commit_ts`: CommitTimesOf the batch's files.
void StampMetadata(const std::map<Lsn, int64_t>& commit_ts, const std::vector<Field>& fields,
                   fold::FoldResult* folded) {
  int ts_col = -1, lsn_col = -1;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (fields[i].name == kCommitTsColumn) ts_col = static_cast<int>(i);
    if (fields[i].name == kLsnColumn) lsn_col = static_cast<int>(i);
  }
  if (ts_col < 0 || lsn_col < 0) return;
  for (auto& [key, row] : folded->rows) {
    if (row.kind != fold::FoldedRow::Kind::kUpsert) continue;
    if (row.last_lsn.valid()) {
      row.values[static_cast<size_t>(lsn_col)] = static_cast<int64_t>(row.last_lsn.value());
    }
    auto ts = commit_ts.find(row.last_lsn);
    if (ts != commit_ts.end()) row.values[static_cast<size_t>(ts_col)] = TimestampTz{ts->second};
  }
}

// The commit LSNs of the source transactions a commit holds, in its summary (commit events
// carry them; notify/event.h).
void AddLsnRange(const std::vector<coord::LogEntry>& entries, iceberg::SnapshotChange* change) {
  Lsn lo, hi;
  for (const coord::LogEntry& e : entries) {
    if (e.min_commit_lsn.valid() && (!lo.valid() || e.min_commit_lsn < lo)) lo = e.min_commit_lsn;
    if (e.max_commit_lsn > hi) hi = e.max_commit_lsn;
  }
  if (!lo.valid() || !hi.valid()) return;
  change->extra_summary[notify::kLsnMinKey] = lo.ToString();
  change->extra_summary[notify::kLsnMaxKey] = hi.ToString();
}

constexpr const char* kSourceTableProperty = "pg2iceberg.source.table";
// Set when the primary key changed: the field ids the table is folded by from then on.
constexpr const char* kKeyFieldIdsProperty = "pg2iceberg.source.key-field-ids";
constexpr const char* kSourceClusterProperty = "pg2iceberg.source.system-identifier";
// Which incarnation of the source table (its oid; a table dropped and created again has a new
// one) and which pipeline generation last wrote the table. Informational: they follow the
// table's content (a resync's copy of a re-created table, the first copy after cleanup).
constexpr const char* kSourceOidProperty = "pg2iceberg.source.oid";
constexpr const char* kSourceGenerationProperty = "pg2iceberg.source.generation";

// The identity properties of an Iceberg table mirroring `table` of cluster `system_id`.
std::map<std::string, std::string> IdentityProperties(const std::string& table,
                                                      const std::string& system_id) {
  std::map<std::string, std::string> p = {{kSourceTableProperty, table}};
  if (!system_id.empty()) p[kSourceClusterProperty] = system_id;
  return p;
}

// The incarnation properties for a commit of rows of source table `oid` (0: unknown) by
// pipeline generation `generation`.
std::map<std::string, std::string> IncarnationProperties(uint32_t oid,
                                                         const std::string& generation) {
  std::map<std::string, std::string> p;
  if (oid != 0) p[kSourceOidProperty] = std::to_string(oid);
  if (!generation.empty() && generation != "legacy") p[kSourceGenerationProperty] = generation;
  return p;
}

// OK when the Iceberg table records no source, or this one; otherwise the refusal.
Status CheckIdentity(const iceberg::TableMetadata& m, const std::string& ident,
                     const std::string& table, const std::string& system_id) {
  auto src = m.properties.find(kSourceTableProperty);
  auto cluster = m.properties.find(kSourceClusterProperty);
  const bool other_table = src != m.properties.end() && src->second != table;
  const bool other_cluster = cluster != m.properties.end() && !system_id.empty() &&
                             cluster->second != system_id;
  if (!other_table && !other_cluster) return Status::Ok();
  return FailedPrecondition(
      "Iceberg table " + ident + " mirrors " +
      (src != m.properties.end() ? src->second : std::string("another table")) +
      (cluster != m.properties.end() ? " of PostgreSQL cluster " + cluster->second : "") +
      ", not " + table + (system_id.empty() ? "" : " of cluster " + system_id) +
      "; pg2iceberg does not write one source table into another's Iceberg table. Map " + table +
      " elsewhere with tables[].iceberg.name (or tables[].iceberg.namespace), or drop " + ident +
      " if nothing needs it any more");
}

// The field ids the table's rows are folded by: the key-field-ids property once the table was
// re-keyed, else the schema's identifier fields.
std::vector<int32_t> FoldKey(const iceberg::TableMetadata& m) {
  auto it = m.properties.find(kKeyFieldIdsProperty);
  if (it == m.properties.end()) return m.CurrentSchema()->identifier_field_ids();
  std::vector<int32_t> out;
  size_t pos = 0;
  while (pos < it->second.size()) {
    size_t end = it->second.find(',', pos);
    if (end == std::string::npos) end = it->second.size();
    out.push_back(static_cast<int32_t>(std::atoi(it->second.substr(pos, end - pos).c_str())));
    pos = end + 1;
  }
  return out;
}

// The staged files of `entries`, in order, each checked against the row count the log has for
// it, until their changes take `max_bytes` of memory (stage::MemoryBytes; at least one file;
// 0: all).
Result<std::vector<stage::DecodedStagedFile>> ReadStaged(
    const std::shared_ptr<io::FileIO>& io, const std::vector<coord::LogEntry>& entries,
    int64_t max_bytes = 0) {
  std::vector<stage::DecodedStagedFile> files;
  int64_t bytes = 0;
  for (const auto& e : entries) {
    if (max_bytes > 0 && !files.empty() && bytes >= max_bytes) break;
    PG2I_ASSIGN_OR_RETURN(stage::DecodedStagedFile f, stage::DecodeStagedFile(io, e.uri));
    if (static_cast<int64_t>(f.changes.size()) != e.rows) {
      return DataLoss("staged file " + e.uri + " holds " + std::to_string(f.changes.size()) +
                      " changes, the log says " + std::to_string(e.rows));
    }
    if (max_bytes > 0) {
      for (const auto& c : f.changes) bytes += stage::MemoryBytes(c);
    }
    files.push_back(std::move(f));
  }
  return files;
}

// Summary key of the commit that replaced the table with a resync's copy: the resync offset.
constexpr char kResyncOffsetKey[] = "pg2iceberg.resync-offset";

// The current snapshot is the replacement by the resync at `offset`.
bool ReplacedAt(const iceberg::TableMetadata& m, int64_t offset) {
  const iceberg::Snapshot* s = m.CurrentSnapshot();
  if (s == nullptr) return false;
  auto it = s->summary.find(kResyncOffsetKey);
  return it != s->summary.end() && it->second == std::to_string(offset);
}

// The changes of `files` (staged as `entries`) from `from_offset` on, as rows of `fields`,
// without those `only` skips (counted in `*skipped`). The files' changes are moved out and
// released file by file (their relations stay): the batch is held once, not twice.
std::vector<fold::Change> ToChanges(std::vector<stage::DecodedStagedFile>& files,
                                    const std::vector<coord::LogEntry>& entries,
                                    const std::vector<Field>& fields,
                                    const std::map<int32_t, int>& attnums,
                                    const std::vector<int>& key_idx, int64_t from_offset,
                                    const CopyFilter& only = {}, int64_t* skipped = nullptr,
                                    std::vector<HistoryChange>* history = nullptr) {
  std::vector<fold::Change> changes;
  size_t total = 0;
  for (const auto& f : files) total += f.changes.size();
  changes.reserve(total);
  int64_t offset = entries.front().start_offset;
  for (size_t fi = 0; fi < files.size(); ++fi) {
    auto& f = files[fi];
    if (only.SkipsFile(f.relation.oid, entries[fi].start_offset)) {
      log::Warn("skipped staged changes of an earlier table under the same name",
                {{"table", f.relation.table},
                 {"oid", static_cast<int64_t>(f.relation.oid)},
                 {"changes", static_cast<int64_t>(f.changes.size())}});
      std::vector<stage::StagedChange>().swap(f.changes);
      continue;
    }
    const bool copied_rows = IsSnapshotFile(entries[fi]);
    offset = entries[fi].start_offset;
    const std::vector<int> col_of = ColumnsOf(fields, attnums, f.relation);
    // A staged column feeds at most one field, so its value can be moved there.
    std::vector<int> feeds(f.relation.columns.size(), 0);
    bool one_each = true;
    for (int c : col_of) {
      if (c >= 0 && static_cast<size_t>(c) < feeds.size()) one_each &= ++feeds[static_cast<size_t>(c)] == 1;
    }
    // The value of staged column `c` for field `i`: moved when only that field takes it.
    auto take = [&](std::vector<Value>& staged, size_t i) -> Value {
      Value& v = staged[static_cast<size_t>(col_of[i])];
      const Type& to = fields[i].type.primitive;
      return one_each ? WidenValue(std::move(v), to) : WidenValue(v, to);
    };
    for (auto& sc : f.changes) {
      const int64_t this_offset = offset++;
      if (this_offset < from_offset) continue;
      fold::Change c;
      c.op = sc.change.op;
      c.commit_lsn = sc.change.commit_lsn;
      c.seq = sc.change.seq;
      c.old_key = std::move(sc.change.old_key);
      if (!c.commit_lsn.valid()) c.commit_lsn = entries[fi].max_commit_lsn;
      if (!copied_rows && only.SkipsChange(c.commit_lsn, this_offset)) {
        if (skipped != nullptr) ++*skipped;
        continue;
      }
      if (c.op != fold::Op::kTruncate) {
        std::vector<Value> row(fields.size());
        for (size_t i = 0; i < fields.size(); ++i) {
          if (col_of[i] >= 0 && fields[i].type.is_primitive()) row[i] = take(sc.change.values, i);
        }
        std::vector<int> unchanged;
        for (int u : sc.change.unchanged) {
          for (size_t i = 0; i < fields.size(); ++i) {
            if (col_of[i] == u) unchanged.push_back(static_cast<int>(i));
          }
        }
        for (size_t k = 0; k < c.old_key.size() && k < key_idx.size(); ++k) {
          c.old_key[k] = WidenValue(std::move(c.old_key[k]),
                                    fields[static_cast<size_t>(key_idx[k])].type.primitive);
        }
        c.values = std::move(row);
        c.unchanged = std::move(unchanged);
      }
      if (history != nullptr) {
        HistoryChange h{c, sc.xid, sc.commit_ts_micros, this_offset, {}};
        h.before.kind = sc.before.kind;
        if (!sc.before.values.empty()) {
          h.before.values.resize(fields.size());
          for (size_t i = 0; i < fields.size(); ++i) {
            if (col_of[i] >= 0 && fields[i].type.is_primitive()) {
              h.before.values[i] = take(sc.before.values, i);
            }
          }
        }
        for (int u : sc.before.unchanged) {
          for (size_t i = 0; i < fields.size(); ++i) {
            if (col_of[i] == u) h.before.unchanged.push_back(static_cast<int>(i));
          }
        }
        history->push_back(std::move(h));
      }
      changes.push_back(std::move(c));
    }
    std::vector<stage::StagedChange>().swap(f.changes);
  }
  return changes;
}

// `changes` (over `fields`) projected onto `data`, a subset of them by field id; returns each
// data field's index in `fields`.
std::vector<int> ProjectOnto(const std::vector<Field>& fields, const std::vector<Field>& data,
                             std::vector<HistoryChange>* changes) {
  std::vector<int> data_of;
  for (const Field& d : data) {
    for (size_t i = 0; i < fields.size(); ++i) {
      if (fields[i].id == d.id) data_of.push_back(static_cast<int>(i));
    }
  }
  if (data_of.size() == fields.size()) return data_of;
  auto project = [&](std::vector<Value>& v) {
    if (v.empty()) return;
    std::vector<Value> out;
    for (int i : data_of) out.push_back(std::move(v[static_cast<size_t>(i)]));
    v = std::move(out);
  };
  auto remap = [&](std::vector<int>& cols) {
    std::vector<int> out;
    for (int c : cols) {
      for (size_t j = 0; j < data_of.size(); ++j) {
        if (data_of[j] == c) out.push_back(static_cast<int>(j));
      }
    }
    cols = std::move(out);
  };
  for (HistoryChange& h : *changes) {
    project(h.change.values);
    project(h.before.values);
    remap(h.change.unchanged);
    remap(h.before.unchanged);
  }
  return data_of;
}

bool HasCommitOfGeneration(const iceberg::TableMetadata& m, const std::string& generation) {
  for (const auto& s : m.snapshots) {
    if (s.summary.count(kGenerationKey) && OfGeneration(s, generation)) return true;
  }
  return false;
}

}  // namespace

Materializer::Materializer(coord::Coordinator* coord, catalog::Catalog* catalog,
                           std::shared_ptr<io::FileIO> io,
                           std::vector<config::TableConfig> tables,
                           MaterializerOptions options)
    : coord_(coord),
      catalog_(catalog),
      io_(std::move(io)),
      tables_(std::move(tables)),
      options_(std::move(options)),
      clock_(options_.clock ? options_.clock : Clock::Real()) {}

void Materializer::NameColumns(const std::string& table,
                               std::vector<stage::DecodedStagedFile>* files) const {
  const config::TableConfig* c = ConfigFor(table);
  if (c == nullptr || !c->snake_case_columns) return;
  for (auto& f : *files) {
    for (auto& col : f.relation.columns) col.name = config::IcebergColumnName(*c, col.name);
  }
}

const config::TableConfig* Materializer::ConfigFor(const std::string& table) const {
  for (const auto& t : tables_) {
    if (t.name.ToString() == table) return &t;
  }
  return nullptr;
}

Result<int64_t> Materializer::DeletionVectorsOf(
    const iceberg::TableMetadata& m, const std::vector<std::vector<Value>>& deletes,
    const std::map<std::vector<Value>, std::optional<index::RowLocation>>& where,
    iceberg::SnapshotChange* change) {
  std::map<std::string, iceberg::DeletionVectorWriter::Vector> by_file;
  int64_t live = 0;
  for (const auto& k : deletes) {
    const std::optional<index::RowLocation>& loc = where.at(k);
    if (!loc) continue;
    iceberg::DeletionVectorWriter::Vector& v = by_file[loc->file_path];
    if (v.data_file.empty()) v = {loc->file_path, loc->spec_id, loc->partition, {}};
    v.positions.push_back(loc->pos);
    ++live;
  }
  if (by_file.empty()) return live;
  PG2I_ASSIGN_OR_RETURN(std::vector<iceberg::ManifestEntry> current,
                        iceberg::LiveDeleteEntries(io_.get(), m));
  for (const iceberg::ManifestEntry& e : current) {
    if (!iceberg::IsDeletionVector(e.file) || !e.file.referenced_data_file) continue;
    auto it = by_file.find(*e.file.referenced_data_file);
    if (it == by_file.end()) continue;
    PG2I_ASSIGN_OR_RETURN(std::vector<int64_t> previous, iceberg::ReadDeletionVector(io_, e.file));
    it->second.positions.insert(it->second.positions.end(), previous.begin(), previous.end());
    change->removed_paths.insert(iceberg::FileKey(e.file));
  }
  std::vector<iceberg::DeletionVectorWriter::Vector> vectors;
  for (auto& [path, v] : by_file) vectors.push_back(std::move(v));
  PG2I_ASSIGN_OR_RETURN(
      std::vector<iceberg::DataFile> files,
      iceberg::DeletionVectorWriter::Write(io_.get(), iceberg::NewDeletionVectorUri(m.location),
                                           vectors));
  for (iceberg::DataFile& f : files) change->added_deletes.push_back(std::move(f));
  return live;
}

Result<catalog::LoadedTable> Materializer::UpgradeForDeletionVectors(
    const std::string& table, const catalog::TableIdent& ident, catalog::LoadedTable loaded) {
  // A data file's deletion vector hides its position delete files from readers, so a table
  // that has some keeps position deletes until compaction has removed them.
  PG2I_ASSIGN_OR_RETURN(std::vector<iceberg::ManifestEntry> deletes,
                        iceberg::LiveDeleteEntries(io_.get(), loaded.metadata));
  const int64_t position_files = std::count_if(deletes.begin(), deletes.end(), [](const auto& e) {
    return e.file.content == iceberg::FileContent::kPositionDeletes && !iceberg::IsDeletionVector(e.file);
  });
  if (position_files > 0) {
    if (dv_waiting_.insert(table).second) {
      log::Warn("delete_mode dv: the table is format v" + std::to_string(loaded.metadata.format_version) +
                    " with position delete files, which deletion vectors would hide from readers; "
                    "it gets position deletes until compaction has removed them, then it is "
                    "upgraded to format v3",
                {{"table", table}, {"position_delete_files", position_files}});
    }
    return loaded;
  }
  const int32_t from = loaded.metadata.format_version;
  PG2I_ASSIGN_OR_RETURN(
      catalog::LoadedTable upgraded,
      catalog_->CommitTable(
          {ident,
           {iceberg::TableRequirement::AssertTableUuid(loaded.metadata.table_uuid),
            iceberg::TableRequirement::AssertRefSnapshotId(std::string(iceberg::kMainBranch),
                                                           loaded.metadata.current_snapshot_id)},
           {iceberg::TableUpdate::UpgradeFormatVersion(3)}}));
  log::Info("upgraded the Iceberg table to format v3 for deletion vectors (delete_mode dv); "
            "engines without v3 support no longer read it",
            {{"table", table}, {"from_version", from}});
  return upgraded;
}

config::DeleteMode Materializer::DeleteModeOf(const std::string& table) const {
  const config::TableConfig* c = ConfigFor(table);
  return c != nullptr && c->delete_mode ? *c->delete_mode : options_.delete_mode;
}

catalog::TableIdent Materializer::IdentFor(const std::string& table) const {
  const config::TableConfig* c = ConfigFor(table);
  if (c == nullptr) return catalog::TableIdent{options_.ns, table};
  const std::string default_ns = options_.ns.empty() ? "default" : options_.ns.front();
  const config::IcebergTableName n = config::IcebergNameOf(*c, default_ns);
  return catalog::TableIdent{{n.ns}, n.name};
}

catalog::TableIdent Materializer::HistoryIdentFor(const std::string& table) const {
  catalog::TableIdent ident = IdentFor(table);
  ident.name += kHistorySuffix;
  return ident;
}

Result<std::map<std::string, TableResult>> Materializer::RunCycle(
    const std::vector<std::string>& tables) {
  std::map<std::string, TableResult> out;
  for (const std::string& t : tables) {
    auto r = MaterializeTable(t);
    if (!r.ok()) return r.status().WithContext("materializing " + t);
    out[t] = *r;
  }
  return out;
}

Result<catalog::LoadedTable> Materializer::Rekey(const catalog::TableIdent& ident,
                                                 const iceberg::TableMetadata& m,
                                                 const std::vector<int32_t>& key_ids) {
  const Schema& cur = *m.CurrentSchema();
  std::vector<Field> fields = cur.fields();
  bool identifiable = true;
  std::string names;
  for (int32_t id : key_ids) {
    for (Field& f : fields) {
      if (f.id != id) continue;
      names += (names.empty() ? "" : ", ") + f.name;
      identifiable = identifiable && f.required && f.type.is_primitive() &&
                     f.type.primitive.id != TypeId::kFloat && f.type.primitive.id != TypeId::kDouble;
    }
  }
  for (Field& f : fields) {
    const auto& old_key = cur.identifier_field_ids();
    const bool was_key = std::find(old_key.begin(), old_key.end(), f.id) != old_key.end();
    const bool is_key = std::find(key_ids.begin(), key_ids.end(), f.id) != key_ids.end();
    if (was_key && !is_key) f.required = false;  // may hold NULL from now on
  }
  const std::vector<int32_t> identifier = identifiable ? key_ids : std::vector<int32_t>{};
  std::vector<iceberg::TableUpdate> updates;
  if (identifier != cur.identifier_field_ids() || fields != cur.fields()) {
    updates.push_back(iceberg::TableUpdate::AddSchema(Schema(cur.schema_id() + 1, fields, identifier),
                                                      m.last_column_id));
    updates.push_back(iceberg::TableUpdate::SetCurrentSchema(-1));
  }
  std::string ids;
  for (int32_t id : key_ids) ids += (ids.empty() ? "" : ",") + std::to_string(id);
  updates.push_back(iceberg::TableUpdate::SetProperties({{kKeyFieldIdsProperty, ids}}));
  log::Warn("the primary key changed: the Iceberg table is folded by the new key from here on",
            {{"table", ident.ToString()},
             {"key", names},
             {"identifier_fields", identifiable ? names : std::string("none (not all required)")}});
  return catalog_->CommitTable(
      {ident, {iceberg::TableRequirement::AssertCurrentSchemaId(cur.schema_id())}, std::move(updates)});
}

Result<catalog::CreateTableRequest> Materializer::NewTableRequest(
    const std::string& table, const stage::StagedRelation& latest) const {
  std::vector<Field> fields;
  std::vector<int32_t> ids;
  for (size_t i = 0; i < latest.columns.size(); ++i) {
    const bool key = std::find(latest.key.begin(), latest.key.end(), static_cast<int>(i)) !=
                     latest.key.end();
    fields.push_back(Field{static_cast<int32_t>(i + 1), latest.columns[i].name, key,
                           iceberg::DataType::Primitive(latest.columns[i].type), "", {}, {}});
  }
  for (int k : latest.key) ids.push_back(static_cast<int32_t>(k + 1));
  catalog::CreateTableRequest req;
  req.schema = Schema(0, fields, ids);
  req.spec.spec_id = 0;
  if (const config::TableConfig* c = ConfigFor(table)) {
    for (const auto& p : c->partition) {
      const Field* src = nullptr;
      for (const Field& f : fields) {
        if (f.name == config::IcebergColumnName(*c, p.column) || f.name == p.column) src = &f;
      }
      if (src == nullptr) {
        return FailedPrecondition("tables[].iceberg.partition of " + table + " names column " +
                                  p.column + ", which the table does not have");
      }
      PG2I_ASSIGN_OR_RETURN(iceberg::Transform t, iceberg::Transform::Parse(TransformText(p)));
      req.spec.fields.push_back(iceberg::PartitionField{
          src->id, 1000 + static_cast<int32_t>(req.spec.fields.size()),
          iceberg::DefaultPartitionName(p.column, t), TransformText(p)});
    }
  }
  req.properties = IdentityProperties(table, options_.system_identifier);
  req.properties.merge(IncarnationProperties(latest.oid, options_.generation));
  // Deletion vectors are format v3; everything else stays v2, which more engines read.
  req.properties["format-version"] = DeleteModeOf(table) == config::DeleteMode::kDv ? "3" : "2";
  std::map<int32_t, int> attnums;
  for (size_t i = 0; i < latest.columns.size(); ++i) {
    if (latest.columns[i].attnum > 0) attnums[static_cast<int32_t>(i + 1)] = latest.columns[i].attnum;
  }
  if (!attnums.empty()) req.properties[kColumnAttnumsProperty] = FormatColumnAttnums(attnums);
  return req;
}

Status Materializer::EnsureNamespace(const std::vector<std::string>& ns) {
  if (!namespaces_ready_.insert(ns).second) return Status::Ok();
  Status created = catalog_->CreateNamespace(ns, {});
  if (!created.ok()) namespaces_ready_.erase(ns);
  return created;
}

Result<catalog::LoadedTable> Materializer::CreateIcebergTable(
    const std::string& table, const catalog::TableIdent& ident,
    const stage::StagedRelation& latest) {
  PG2I_RETURN_IF_ERROR(EnsureNamespace(ident.ns));
  PG2I_ASSIGN_OR_RETURN(catalog::CreateTableRequest req, NewTableRequest(table, latest));
  auto created = catalog_->CreateTable(ident, req);
  if (!created.ok() && created.status().code() == StatusCode::kAlreadyExists) {
    created = catalog_->LoadTable(ident);
  }
  if (!created.ok()) return created.status().WithContext("creating " + ident.ToString());
  log::Info("created Iceberg table", {{"table", ident.ToString()}});
  return std::move(*created);
}

Result<catalog::LoadedTable> Materializer::EvolveSchema(const catalog::TableIdent& ident,
                                                        catalog::LoadedTable loaded,
                                                        const ColumnPlan& plan) {
  if (!plan.schema_changed && !plan.attnums_changed) return loaded;
  const Schema& cur = *loaded.metadata.CurrentSchema();
  std::vector<iceberg::TableUpdate> updates;
  if (plan.schema_changed) {
    updates.push_back(iceberg::TableUpdate::AddSchema(
        Schema(cur.schema_id() + 1, plan.fields, cur.identifier_field_ids()),
        plan.last_column_id));
    updates.push_back(iceberg::TableUpdate::SetCurrentSchema(-1));
  }
  updates.push_back(iceberg::TableUpdate::SetProperties(
      {{kColumnAttnumsProperty, FormatColumnAttnums(plan.attnums)}}));
  PG2I_ASSIGN_OR_RETURN(
      loaded, catalog_->CommitTable(
                  {ident,
                   {iceberg::TableRequirement::AssertCurrentSchemaId(cur.schema_id())},
                   std::move(updates)}));
  auto joined = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& x : v) out += (out.empty() ? "" : ", ") + x;
    return out;
  };
  if (plan.schema_changed) {
    log::Info("evolved Iceberg schema", {{"table", ident.ToString()},
                                         {"renamed", joined(plan.renamed)},
                                         {"dropped", joined(plan.dropped)}});
  }
  if (!plan.kept.empty()) {
    log::Warn("columns dropped in PostgreSQL stay in the Iceberg schema (key or partition "
              "source); they read NULL from now on",
              {{"table", ident.ToString()}, {"columns", joined(plan.kept)}});
  }
  return loaded;
}

Result<Materializer::TableSetup> Materializer::SetUpTable(const std::string& table,
                                                        const catalog::TableIdent& ident,
                                                        Result<catalog::LoadedTable> existing,
                                                        const stage::StagedRelation& latest,
                                                        bool rematch) {
  if (latest.key.empty()) {
    return FailedPrecondition("table " + table +
                              " has no primary key; add one or set tables[].primary_key");
  }
  TableSetup out;
  if (existing.ok()) {
    out.loaded = std::move(*existing);
  } else {
    PG2I_ASSIGN_OR_RETURN(out.loaded, CreateIcebergTable(table, ident, latest));
  }
  catalog::LoadedTable& loaded = out.loaded;
  PG2I_RETURN_IF_ERROR(
      CheckIdentity(loaded.metadata, ident.ToString(), table, options_.system_identifier));
  if (!loaded.metadata.DefaultSpec()->fields.empty() && UnpartitionedSpec(loaded.metadata) == nullptr) {
    // Equality deletes of a partitioned table go in an unpartitioned spec: global deletes.
    PG2I_ASSIGN_OR_RETURN(loaded, catalog_->CommitTable(
                                      {ident, {}, {iceberg::TableUpdate::AddSpec(iceberg::PartitionSpec{-1, {}})}}));
  }
  PG2I_ASSIGN_OR_RETURN(out.plan, PlanColumns(loaded.metadata, latest, table, rematch));
  if (options_.include_metadata) {
    PG2I_RETURN_IF_ERROR(AddMetadataColumns(latest, table, &out.plan));
  }
  PG2I_ASSIGN_OR_RETURN(loaded, EvolveSchema(ident, std::move(loaded), out.plan));
  // The batch's key (the primary key as staged): when it differs from the key the table is
  // folded by, the table is re-keyed from this batch on (docs/schema-changes.md).
  const Schema& cur = *loaded.metadata.CurrentSchema();
  const std::vector<int> col_of = ColumnsOf(cur.fields(), out.plan.attnums, latest);
  for (int k : latest.key) {
    for (size_t i = 0; i < cur.fields().size(); ++i) {
      if (col_of[i] == k) out.key_ids.push_back(cur.fields()[i].id);
    }
  }
  if (out.key_ids.size() != latest.key.size()) {
    return Internal("the key of " + table + " does not map onto its Iceberg schema");
  }
  if (out.key_ids != FoldKey(loaded.metadata)) {
    PG2I_ASSIGN_OR_RETURN(loaded, Rekey(ident, loaded.metadata, out.key_ids));
  }
  return out;
}

namespace {

// The Iceberg operation a change is (iceberg/commit_ops.h): a TRUNCATE or a copy that replaces
// the table overwrites it, deletes make a row delta, anything else appends. `starting`: the
// snapshot the change was prepared on.
std::unique_ptr<iceberg::SnapshotUpdate> OperationOf(io::FileIO* io, Clock* clock,
                                                     const iceberg::SnapshotChange& change,
                                                     std::optional<int64_t> starting) {
  std::unique_ptr<iceberg::SnapshotUpdate> op;
  if (change.remove_all) {
    op = std::make_unique<iceberg::OverwriteFiles>(io, clock, change.added_data,
                                                   change.added_deletes);
  } else if (!change.added_deletes.empty() || !change.removed_paths.empty()) {
    op = std::make_unique<iceberg::RowDelta>(io, clock, starting, change.added_data,
                                             change.added_deletes, change.removed_paths);
  } else {
    op = std::make_unique<iceberg::AppendFiles>(io, clock, change.added_data);
  }
  for (const auto& [k, v] : change.extra_summary) op->SetSummary(k, v);
  return op;
}

// How long a commit waits for its turn (coord::Coordinator::TakeCommitTurn) before it commits
// anyway: a compaction holds it for one commit attempt, under a second when the object store
// is healthy.
constexpr auto kCommitTurnWait = std::chrono::seconds(30);

}  // namespace

Result<catalog::LoadedTable> Materializer::CommitChange(const std::string& table,
                                                       const catalog::TableIdent& ident,
                                                       int64_t from_offset,
                                                       catalog::LoadedTable loaded,
                                                       const iceberg::SnapshotChange& change,
                                                       uint32_t source_oid, bool fixed_base) {
  const std::string offset_key = OffsetKey();
  const std::optional<int64_t> base_snapshot = loaded.metadata.current_snapshot_id;
  // Takes turns with the table's other committers (a compaction), for liveness only.
  PG2I_ASSIGN_OR_RETURN(const bool turn,
                        coord_->TakeCommitTurn(ident.ToString(), kCommitTurnWait));
  const ScopeExit end_turn([&] {
    if (turn) (void)coord_->EndCommitTurn(ident.ToString());
  });
  const std::unique_ptr<iceberg::SnapshotUpdate> op =
      OperationOf(io_.get(), clock_, change, base_snapshot);
  catalog::LoadedTable committed;
  bool done = false;
  std::optional<int64_t> tried;  // the snapshot id of the last attempt
  for (int attempt = 0; attempt < 10 && !done; ++attempt) {
    if (attempt > 0) {
      PG2I_ASSIGN_OR_RETURN(loaded, catalog_->LoadTable(ident));
      if (tried && loaded.metadata.SnapshotById(*tried) != nullptr) {  // it landed after all
        committed = std::move(loaded);
        done = true;
        break;
      }
      if (fixed_base && loaded.metadata.current_snapshot_id != base_snapshot) {
        replan_ = true;
        return Aborted("another writer committed to " + ident.ToString() +
                       " while this batch was prepared; its position deletes name rows of the "
                       "table as it was, so the batch is prepared again");
      }
    }
    // Fence: a batch is committed only onto the table state it was read against. If another
    // process committed past this batch's start meanwhile (this one lost the pipeline's
    // ownership, or is stale), retrying on top would apply old changes over newer ones.
    if (const int64_t there = CommittedOffset(loaded.metadata, offset_key, options_.generation);
        there > from_offset) {
      return Aborted("another process committed " + ident.ToString() + " up to offset " +
                     std::to_string(there) + " while this one prepared offsets from " +
                     std::to_string(from_offset) +
                     "; not committing a stale batch (the next cycle starts from the table)");
    }
    PG2I_ASSIGN_OR_RETURN(iceberg::PendingSnapshot pending, op->Produce(loaded.metadata));
    tried = pending.snapshot.snapshot_id;
    PG2I_RETURN_IF_ERROR(
        CheckIdentity(loaded.metadata, ident.ToString(), table, options_.system_identifier));
    // A table created before identities were recorded (or by another tool) gets them with
    // this commit.
    std::map<std::string, std::string> stamp;
    for (const auto& [k, v] : IdentityProperties(table, options_.system_identifier)) {
      if (!loaded.metadata.properties.count(k)) stamp[k] = v;
    }
    for (const auto& [k, v] : IncarnationProperties(source_oid, options_.generation)) {
      auto now = loaded.metadata.properties.find(k);
      if (now == loaded.metadata.properties.end() || now->second != v) stamp[k] = v;
    }
    if (!stamp.empty()) pending.updates.push_back(iceberg::TableUpdate::SetProperties(stamp));
    auto r = catalog_->CommitTable({ident, pending.requirements, pending.updates});
    if (r.ok()) {
      committed = std::move(*r);
      done = true;
    } else if (r.status().code() == StatusCode::kAborted) {
      metrics::CountError("materializer", r.status().code());
      continue;
    } else if (r.status().code() == StatusCode::kCommitStateUnknown) {
      metrics::CountError("materializer", r.status().code());
      // Rule 3: read the table before anything else.
      PG2I_ASSIGN_OR_RETURN(catalog::LoadedTable now, catalog_->LoadTable(ident));
      if (now.metadata.SnapshotById(pending.snapshot.snapshot_id) != nullptr) {
        committed = std::move(now);
        done = true;
      }
    } else {
      return r.status();
    }
  }
  if (!done) return Aborted("could not commit to " + ident.ToString() + " after 10 attempts");
  return committed;
}

Status Materializer::FinishBatch(const std::string& table, const catalog::TableIdent& ident,
                                 const catalog::LoadedTable& committed, int64_t end_offset,
                                 int64_t bytes_written, const Stopwatch& started,
                                 double commit_seconds, TableResult& result) {
  CrashPoint("after_iceberg_commit");
  result.snapshot_id = committed.metadata.current_snapshot_id.value_or(-1);
  PG2I_RETURN_IF_ERROR(coord_->SetCursor(options_.group, table, {end_offset, result.snapshot_id}));
  CrashPoint("after_cursor_advance");
  result.cursor = end_offset;
  RecordBatch(table, result, bytes_written, started.Seconds(), commit_seconds);
  RecordTableGauges(table, committed.metadata);
  log::Info("materialized", {{"table", ident.ToString()},
                             {"changes", result.changes},
                             {"rows", result.rows_written},
                             {"snapshot_id", result.snapshot_id}});

  // Garbage-collect staged files every group has passed (rule 7).
  PG2I_ASSIGN_OR_RETURN(std::optional<int64_t> min_cursor, coord_->MinCursor(table));
  if (min_cursor) {
    PG2I_ASSIGN_OR_RETURN(auto trimmed, coord_->TrimLog(table, *min_cursor));
    std::vector<std::string> uris;
    for (const auto& e : trimmed) uris.push_back(e.uri);
    Status del = io_->DeleteMany(uris);
    if (!del.ok()) log::Warn("could not delete staged files", {{"error", del}});
  }
  return Status::Ok();
}

bool Materializer::ReplacesForeign(const iceberg::TableMetadata& m, const std::string& table,
                                   int64_t cursor_offset) const {
  const config::TableConfig* tc = ConfigFor(table);
  return cursor_offset == 0 && m.CurrentSnapshot() != nullptr &&
         !(tc != nullptr && tc->skip_snapshot) && !options_.generation.empty() &&
         options_.generation != "legacy" && !HasCommitOfGeneration(m, options_.generation);
}

Result<TableResult> Materializer::ReplaceWithCopy(const std::string& table,
                                                  const catalog::TableIdent& ident,
                                                  const coord::Cursor& cursor, int64_t resync_at,
                                                  catalog::LoadedTable existing,
                                                  const Stopwatch& started) {
  TableResult result;
  result.cursor = cursor.offset;
  // Readers keep the old content until the whole copy is in: wait for its last chunk.
  PG2I_ASSIGN_OR_RETURN(std::optional<coord::TableState> state, coord_->GetTable(table));
  if (state && !state->snapshot_complete) {
    log::Debug("waiting for the copy to complete before replacing the table", {{"table", table}});
    return result;
  }
  // The copy: the consecutive snapshot files from the cursor.
  std::vector<coord::LogEntry> copy;
  for (int64_t from = cursor.offset;;) {
    PG2I_ASSIGN_OR_RETURN(std::vector<coord::LogEntry> page,
                          coord_->ReadLog(table, from, options_.max_log_entries));
    size_t n = 0;
    // Up to the next resync's copy, if another was asked for meanwhile.
    while (n < page.size() && IsSnapshotFile(page[n]) &&
           (copy.empty() || page[n].start_offset != resync_at)) {
      copy.push_back(page[n++]);
    }
    if (n < page.size() || page.empty()) break;
    from = copy.back().end_offset;
  }
  log::Info("replacing the table's content with its new copy in one commit",
            {{"table", table}, {"files", static_cast<int64_t>(copy.size())}});
  PG2I_ASSIGN_OR_RETURN(stage::DecodedStagedFile first, stage::DecodeStagedFile(io_, copy.front().uri));
  if (const config::TableConfig* c = ConfigFor(table)) {
    for (auto& col : first.relation.columns) col.name = config::IcebergColumnName(*c, col.name);
  }
  PG2I_ASSIGN_OR_RETURN(TableSetup setup,
                        SetUpTable(table, ident, std::move(existing), first.relation, /*rematch=*/true));
  const std::vector<Field> fields = setup.loaded.metadata.CurrentSchema()->fields();
  const std::vector<int> key_idx = KeyIndexesOf(fields, setup.key_ids);
  iceberg::ParquetWriteOptions wo;
  wo.target_file_size = options_.target_file_size > 0 ? options_.target_file_size : wo.target_file_size;
  PG2I_ASSIGN_OR_RETURN(auto writer, iceberg::PartitionedWriter::MakeData(io_, setup.loaded.metadata, wo));
  // In groups of at most max_changes rows (memory), into one set of data files.
  for (size_t begin = 0; begin < copy.size();) {
    size_t end = begin;
    int64_t rows = 0;
    while (end < copy.size() && (end == begin || rows + copy[end].rows <= options_.max_changes)) {
      rows += copy[end++].rows;
    }
    const std::vector<coord::LogEntry> group(copy.begin() + static_cast<std::ptrdiff_t>(begin),
                                             copy.begin() + static_cast<std::ptrdiff_t>(end));
    PG2I_ASSIGN_OR_RETURN(std::vector<stage::DecodedStagedFile> files, ReadStaged(io_, group));
    NameColumns(table, &files);
    std::vector<fold::Change> changes =
        ToChanges(files, group, fields, setup.plan.attnums, key_idx, cursor.offset,
                  CopyFilter{state ? state->relid : 0, resync_at >= 0 ? resync_at : 0});
    PG2I_ASSIGN_OR_RETURN(fold::FoldResult folded,
                          fold::Fold(std::move(changes), key_idx, fields.size()));
    std::vector<std::vector<Value>> upserts;
    for (auto& [k, row] : folded.rows) {
      if (row.kind == fold::FoldedRow::Kind::kUpsert) upserts.push_back(std::move(row.values));
    }
    PG2I_RETURN_IF_ERROR(writer->Write(upserts));
    result.changes += folded.changes;
    result.rows_written += static_cast<int64_t>(upserts.size());
    begin = end;
    if (options_.on_progress) options_.on_progress();  // a long copy is not a stuck loop
  }
  iceberg::SnapshotChange change;
  PG2I_ASSIGN_OR_RETURN(change.added_data, writer->Close());
  change.remove_all = true;
  const int64_t end_offset = copy.back().end_offset;
  change.extra_summary[OffsetKey()] = std::to_string(end_offset);
  if (!options_.generation.empty()) change.extra_summary[kGenerationKey] = options_.generation;
  change.extra_summary[kSnapshotOnlyKey] = "true";
  if (resync_at >= 0 && cursor.offset <= resync_at) {
    change.extra_summary[kResyncOffsetKey] = std::to_string(resync_at);
  }
  int64_t bytes_written = 0;
  for (const auto& f : change.added_data) bytes_written += f.file_size_in_bytes;
  const Stopwatch commit_started(clock_);
  PG2I_ASSIGN_OR_RETURN(catalog::LoadedTable committed,
                        CommitChange(table, ident, cursor.offset, std::move(setup.loaded), change,
                                     state ? state->relid : 0));
  PG2I_RETURN_IF_ERROR(FinishBatch(table, ident, committed, end_offset, bytes_written, started,
                                   commit_started.Seconds(), result));
  return result;
}

void Materializer::CheckpointIndexes(bool now) {
  constexpr int64_t kEveryMs = 10 * 60 * 1000;
  for (auto& [uuid, index] : indexes_) {
    auto it = checkpoints_.find(uuid);
    if (index == nullptr || it == checkpoints_.end()) continue;
    IndexCheckpoint& c = it->second;
    if (c.snapshot_id == index->snapshot_id()) continue;  // unchanged since
    if (!now && clock_->NowMillis() - c.at_ms < kEveryMs) continue;
    const Stopwatch started(clock_);
    auto uploaded = index->Checkpoint(io_.get(), c.prefix);
    c.at_ms = clock_->NowMillis();
    if (!uploaded.ok()) {
      log::Warn("could not checkpoint the key index next to its table (a process on another "
                "machine would rebuild it)",
                {{"table_uuid", uuid}, {"error", uploaded.status()}});
      continue;
    }
    c.snapshot_id = index->snapshot_id();
    log::Info("checkpointed the key index next to its table",
              {{"table_uuid", uuid}, {"bytes_uploaded", *uploaded}, {"seconds", started.Seconds()}});
  }
}

Result<TableResult> Materializer::MaterializeTable(const std::string& table) {
  for (int attempt = 0;; ++attempt) {
    replan_ = false;
    Result<TableResult> r = MaterializeBatch(table);
    if (r.ok() || !replan_ || attempt >= 4) return r;
    log::Info("the table changed while a batch was prepared; preparing it again",
              {{"table", table}, {"reason", r.status().message()}});
  }
}

Result<index::KeyIndex*> Materializer::IndexFor(const std::string& table,
                                                const iceberg::TableMetadata& m,
                                                const std::vector<int32_t>& key_ids) {
  auto& slot = indexes_[m.table_uuid];
  if (slot == nullptr) {
    const std::filesystem::path dir = std::filesystem::path(options_.index_dir) / m.table_uuid;
    std::error_code ec;
    std::filesystem::create_directories(dir.parent_path(), ec);
    if (ec) {
      return Unavailable("cannot create the key-index directory " + dir.parent_path().string() +
                         " (sink.index_dir): " + ec.message());
    }
    const std::string prefix = index::KeyIndex::CheckpointPrefix(m.location);
    if (!std::filesystem::exists(dir / "CURRENT")) {
      // None here (a new machine, a lost disk): the checkpoint next to the table, if any.
      const Stopwatch started(clock_);
      auto restored = index::KeyIndex::Restore(io_.get(), prefix, dir.string());
      if (!restored.ok()) {
        log::Warn("could not restore the key index from its checkpoint; it is rebuilt",
                  {{"table", table}, {"error", restored.status()}});
        std::filesystem::remove_all(dir, ec);
      } else if (*restored) {
        log::Info("restored the table's key index from its checkpoint",
                  {{"table", table}, {"seconds", started.Seconds()}});
      }
    }
    Status broken;
    PG2I_ASSIGN_OR_RETURN(slot, index::KeyIndex::OpenOrRecreate(dir.string(), &broken));
    if (!broken.ok()) {
      log::Warn("the table's key index could not be opened (a kill while it was written?); it "
                "is rebuilt from the table",
                {{"table", table}, {"error", broken}});
    }
    checkpoints_[m.table_uuid] = {prefix, slot->snapshot_id(), clock_->NowMillis()};
  }
  PG2I_ASSIGN_OR_RETURN(index::SyncStats stats, slot->Sync(io_, m, key_ids));
  if (stats.kind == index::SyncStats::Kind::kRebuilt && !m.current_snapshot_id) {
    log::Debug("created the table's key index", {{"table", table}});
  } else if (stats.kind == index::SyncStats::Kind::kRebuilt) {
    log::Info("rebuilt the table's key index", {{"table", table},
                                               {"keys", stats.keys},
                                               {"seconds", stats.seconds},
                                               {"reason", stats.reason}});
    metrics::Default()
        .GetCounter("pg2iceberg_key_index_rebuilds_total",
                    "Key indexes rebuilt from their table (missing, or the table changed)",
                    {{"table", table}})
        .Add();
  } else if (stats.kind == index::SyncStats::Kind::kCaughtUp) {
    log::Debug("key index caught up with compactions", {{"table", table}, {"keys", stats.keys}});
  }
  return slot.get();
}

Result<catalog::LoadedTable> Materializer::LoadAndRecoverCursor(const std::string& table,
                                                                const catalog::TableIdent& ident,
                                                                coord::Cursor* cursor) {
  PG2I_ASSIGN_OR_RETURN(catalog::LoadedTable existing, catalog_->LoadTable(ident));
  const int64_t committed = CommittedOffset(existing.metadata, OffsetKey(), options_.generation);
  if (committed > cursor->offset) {
    cursor->offset = committed;
    cursor->snapshot_id = existing.metadata.current_snapshot_id.value_or(-1);
    PG2I_RETURN_IF_ERROR(coord_->SetCursor(options_.group, table, *cursor));
  }
  RecordTableGauges(table, existing.metadata);
  return existing;
}

Status Materializer::EmptyForAnEmptyCopy(const std::string& table, const catalog::TableIdent& ident,
                                         const coord::Cursor& cursor, int64_t resync_at,
                                         Result<catalog::LoadedTable>& existing,
                                         const Stopwatch& started, TableResult& result) {
  if (resync_at < 0 || cursor.offset != resync_at || !existing.ok() ||
      ReplacedAt(existing->metadata, resync_at)) {
    return Status::Ok();
  }
  PG2I_ASSIGN_OR_RETURN(std::optional<coord::TableState> state, coord_->GetTable(table));
  if (!state || !state->snapshot_complete) return Status::Ok();
  log::Info("the table's new copy is empty: emptying the Iceberg table", {{"table", table}});
  iceberg::SnapshotChange change;
  change.remove_all = true;
  change.extra_summary[OffsetKey()] = std::to_string(cursor.offset);
  change.extra_summary[kResyncOffsetKey] = std::to_string(resync_at);
  if (!options_.generation.empty()) change.extra_summary[kGenerationKey] = options_.generation;
  change.extra_summary[kSnapshotOnlyKey] = "true";
  const Stopwatch commit_started(clock_);
  PG2I_ASSIGN_OR_RETURN(catalog::LoadedTable committed,
                        CommitChange(table, ident, cursor.offset, std::move(*existing), change,
                                     state->relid));
  return FinishBatch(table, ident, committed, cursor.offset, 0, started, commit_started.Seconds(),
                     result);
}

Result<size_t> Materializer::PassSkippedFiles(const std::string& table, const coord::Cursor& cursor,
                                              const std::vector<stage::DecodedStagedFile>& files,
                                              const std::vector<coord::LogEntry>& entries,
                                              const CopyFilter& only, int64_t current_snapshot_id) {
  size_t stale = 0;
  while (stale < files.size() && AllSkipped(files[stale], entries[stale], only, cursor.offset)) {
    if (only.SkipsFile(files[stale].relation.oid, entries[stale].start_offset)) {
      log::Warn("skipped staged changes of an earlier table under the same name",
                {{"table", table},
                 {"oid", static_cast<int64_t>(files[stale].relation.oid)},
                 {"changes", static_cast<int64_t>(files[stale].changes.size())}});
    }
    ++stale;
  }
  if (stale == 0) return stale;
  const int64_t end = entries[stale - 1].end_offset;
  PG2I_RETURN_IF_ERROR(coord_->SetCursor(options_.group, table, {end, current_snapshot_id}));
  log::Debug("passed staged changes the table's copy holds already",
             {{"table", table}, {"files", static_cast<int64_t>(stale)}, {"cursor", end}});
  return stale;
}

Result<LiveRows> Materializer::ReadLiveRows(
    const iceberg::TableMetadata& m, const std::vector<Field>& fields,
    const std::vector<int>& key_idx, const fold::FoldResult& folded,
    const std::map<fold::Key, const fold::FoldedRow*>& need, index::KeyIndex* key_index,
    std::map<fold::Key, std::optional<index::RowLocation>>* looked_up) {
  LiveRows found;
  if (key_index != nullptr) {
    // The row of each key, read by position from its file.
    std::vector<fold::Key> keys;
    for (const auto& [k, row] : need) keys.push_back(k);
    PG2I_ASSIGN_OR_RETURN(auto where, key_index->Lookup(keys));
    for (size_t i = 0; i < keys.size(); ++i) (*looked_up)[keys[i]] = where[i];
    std::map<std::string, std::vector<std::pair<int64_t, size_t>>> by_file;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (where[i]) by_file[where[i]->file_path].push_back({where[i]->pos, i});
    }
    // Only the columns some row lacks, of the row groups holding those rows.
    std::set<int> wanted;
    for (const auto& [k, row] : folded.rows) wanted.insert(row.unresolved.begin(), row.unresolved.end());
    std::vector<Field> projection;
    for (int c : wanted) projection.push_back(fields[static_cast<size_t>(c)]);
    for (auto& [path, rows] : by_file) {
      std::sort(rows.begin(), rows.end());
      std::vector<int64_t> positions;
      for (const auto& [pos, i] : rows) {
        if (positions.empty() || positions.back() != pos) positions.push_back(pos);
      }
      PG2I_ASSIGN_OR_RETURN(auto read, iceberg::ReadDataFileRows(io_, path, projection, positions));
      size_t at = 0;
      for (const auto& [pos, i] : rows) {
        while (positions[at] != pos) ++at;
        std::vector<Value> row(fields.size());
        size_t j = 0;
        for (int c : wanted) row[static_cast<size_t>(c)] = read[at][j++];
        found[keys[i]] = {0, std::move(row)};
      }
    }
    return found;
  }
  // The live version of each key (deletes applied, as every reader applies them).
  PG2I_ASSIGN_OR_RETURN(iceberg::TableScan scan, iceberg::TableScan::Plan(io_, m));
  for (const iceberg::FileScanTask& task : scan.tasks()) {
    PG2I_ASSIGN_OR_RETURN(auto rows, scan.Read(task, fields));
    for (auto& r : rows) {
      fold::Key k;
      for (int ki : key_idx) k.push_back(r[static_cast<size_t>(ki)]);
      if (!need.count(k)) continue;
      const int64_t seq = task.data.sequence_number.value_or(0);
      auto it = found.find(k);
      if (it == found.end() || it->second.first <= seq) found[k] = {seq, std::move(r)};
    }
  }
  return found;
}

Result<int64_t> Materializer::PositionDeletesOf(
    const iceberg::TableMetadata& m, const std::vector<std::vector<Value>>& deletes,
    const std::map<std::vector<Value>, std::optional<index::RowLocation>>& where,
    const iceberg::ParquetWriteOptions& wo, iceberg::SnapshotChange* change) {
  std::map<std::pair<int32_t, std::vector<Value>>, std::unique_ptr<iceberg::PositionDeleteWriter>>
      writers;
  int64_t live = 0;
  for (const auto& k : deletes) {
    const std::optional<index::RowLocation>& loc = where.at(k);
    if (!loc) continue;
    auto& w = writers[{loc->spec_id, loc->partition}];
    if (w == nullptr) {
      iceberg::ParquetWriteOptions o = wo;
      o.new_file_uri = iceberg::NewDataFileUris(iceberg::TableSubdir(m.location, "data"),
                                               iceberg::DataFileRole::kPositionDeletes);
      PG2I_ASSIGN_OR_RETURN(w, iceberg::PositionDeleteWriter::Make(io_, o));
    }
    w->Add(loc->file_path, loc->pos);
    ++live;
  }
  for (auto& [part, w] : writers) {
    PG2I_ASSIGN_OR_RETURN(std::vector<iceberg::DataFile> files, w->Close());
    for (iceberg::DataFile& f : files) {
      f.spec_id = part.first;
      f.partition = part.second;
      change->added_deletes.push_back(std::move(f));
    }
  }
  return live;
}

Result<CopyFilter> Materializer::CopyFilterOf(const std::string& table, int64_t resync_at) {
  CopyFilter only;
  PG2I_ASSIGN_OR_RETURN(std::optional<coord::TableState> state, coord_->GetTable(table));
  if (state) {
    only.from_offset = std::max<int64_t>(resync_at, 0);
    if (resync_at >= 0) only.oid = state->relid;
    if (state->snapshot_complete) only.before = state->snapshot_lsn;
  }
  return only;
}

Result<fold::FoldResult> Materializer::FoldBatch(
    const std::string& table, std::vector<stage::DecodedStagedFile>& files,
    const std::vector<coord::LogEntry>& entries, const std::vector<Field>& fields,
    const ColumnPlan& plan, const std::vector<int>& key_idx, int64_t from_offset,
    const CopyFilter& only, std::vector<HistoryChange>* history) {
  int64_t skipped = 0;
  std::vector<fold::Change> changes = ToChanges(files, entries, fields, plan.attnums, key_idx,
                                                from_offset, only, &skipped, history);
  if (skipped > 0) {
    log::Debug("skipped changes the table's copy holds already",
               {{"table", table}, {"changes", skipped}, {"copy_lsn", only.before.ToString()}});
  }
  return fold::Fold(std::move(changes), key_idx, fields.size());
}

Status Materializer::FilterPolled(const std::string& table,
                                  const std::vector<coord::LogEntry>& entries,
                                  fold::FoldResult* folded, LiveState* live) {
  if (!options_.polled) return Status::Ok();
  const config::TableConfig* tc = ConfigFor(table);
  if (tc == nullptr || tc->capture_operations.empty()) return Status::Ok();
  auto kept = [&](const char* op) {
    return std::find(tc->capture_operations.begin(), tc->capture_operations.end(), op) !=
           tc->capture_operations.end();
  };
  const bool inserts = kept("insert"), updates = kept("update");
  if (inserts && updates) return Status::Ok();
  for (const auto& e : entries) {
    if (IsSnapshotFile(e)) return Status::Ok();  // a copy loads every row
  }
  if (live->key_index == nullptr) {
    return FailedPrecondition("tables[].capture_operations of " + table + " in query mode needs "
                              "delete mode position or dv (the key index tells inserts from "
                              "updates)");
  }
  std::vector<fold::Key> keys;
  for (const auto& [k, row] : folded->rows) {
    if (row.kind == fold::FoldedRow::Kind::kUpsert) keys.push_back(k);
  }
  if (keys.empty()) return Status::Ok();
  PG2I_ASSIGN_OR_RETURN(std::vector<std::optional<index::RowLocation>> where,
                        live->key_index->Lookup(keys));
  int64_t skipped_inserts = 0, skipped_updates = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    const bool is_live = where[i].has_value();
    if (is_live ? !updates : !inserts) {
      folded->rows.erase(keys[i]);
      ++(is_live ? skipped_updates : skipped_inserts);
      continue;
    }
    live->looked_up[keys[i]] = where[i];
  }
  auto& reg = metrics::Default();
  for (const auto& [op, n] : {std::pair<const char*, int64_t>{"insert", skipped_inserts},
                              std::pair<const char*, int64_t>{"update", skipped_updates}}) {
    if (n == 0) continue;
    reg.GetCounter("pg2iceberg_skipped_changes_total",
                   "Changes left out by tables[].capture_operations, per table and operation",
                   {{"table", table}, {"op", op}})
        .Add(static_cast<double>(n));
  }
  return Status::Ok();
}

Result<Materializer::LiveState> Materializer::ReadLiveState(
    const std::string& table, const catalog::TableIdent& ident, catalog::LoadedTable& loaded,
    const std::vector<Field>& fields, const std::vector<int>& key_idx,
    const std::vector<int32_t>& key_ids, const fold::FoldResult& folded) {
  LiveState live;
  const config::DeleteMode mode = DeleteModeOf(table);
  if (mode != config::DeleteMode::kEquality) {
    PG2I_ASSIGN_OR_RETURN(live.key_index, IndexFor(table, loaded.metadata, key_ids));
  }
  if (mode == config::DeleteMode::kDv && loaded.metadata.format_version < 3) {
    PG2I_ASSIGN_OR_RETURN(loaded, UpgradeForDeletionVectors(table, ident, std::move(loaded)));
  }
  // A v3 table gets deletion vectors in position mode too: v3 forbids new position delete
  // files, and a data file's vector hides them from readers.
  live.deletion_vectors = live.key_index != nullptr && loaded.metadata.format_version >= 3;
  // Unchanged TOAST not found in the batch: read it from the live table (latest version).
  std::map<fold::Key, const fold::FoldedRow*> need;
  for (const auto& [k, row] : folded.rows) {
    if (row.kind == fold::FoldedRow::Kind::kUpsert && !row.unresolved.empty()) {
      need[row.resolve_from] = &row;
    }
  }
  if (!need.empty() && !folded.truncated) {
    PG2I_ASSIGN_OR_RETURN(live.found, ReadLiveRows(loaded.metadata, fields, key_idx, folded, need,
                                                   live.key_index, &live.looked_up));
  }
  return live;
}

Result<int64_t> Materializer::WriteBatch(
    const iceberg::TableMetadata& m, BatchRows rows, const std::vector<int32_t>& key_ids,
    index::KeyIndex* key_index, bool deletion_vectors,
    std::map<fold::Key, std::optional<index::RowLocation>>& looked_up,
    iceberg::SnapshotChange* change, index::IndexUpdate* index_update) {
  iceberg::ParquetWriteOptions wo;
  if (options_.target_file_size > 0) wo.target_file_size = options_.target_file_size;
  index_update->removed = std::move(rows.removed_keys);
  if (!rows.upserts.empty()) {
    PG2I_ASSIGN_OR_RETURN(auto w, iceberg::PartitionedWriter::MakeData(io_, m, wo));
    PG2I_RETURN_IF_ERROR(w->Write(rows.upserts));
    PG2I_ASSIGN_OR_RETURN(change->added_data, w->Close());
    if (key_index != nullptr) {
      const auto& at = w->locations();
      for (size_t i = 0; i < rows.upsert_keys.size(); ++i) {
        const iceberg::DataFile& f = change->added_data[at[i].file];
        index_update->added.push_back({std::move(rows.upsert_keys[i]),
                                       index::RowLocation{f.file_path, f.spec_id, f.partition,
                                                          at[i].pos}});
      }
    }
  }
  const std::vector<fold::Key>& deletes = rows.deletes;
  if (deletes.empty()) return 0;
  if (key_index != nullptr) {
    // Position deletes of the keys that are live, in the partition of the file holding each.
    std::vector<fold::Key> rest;
    for (const auto& k : deletes) {
      if (!looked_up.count(k)) rest.push_back(k);
    }
    PG2I_ASSIGN_OR_RETURN(auto where, key_index->Lookup(rest));
    for (size_t i = 0; i < rest.size(); ++i) looked_up[std::move(rest[i])] = std::move(where[i]);
    if (deletion_vectors) return DeletionVectorsOf(m, deletes, looked_up, change);
    return PositionDeletesOf(m, deletes, looked_up, wo, change);
  }
  iceberg::TableMetadata for_deletes = m;
  if (const auto* unpart = UnpartitionedSpec(m)) for_deletes.default_spec_id = unpart->spec_id;
  PG2I_ASSIGN_OR_RETURN(auto w,
                        iceberg::PartitionedWriter::MakeEqualityDeletes(io_, for_deletes, key_ids, wo));
  PG2I_RETURN_IF_ERROR(w->WriteTo({}, deletes));
  PG2I_ASSIGN_OR_RETURN(change->added_deletes, w->Close());
  return static_cast<int64_t>(deletes.size());
}

Result<Materializer::Batch> Materializer::PlanBatch(const std::string& table,
                                                    const catalog::TableIdent& ident) {
  Batch b;
  PG2I_ASSIGN_OR_RETURN(b.cursor, coord_->GetCursor(options_.group, table));
  b.existing = LoadAndRecoverCursor(table, ident, &b.cursor);
  if (!b.existing.ok() && !IsNotFound(b.existing.status())) return b.existing.status();
  // Markers (source.logical.markers_table): those the table has reached are emitted; no batch
  // goes past the next one, so that one commit ends exactly at it.
  if (options_.markers) {
    PG2I_ASSIGN_OR_RETURN(b.markers, coord_->PendingMarkers(table));
  }
  PG2I_RETURN_IF_ERROR(EmitMarkers(table, &b.markers, b.cursor.offset,
                                   b.existing.ok() ? &b.existing->metadata : nullptr));
  const int64_t marker_cut = b.markers.empty() ? -1 : b.markers.front().log_offset;
  // A resync (`pg2iceberg resync`, coordinator meta resync_offset:<table>): the batch that
  // starts at that offset, the new copy's first, replaces the table's content; no batch spans
  // it.
  PG2I_ASSIGN_OR_RETURN(std::optional<std::string> resync_meta,
                        coord_->GetMeta("resync_offset:" + table));
  b.resync_at = resync_meta ? std::atoll(resync_meta->c_str()) : -1;
  PG2I_ASSIGN_OR_RETURN(b.entries,
                        coord_->ReadLog(table, b.cursor.offset, options_.max_log_entries));
  b.entries_read = b.entries.size();
  if (!b.entries.empty()) {
    b.entries.resize(BatchLength(b.entries, options_.max_changes, b.resync_at, marker_cut));
  }
  return b;
}

Status Materializer::StaleOr(const std::string& table, const coord::Cursor& planned,
                             const Status& error) {
  // Another worker of the group committed this batch meanwhile (two hold a table for a cycle
  // while assignments change) and the log was trimmed behind it, taking the staged files: the
  // batch went stale, which the service handles like a fenced commit. Anything else stands.
  Result<coord::Cursor> now = coord_->GetCursor(options_.group, table);
  if (now.ok() && now->offset > planned.offset) {
    return Aborted("the batch of " + table + " went stale: the cursor moved from " +
                   std::to_string(planned.offset) + " to " + std::to_string(now->offset) +
                   " while it was read (" + error.message() + ")");
  }
  return error;
}

Result<TableResult> Materializer::MaterializeBatch(const std::string& table) {
  const Stopwatch started(clock_);
  TableResult result;
  const catalog::TableIdent ident = IdentFor(table);
  PG2I_ASSIGN_OR_RETURN(Batch batch, PlanBatch(table, ident));
  const coord::Cursor cursor = batch.cursor;
  Result<catalog::LoadedTable>& existing = batch.existing;
  const std::vector<coord::LogEntry>& entries = batch.entries;
  result.cursor = cursor.offset;
  if (entries.empty()) {
    PG2I_RETURN_IF_ERROR(
        EmptyForAnEmptyCopy(table, ident, cursor, batch.resync_at, existing, started, result));
    return result;
  }
  const config::TableConfig* tc = ConfigFor(table);
  const bool history_only = tc != nullptr && !tc->keeps_mirror();
  // History only: a resync's copy is appended like any batch (its rows as I at its LSN).
  const bool resync_batch = !history_only && entries.front().start_offset == batch.resync_at &&
                            cursor.offset <= batch.resync_at;
  // A copy that replaces the table's content (a resync, or the first copy of a new pipeline
  // generation onto rows of an earlier one) goes in as one commit once it is complete.
  const bool replacing =
      resync_batch || (!history_only && existing.ok() &&
                       ReplacesForeign(existing->metadata, table, cursor.offset));
  if (existing.ok() && IsSnapshotFile(entries.front()) && replacing) {
    PG2I_ASSIGN_OR_RETURN(TableResult replaced,
                          ReplaceWithCopy(table, ident, cursor, batch.resync_at,
                                          std::move(*existing), started));
    replaced.more = true;  // what follows the copy, if anything
    return replaced;
  }

  // Read the staged changes past the cursor, in log (= commit) order.
  Result<std::vector<stage::DecodedStagedFile>> staged =
      ReadStaged(io_, entries, options_.max_batch_bytes);
  if (!staged.ok()) return StaleOr(table, cursor, staged.status());
  std::vector<stage::DecodedStagedFile> files = std::move(staged).value();
  batch.entries.resize(files.size());  // the files the memory budget took
  NameColumns(table, &files);
  // What the table's copy skips. Read after the log: a copy completed since is seen with the
  // changes it released.
  PG2I_ASSIGN_OR_RETURN(const CopyFilter only, CopyFilterOf(table, batch.resync_at));
  // Files of nothing but skipped changes are passed without a commit. (Not when this batch
  // replaces the table's content: that commit is due even with no row, and reshaping an empty
  // table loses nothing.)
  if (!replacing) {
    PG2I_ASSIGN_OR_RETURN(
        size_t passed,
        PassSkippedFiles(table, cursor, files, entries, only,
                         existing.ok() ? existing->metadata.current_snapshot_id.value_or(-1)
                                       : cursor.snapshot_id));
    if (passed > 0) {
      result.cursor = entries[passed - 1].end_offset;
      result.more = true;
      return result;
    }
  }
  // One key per batch: files staged after a primary-key change start the next batch.
  files.resize(OneKeyLength(files));
  batch.entries.resize(files.size());
  if (history_only) {
    PG2I_RETURN_IF_ERROR(MaterializeHistoryOnly(table, batch, files, only, started, result));
    return result;
  }
  PG2I_RETURN_IF_ERROR(
      MaterializeChanges(table, ident, batch, files, only, resync_batch, started, result));
  return result;
}

Status Materializer::MaterializeChanges(const std::string& table,
                                        const catalog::TableIdent& ident, Batch& batch,
                                        std::vector<stage::DecodedStagedFile>& files,
                                        const CopyFilter& only, bool resync_batch,
                                        const Stopwatch& started, TableResult& result) {
  const coord::Cursor cursor = batch.cursor;
  const std::vector<coord::LogEntry>& entries = batch.entries;
  const stage::StagedRelation& latest = files.back().relation;
  PG2I_ASSIGN_OR_RETURN(TableSetup setup,
                        SetUpTable(table, ident, std::move(batch.existing), latest, resync_batch));
  catalog::LoadedTable loaded = std::move(setup.loaded);
  const std::vector<Field> fields = loaded.metadata.CurrentSchema()->fields();
  const std::vector<int> key_idx = KeyIndexesOf(fields, setup.key_ids);
  const config::TableConfig* tc = ConfigFor(table);
  const bool history = tc != nullptr && tc->keeps_history();
  std::vector<HistoryChange> history_changes;  // the same changes, for the history table
  const std::map<Lsn, int64_t> commit_ts =
      options_.include_metadata ? CommitTimesOf(files) : std::map<Lsn, int64_t>{};
  // Moves the files' changes out (their relations stay).
  PG2I_ASSIGN_OR_RETURN(fold::FoldResult folded,
                        FoldBatch(table, files, entries, fields, setup.plan, key_idx,
                                  cursor.offset, only, history ? &history_changes : nullptr));
  result.changes = folded.changes;
  if (options_.include_metadata) StampMetadata(commit_ts, fields, &folded);
  const int64_t end_offset = entries.back().end_offset;
  PG2I_ASSIGN_OR_RETURN(LiveState live, ReadLiveState(table, ident, loaded, fields, key_idx,
                                                      setup.key_ids, folded));
  PG2I_RETURN_IF_ERROR(FilterPolled(table, entries, &folded, &live));
  index::KeyIndex* const key_index = live.key_index;
  const DeletePlan deletes = DeletesOf(table, loaded.metadata, entries, cursor.offset,
                                       resync_batch, folded.truncated, key_index != nullptr);
  BatchRows rows =
      RowsOf(std::move(folded), live.found, deletes.delete_every_key, key_index != nullptr);
  if (rows.toast_not_found > 0) {
    log::Warn("unchanged TOAST value not found in the table; column left NULL",
              {{"table", table}, {"rows", rows.toast_not_found}});
  }
  iceberg::SnapshotChange change;
  change.remove_all = deletes.remove_all;
  change.extra_summary[OffsetKey()] = std::to_string(end_offset);
  if (!options_.generation.empty()) change.extra_summary[kGenerationKey] = options_.generation;
  if (deletes.snapshot_only) change.extra_summary[kSnapshotOnlyKey] = "true";
  if (resync_batch) change.extra_summary[kResyncOffsetKey] = std::to_string(batch.resync_at);
  AddLsnRange(entries, &change);
  index::IndexUpdate index_update;
  index_update.cleared = change.remove_all;
  result.rows_written = static_cast<int64_t>(rows.upserts.size());
  PG2I_ASSIGN_OR_RETURN(result.deletes_written,
                        WriteBatch(loaded.metadata, std::move(rows), setup.key_ids, key_index,
                                   live.deletion_vectors, live.looked_up, &change,
                                   &index_update));
  int64_t bytes_written = 0;
  for (const auto& f : change.added_data) bytes_written += f.file_size_in_bytes;
  for (const auto& f : change.added_deletes) bytes_written += f.file_size_in_bytes;
  if (history) {
    PG2I_RETURN_IF_ERROR(CommitHistory(table, batch, std::move(history_changes), latest.oid,
                                       &loaded.metadata, fields, key_idx, key_index)
                             .status());
    CrashPoint("after_history_commit");
  }

  const Stopwatch commit_started(clock_);
  PG2I_ASSIGN_OR_RETURN(catalog::LoadedTable committed,
                        CommitChange(table, ident, cursor.offset, std::move(loaded), change,
                                     latest.oid, /*fixed_base=*/key_index != nullptr));
  const double commit_seconds = commit_started.Seconds();
  PG2I_RETURN_IF_ERROR(FinishBatch(table, ident, committed, end_offset, bytes_written, started,
                                   commit_seconds, result));
  // Whether the log holds more than this batch took.
  result.more = static_cast<int>(batch.entries_read) >= options_.max_log_entries ||
                entries.size() < batch.entries_read;
  if (key_index != nullptr) {
    CrashPoint("before_key_index_update");
    // A failure here leaves the index behind the table: the next batch rebuilds it.
    Status applied = key_index->Apply(index_update, result.snapshot_id);
    if (!applied.ok()) {
      log::Warn("could not update the key index; it is rebuilt before the next batch",
                {{"table", table}, {"error", applied}});
      indexes_.erase(committed.metadata.table_uuid);
    }
  }
  return EmitMarkers(table, &batch.markers, end_offset, &committed.metadata);
}

Result<catalog::LoadedTable> Materializer::HistoryTable(const std::string& table,
                                                       const std::vector<Field>& data,
                                                       uint32_t source_oid, bool again) {
  const catalog::TableIdent ident = HistoryIdentFor(table);
  Result<catalog::LoadedTable> loaded = catalog_->LoadTable(ident);
  if (loaded.ok()) {
    PG2I_RETURN_IF_ERROR(
        CheckIdentity(loaded->metadata, ident.ToString(), table, options_.system_identifier));
    const Schema& cur = *loaded->metadata.CurrentSchema();
    int32_t last = loaded->metadata.last_column_id;
    PG2I_ASSIGN_OR_RETURN(std::optional<std::vector<Field>> evolved,
                          EvolveHistoryFields(cur.fields(), data, &last));
    if (!evolved) return loaded;
    log::Info("evolved the history table's schema with its table's", {{"table", ident.ToString()}});
    return catalog_->CommitTable(
        {ident,
         {iceberg::TableRequirement::AssertCurrentSchemaId(cur.schema_id())},
         {iceberg::TableUpdate::AddSchema(Schema(cur.schema_id() + 1, std::move(*evolved), {}),
                                          last),
          iceberg::TableUpdate::SetCurrentSchema(-1)}});
  }
  if (!IsNotFound(loaded.status())) return loaded.status();
  PG2I_RETURN_IF_ERROR(EnsureNamespace(ident.ns));
  PG2I_ASSIGN_OR_RETURN(std::vector<Field> fields, NewHistoryFields(data));
  catalog::CreateTableRequest req;
  const Field* ts = nullptr;
  for (const Field& f : fields) {
    if (f.name == kHistoryCommitTsColumn) ts = &f;
  }
  req.spec.spec_id = 0;
  req.spec.fields.push_back(iceberg::PartitionField{ts->id, 1000, "_commit_ts_day", "day"});
  req.schema = Schema(0, std::move(fields), {});
  req.properties = IdentityProperties(table, options_.system_identifier);
  req.properties.merge(IncarnationProperties(source_oid, options_.generation));
  req.properties["format-version"] = "2";
  auto created = catalog_->CreateTable(ident, req);
  if (!created.ok() && created.status().code() == StatusCode::kAlreadyExists && !again) {
    return HistoryTable(table, data, source_oid, /*again=*/true);  // created meanwhile
  }
  if (!created.ok()) return created.status().WithContext("creating " + ident.ToString());
  log::Info("created Iceberg history table", {{"table", ident.ToString()}});
  return created;
}

Result<std::map<fold::Key, std::vector<Value>>> Materializer::HistoryPrior(
    const iceberg::TableMetadata& hist, const std::vector<Field>& data,
    const std::vector<int>& key_idx, const std::map<fold::Key, std::set<int>>& keys) {
  // The history table's columns of `data`, then _op, _lsn and _seq.
  const std::vector<Field> hist_fields = hist.CurrentSchema()->fields();
  std::vector<Field> projection;
  for (const Field& d : data) {
    for (const Field& f : hist_fields) {
      if (f.name == d.name && f.type.is_primitive()) projection.push_back(f);
    }
  }
  if (projection.size() != data.size()) {
    return Internal("the history table lacks columns of its table after evolution");
  }
  for (const char* name : {kHistoryOpColumn, kHistoryLsnColumn, kHistorySeqColumn}) {
    for (const Field& f : hist_fields) {
      if (f.name == name) projection.push_back(f);
    }
  }
  if (projection.size() != data.size() + 3) {
    return FailedPrecondition("the history table has no _op, _lsn or _seq column");
  }
  const size_t n = data.size();
  auto order = [n](const std::vector<Value>& r) {
    const auto* lsn = std::get_if<int64_t>(&r[n + 1]);
    const auto* seq = std::get_if<int64_t>(&r[n + 2]);
    return std::pair<int64_t, int64_t>{lsn ? *lsn : 0, seq ? *seq : 0};
  };
  std::pair<int64_t, int64_t> truncated{-1, -1};
  std::map<fold::Key, std::vector<Value>> latest;
  PG2I_ASSIGN_OR_RETURN(iceberg::TableScan scan, iceberg::TableScan::Plan(io_, hist));
  for (const iceberg::FileScanTask& task : scan.tasks()) {
    PG2I_ASSIGN_OR_RETURN(auto rows, scan.Read(task, projection));
    for (auto& r : rows) {
      const auto* op = std::get_if<std::string>(&r[n]);
      if (op != nullptr && *op == "T") {
        truncated = std::max(truncated, order(r));
        continue;
      }
      fold::Key k;
      for (int ki : key_idx) k.push_back(r[static_cast<size_t>(ki)]);
      if (!keys.count(k)) continue;
      auto it = latest.find(k);
      if (it == latest.end() || order(it->second) < order(r)) latest[k] = std::move(r);
    }
  }
  std::map<fold::Key, std::vector<Value>> prior;
  for (auto& [k, r] : latest) {
    const auto* op = std::get_if<std::string>(&r[n]);
    if (order(r) < truncated || (op != nullptr && *op == "D")) continue;  // gone since
    r.resize(n);
    prior[k] = std::move(r);
  }
  return prior;
}

Result<std::optional<catalog::LoadedTable>> Materializer::CommitHistory(
    const std::string& table, const Batch& batch, std::vector<HistoryChange> changes,
    uint32_t source_oid, const iceberg::TableMetadata* mirror, const std::vector<Field>& fields,
    const std::vector<int>& key_idx, index::KeyIndex* key_index) {
  const std::vector<coord::LogEntry>& entries = batch.entries;
  const int64_t end_offset = entries.back().end_offset;
  const std::vector<Field> data = HistoryDataFields(fields);
  PG2I_ASSIGN_OR_RETURN(catalog::LoadedTable hist, HistoryTable(table, data, source_oid));
  // What a history commit holds already (a crash after it, before the mirror's) gives no row.
  const int64_t emit_from = std::max(
      batch.cursor.offset, CommittedOffset(hist.metadata, OffsetKey(), options_.generation));
  if (emit_from >= end_offset) return std::optional<catalog::LoadedTable>();
  // The changes over the data fields (the mirror's fields minus its metadata columns).
  const std::vector<int> data_of = ProjectOnto(fields, data, &changes);
  std::vector<int> data_key;
  for (int k : key_idx) {
    for (size_t j = 0; j < data_of.size(); ++j) {
      if (data_of[j] == k) data_key.push_back(static_cast<int>(j));
    }
  }
  PG2I_ASSIGN_OR_RETURN(HistoryRows rows,
                        HistoryOf(changes, data_key, data.size(), emit_from, {}));
  if (!rows.missing.empty() && mirror == nullptr) {
    // No mirror: the rows' last versions in the history table itself (a scan of it, which
    // REPLICA IDENTITY FULL avoids: then every old row comes whole).
    log::Warn("reading unchanged TOAST values from the history table (a scan); REPLICA "
              "IDENTITY FULL on the source table, or iceberg.mode both, avoids it",
              {{"table", table}, {"rows", static_cast<int64_t>(rows.missing.size())}});
    PG2I_ASSIGN_OR_RETURN(auto prior, HistoryPrior(hist.metadata, data, data_key, rows.missing));
    PG2I_ASSIGN_OR_RETURN(rows, HistoryOf(changes, data_key, data.size(), emit_from, prior));
  } else if (!rows.missing.empty() && mirror->CurrentSnapshot() != nullptr) {
    // Unchanged TOAST values of rows from before the batch: the mirror's rows as they are
    // now, which its commit of this batch has not changed yet.
    fold::FoldResult wanted;
    std::map<fold::Key, const fold::FoldedRow*> need;
    for (const auto& [key, cols] : rows.missing) {
      fold::FoldedRow& r = wanted.rows[key];
      for (int c : cols) r.unresolved.insert(data_of[static_cast<size_t>(c)]);
      r.resolve_from = key;
    }
    for (const auto& [key, r] : wanted.rows) need[key] = &r;
    std::map<fold::Key, std::optional<index::RowLocation>> looked_up;
    PG2I_ASSIGN_OR_RETURN(LiveRows live, ReadLiveRows(*mirror, fields, key_idx, wanted, need,
                                                      key_index, &looked_up));
    std::map<fold::Key, std::vector<Value>> prior;
    for (auto& [key, found] : live) {
      std::vector<Value> row;
      for (int i : data_of) row.push_back(std::move(found.second[static_cast<size_t>(i)]));
      prior[key] = std::move(row);
    }
    PG2I_ASSIGN_OR_RETURN(rows, HistoryOf(changes, data_key, data.size(), emit_from, prior));
  }
  if (!rows.missing.empty()) {
    log::Warn("unchanged TOAST value not found in the table; left NULL in the history table",
              {{"table", table}, {"rows", static_cast<int64_t>(rows.missing.size())}});
  }
  if (rows.rows.empty()) return std::optional<catalog::LoadedTable>();

  const HistoryLayout layout = HistoryLayoutOf(hist.metadata.CurrentSchema()->fields(), data);
  iceberg::ParquetWriteOptions wo;
  if (options_.target_file_size > 0) wo.target_file_size = options_.target_file_size;
  PG2I_ASSIGN_OR_RETURN(auto writer, iceberg::PartitionedWriter::MakeData(io_, hist.metadata, wo));
  std::map<std::vector<Value>, std::vector<const HistoryRow*>> by_partition;
  for (const HistoryRow& r : rows.rows) {
    PG2I_ASSIGN_OR_RETURN(std::vector<Value> p,
                          writer->PartitionOf(HistoryRowValues(layout, r)));
    by_partition[std::move(p)].push_back(&r);
  }
  for (const auto& [partition, part_rows] : by_partition) {
    PG2I_ASSIGN_OR_RETURN(std::shared_ptr<arrow::RecordBatch> b,
                          HistoryBatch(layout, part_rows));
    PG2I_RETURN_IF_ERROR(writer->WriteTo(partition, *b));
  }
  iceberg::SnapshotChange change;
  PG2I_ASSIGN_OR_RETURN(change.added_data, writer->Close());
  change.extra_summary[OffsetKey()] = std::to_string(end_offset);
  if (!options_.generation.empty()) change.extra_summary[kGenerationKey] = options_.generation;
  AddLsnRange(entries, &change);
  const catalog::TableIdent ident = HistoryIdentFor(table);
  PG2I_ASSIGN_OR_RETURN(catalog::LoadedTable committed,
                        CommitChange(table, ident, emit_from, std::move(hist), change,
                                     source_oid));
  log::Info("appended to the history table",
            {{"table", ident.ToString()},
             {"rows", static_cast<int64_t>(rows.rows.size())},
             {"snapshot_id", committed.metadata.current_snapshot_id.value_or(-1)}});
  metrics::Default()
      .GetCounter("pg2iceberg_history_rows_total", "Rows appended to history tables",
                  {{"table", table}})
      .Add(static_cast<double>(rows.rows.size()));
  return std::optional<catalog::LoadedTable>(std::move(committed));
}

Status Materializer::MaterializeHistoryOnly(const std::string& table, Batch& batch,
                                            std::vector<stage::DecodedStagedFile>& files,
                                            const CopyFilter& only, const Stopwatch& started,
                                            TableResult& result) {
  // The history's columns are the newest staged relation's (no mirror to follow); older
  // files' columns map onto them by attnum, as the mirror's do.
  const stage::StagedRelation& latest = files.back().relation;
  if (latest.key.empty()) {
    return FailedPrecondition("table " + table +
                              " has no primary key; add one or set tables[].primary_key");
  }
  std::vector<Field> fields;
  ColumnPlan plan;
  for (size_t i = 0; i < latest.columns.size(); ++i) {
    const int32_t id = static_cast<int32_t>(i + 1);
    fields.push_back(Field{id, latest.columns[i].name, false,
                           iceberg::DataType::Primitive(latest.columns[i].type), "", {}, {}});
    if (latest.columns[i].attnum > 0) plan.attnums[id] = latest.columns[i].attnum;
  }
  const std::vector<int> key_idx = latest.key;
  for (const auto& f : files) result.changes += static_cast<int64_t>(f.changes.size());
  std::vector<HistoryChange> changes;
  ToChanges(files, batch.entries, fields, plan.attnums, key_idx, batch.cursor.offset, only,
            nullptr, &changes);
  const Stopwatch commit_started(clock_);
  PG2I_ASSIGN_OR_RETURN(std::optional<catalog::LoadedTable> committed,
                        CommitHistory(table, batch, std::move(changes), latest.oid, nullptr,
                                      fields, key_idx, nullptr));
  const int64_t end_offset = batch.entries.back().end_offset;
  if (!committed) {
    // Nothing to append (a commit holds it already): the cursor moves on.
    PG2I_RETURN_IF_ERROR(coord_->SetCursor(options_.group, table, {end_offset, -1}));
    result.cursor = end_offset;
    result.more = true;
    return Status::Ok();
  }
  int64_t bytes_written = 0;
  const iceberg::Snapshot* s = committed->metadata.CurrentSnapshot();
  if (s != nullptr && s->summary.count("added-files-size")) {
    bytes_written = std::atoll(s->summary.at("added-files-size").c_str());
  }
  if (s != nullptr && s->summary.count("added-records")) {
    result.rows_written = std::atoll(s->summary.at("added-records").c_str());
  }
  PG2I_RETURN_IF_ERROR(FinishBatch(table, HistoryIdentFor(table), *committed, end_offset,
                                   bytes_written, started, commit_started.Seconds(), result));
  result.more = static_cast<int>(batch.entries_read) >= options_.max_log_entries ||
                batch.entries.size() < batch.entries_read;
  return EmitMarkers(table, &batch.markers, end_offset, &committed->metadata);
}

DeletePlan Materializer::DeletesOf(const std::string& table, const iceberg::TableMetadata& m,
                                   const std::vector<coord::LogEntry>& entries,
                                   int64_t cursor_offset, bool resync_batch, bool truncated,
                                   bool indexed) const {
  bool copy_batch = true;
  for (const auto& e : entries) copy_batch = copy_batch && IsSnapshotFile(e);
  const iceberg::Snapshot* current = m.CurrentSnapshot();
  const bool snapshot_only_before =
      current == nullptr || (current->summary.count(kSnapshotOnlyKey) &&
                             current->summary.at(kSnapshotOnlyKey) == "true");
  // The first copy of this generation onto a table holding rows of an earlier one (the
  // pipeline was cleaned up and started again) replaces them: rows deleted in between must not
  // survive, and rows of the old log must not be kept as if they were current.
  // (A table copied by this generation has its copy first in the log, so offset 0 is where
  // its first batch starts; an empty copy makes the first batch CDC. skip_snapshot tables are
  // declared populated and are never replaced.)
  const bool replace_foreign = ReplacesForeign(m, table, cursor_offset);
  if (replace_foreign) {
    log::Info("replacing the content of an earlier pipeline with this pipeline's copy",
              {{"table", table}, {"generation", options_.generation}});
  } else if (resync_batch) {
    log::Info("replacing the table's content with its new copy (resync)", {{"table", table}});
  }
  return PlanDeletes(copy_batch, snapshot_only_before, replace_foreign || resync_batch,
                     truncated, indexed);
}

Status Materializer::EmitMarkers(const std::string& table,
                                 std::vector<coord::MarkerEmission>* pending, int64_t offset,
                                 const iceberg::TableMetadata* m) {
  const std::string offset_key = OffsetKey();
  size_t done = 0;
  for (; done < pending->size() && (*pending)[done].log_offset <= offset; ++done) {
    const coord::MarkerEmission& mk = (*pending)[done];
    int64_t snapshot_id = -1;
    if (m != nullptr && mk.log_offset == offset) {
      snapshot_id = m->current_snapshot_id.value_or(-1);
    } else if (m != nullptr) {
      // Passed already (a batch that ended on it, then a crash before it was emitted): the
      // newest snapshot of this generation committed at exactly that offset.
      int64_t best_seq = -1;
      for (const auto& s : m->snapshots) {
        auto it = s.summary.find(offset_key);
        if (it != s.summary.end() && it->second == std::to_string(mk.log_offset) &&
            OfGeneration(s, options_.generation) && s.sequence_number > best_seq) {
          best_seq = s.sequence_number;
          snapshot_id = s.snapshot_id;
        }
      }
      if (snapshot_id < 0) {
        log::Warn("no snapshot ends exactly at this marker (expired since?); recorded without one",
                  {{"table", table}, {"marker", mk.marker_id}});
      }
    }
    CrashPoint("before_marker_emitted");
    PG2I_RETURN_IF_ERROR(coord_->EmitMarker(mk.marker_id, table, snapshot_id));
    CrashPoint("after_marker_emitted");
    log::Info("marker reached", {{"table", table},
                                 {"marker", mk.marker_id},
                                 {"lsn", mk.commit_lsn},
                                 {"snapshot_id", snapshot_id}});
  }
  pending->erase(pending->begin(), pending->begin() + static_cast<std::ptrdiff_t>(done));
  return Status::Ok();
}

}  // namespace pg2iceberg::materialize
