#include "sim/simulation.h"

#include <deque>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <tuple>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <unistd.h>

#include "base/clock.h"
#include "base/crash_point.h"
#include "base/log.h"
#include "catalog/forwarding_catalog.h"
#include "catalog/memory_catalog.h"
#include "config/config.h"
#include "coord/memory_coordinator.h"
#include "iceberg/manifest_cache.h"
#include "iceberg/table_scan.h"
#include "io/fault_injection.h"
#include "io/memory_file_io.h"
#include "io/object_names.h"
#include "materialize/columns.h"
#include "materialize/materializer.h"
#include "pipeline/compaction_service.h"
#include "pipeline/materializer_service.h"
#include "pipeline/source_catalog.h"
#include "pipeline/wal_writer_service.h"
#include "sim/source_model.h"
#include "snapshot/snapshotter.h"
#include "stage/wal_writer.h"
#include "upkeep/compactor.h"

namespace pg2iceberg::sim {
namespace {

// The key index's directory: memory-backed where the machine has it (RocksDB creates and
// deletes files at every simulated process start, and on a disk that took a tenth of the run).
std::filesystem::path ScratchDirectory() {
  std::error_code ec;
  if (std::filesystem::is_directory("/dev/shm", ec) && access("/dev/shm", W_OK) == 0) {
    return "/dev/shm";
  }
  return std::filesystem::temp_directory_path();
}

using namespace std::chrono_literals;

constexpr char kSlot[] = "sim_slot";
constexpr char kWarehouse[] = "mem://wh";

// The simulated process ends here (a crash point fired, or a plain crash).
struct Crash {
  std::string where;
};

// Crash points: armed, each hit ends the process with probability `chance`.
struct CrashPoints {
  std::mt19937_64* rng = nullptr;
  double chance = 0;
  bool armed = false;
};
CrashPoints crash_points;

void OnCrashPoint(std::string_view name) {
  if (!crash_points.armed) return;
  if (std::bernoulli_distribution(crash_points.chance)(*crash_points.rng)) {
    throw Crash{std::string(name)};
  }
}

// The catalog with seeded faults on commits: refused before they apply (unavailable, or a
// conflict), or applied with the reply lost (outcome unknown).
class FaultyCatalog final : public catalog::ForwardingCatalog {
 public:
  FaultyCatalog(catalog::Catalog* inner, std::mt19937_64* rng)
      : ForwardingCatalog(inner), rng_(rng) {}
  double chance = 0;  // of a fault per commit
  int faults = 0;

  Result<catalog::LoadedTable> CommitTable(const catalog::TableCommit& c) override {
    if (chance > 0 && std::bernoulli_distribution(chance)(*rng_)) {
      ++faults;
      switch ((*rng_)() % 4) {
        case 0:
          return Unavailable("simulated: catalog unreachable");
        case 1:
          return Aborted("simulated: a concurrent commit won");
        case 2:
          return CommitStateUnknown("simulated: commit timed out before it applied");
        default: {
          auto r = inner()->CommitTable(c);
          if (!r.ok()) return r.status();
          return CommitStateUnknown("simulated: commit applied, reply lost");
        }
      }
    }
    return inner()->CommitTable(c);
  }

 private:
  std::mt19937_64* rng_;
};

// What outlives a process: the source (its WAL and the slot), the coordinator, the catalog,
// the objects, the clock.
struct World {
  World(uint64_t seed, const SourceOptions& so)
      : rng(seed), source(&rng, so), catalog(&memory_catalog, &rng) {}

  std::mt19937_64 rng;
  SourceModel source;
  FakeClock clock;
  std::shared_ptr<io::MemoryFileIO> objects = std::make_shared<io::MemoryFileIO>(&clock);
  std::shared_ptr<io::FaultInjectingFileIO> io = std::make_shared<io::FaultInjectingFileIO>(objects);
  catalog::MemoryCatalog memory_catalog{kWarehouse, &clock};
  FaultyCatalog catalog;
  coord::MemoryCoordinator coord{&clock};
  Lsn slot;              // the slot's confirmed_flush_lsn
  Lsn created_at;        // where the slot was created (its consistent point)
  size_t produced = 0;   // units the database has written so far
  bool slot_exists = false;
  std::string failure;   // the first invariant broken
};

// The replication connection of one process: from the slot's confirmed LSN, every
// transaction not confirmed yet (a streamed one from its first segment), each session
// starting with the Relation message before the first row change.
class SimSource final : public stage::MessageSource {
 public:
  explicit SimSource(World* w) : w_(w), start_(w->slot), confirmed_(w->slot) {}

  Result<std::optional<pg::ReplicationStream::Received>> Next(
      std::chrono::milliseconds timeout) override {
    const auto& units = w_->source.units();
    while (unit_ < w_->produced) {
      const Unit& u = units[unit_];
      const TxnInfo& t = w_->source.txns()[static_cast<size_t>(u.txn)];
      if (t.end <= start_ || msg_ >= u.messages.size()) {
        ++unit_;
        msg_ = 0;
        continue;
      }
      const pg::Message& m = u.messages[msg_];
      // A table's Relation message comes before its first change in the session, and again
      // when its shape changed.
      for (const auto& [t, version] : u.shapes[msg_]) {
        auto sent = relation_sent_.find(t);
        if (sent != relation_sent_.end() && sent->second == version) continue;
        relation_sent_[t] = version;
        Xid stream;
        if (auto* ss = std::get_if<pg::StreamStartMsg>(&u.messages.front())) stream = ss->xid;
        return std::optional<pg::ReplicationStream::Received>(pg::ReplicationStream::Received{
            u.lsns[msg_], w_->source.RelationMessage(t, version, stream)});
      }
      ++msg_;
      return std::optional<pg::ReplicationStream::Received>(
          pg::ReplicationStream::Received{u.lsns[msg_ - 1], m});
    }
    w_->clock.Advance(timeout);
    return std::optional<pg::ReplicationStream::Received>();
  }
  void Confirm(Lsn lsn) override { confirmed_ = std::max(confirmed_, lsn); }
  // As pg::ReplicationStream with the pipeline's before_ack: the coordinator first (rule 2).
  Status SendStatus() override {
    if (confirmed_ <= w_->slot) return Status::Ok();
    PG2I_RETURN_IF_ERROR(w_->coord.RecordFlushedLsn(kSlot, confirmed_));
    CrashPoint("after_flushed_lsn");
    w_->slot = confirmed_;
    return Status::Ok();
  }
  Lsn confirmed() const override { return confirmed_; }

  bool exhausted() const { return unit_ >= w_->source.units().size(); }

 private:
  World* w_;
  Lsn start_;
  Lsn confirmed_;
  size_t unit_ = 0;
  size_t msg_ = 0;
  std::map<int, int> relation_sent_;  // table → shape version sent in this session
};

// The knobs one seed draws.
struct Knobs {
  bool copy = false;  // the tables have rows before the slot: an initial copy
  int chunks = 1;     // of each table (rows by id % chunks, as CTID ranges would split them)
  config::DeleteMode mode = config::DeleteMode::kEquality;
  std::string index_dir;  // the key index's local directory (position and dv modes)
  // Every table's partition spec (by the key: a key change moves the row between partitions).
  std::vector<config::PartitionField> partition;
  int64_t flush_rows = 10;
  int64_t spill_bytes = 2000;
  int64_t max_changes = 50;
  int max_log_entries = 5;
  double crash_point_chance = 0.05;
  int steps = 300;
  // The pipeline records its commits in meta tables (sink.meta_namespace).
  bool meta = false;
  // A compaction of every partition with more than one file (`compact --all`), not only of
  // those past the thresholds.
  bool compact_all = false;
  // Every table keeps its history too (tables[].iceberg.mode both).
  bool history = false;
};

// The source's catalog as the services see it: the tables as produced so far; they are never
// dropped or re-created here.
class SimSourceCatalog final : public pipeline::SourceCatalog {
 public:
  explicit SimSourceCatalog(World* w) : w_(w) {}
  Result<stage::StagedRelation> Discover(const config::TableConfig& t) override {
    for (int i = 0; i < w_->source.tables(); ++i) {
      if (TableName(i) == t.name.ToString()) return w_->source.Discover(i, w_->produced);
    }
    return NotFound("table " + t.name.ToString() + " is not in the source");
  }
  Result<std::optional<uint32_t>> CurrentOid(const config::TableName& t) override {
    PG2I_ASSIGN_OR_RETURN(auto rel, Discover(config::TableConfig{t}));
    return std::optional<uint32_t>(rel.oid);
  }
  Result<uint32_t> Republish(const config::TableConfig& t) override {
    PG2I_ASSIGN_OR_RETURN(auto rel, Discover(t));
    return rel.oid;
  }
  Result<std::vector<std::string>> MissingDefaults(uint32_t, const std::vector<int>&) override {
    return std::vector<std::string>{};
  }
  Status AwaitVisible(Xid) override { return Status::Ok(); }

 private:
  World* w_;
};

// One incarnation of pg2iceberg: the pipeline's services (WAL writer, materializer, background
// compaction) on the world's backends, stepped by the simulation instead of their threads.
class Process {
 public:
  Process(World* w, const Knobs& k) : catalog_(w) {
    auto source = std::make_unique<SimSource>(w);
    source_ = source.get();
    stage::WalWriterOptions wo;
    wo.slot = kSlot;
    wo.staging_uri = std::string(kWarehouse) + "/_staging";
    wo.flush_rows = k.flush_rows;
    wo.flush_bytes = int64_t{1} << 30;
    wo.spill_bytes = k.spill_bytes;
    wo.flush_interval = 1s;
    wo.orphan_grace = 10min;
    wo.clock = &w->clock;
    std::map<std::string, stage::StagedRelation> rels;
    std::vector<config::TableConfig> tables;
    for (int i = 0; i < w->source.tables(); ++i) {
      rels[TableName(i)] = w->source.Discover(i, w->produced);
      config::TableConfig t;
      t.name = config::TableName{"public", "t" + std::to_string(i)};
      t.partition = k.partition;
      if (k.history) {
        t.mode = config::TableMode::kBoth;
        wo.before_images.insert(TableName(i));
      }
      tables.push_back(t);
      // The tables whose copy is not complete when the process starts are this process's
      // copy; a resync asked for later needs a new process.
      auto state = w->coord.GetTable(TableName(i));
      if (state.ok() && *state && !(*state)->snapshot_complete) copying_.insert(TableName(i));
    }
    writer_ = std::make_unique<stage::WalWriter>(std::move(source), &w->coord, w->io,
                                                 std::move(rels),
                                                 pipeline::RediscoverFrom(&catalog_, tables), wo);
    wal_ = std::make_unique<pipeline::WalWriterService>(writer_.get(), &w->coord, &catalog_,
                                                        tables, [this] { restart_ = true; });
    materialize::MaterializerOptions mo;
    mo.generation = "sim-generation";
    mo.system_identifier = "sim";
    mo.max_changes = k.max_changes;
    mo.max_log_entries = k.max_log_entries;
    mo.clock = &w->clock;
    mo.delete_mode = k.mode;
    mo.index_dir = k.index_dir;
    materializer_ = std::make_unique<materialize::Materializer>(&w->coord, &w->catalog, w->io,
                                                                tables, mo);
    if (k.meta) {
      meta_.emplace(&w->catalog, w->io, "meta", "sim", &w->clock);
    }
    pipeline::MaterializerServiceOptions so;
    so.tables = tables;
    so.max_changes = k.max_changes;
    so.copying = [this](const std::string& t) { return copying_.count(t) > 0; };
    service_ = std::make_unique<pipeline::MaterializerService>(
        &w->coord, materializer_.get(), &catalog_, meta_ ? &*meta_ : nullptr, so);
    upkeep::CompactionOptions co;
    co.all = k.compact_all;
    co.min_data_files = 2;
    co.min_delete_files = 1;
    compaction_ = std::make_unique<pipeline::CompactionService>(
        &w->catalog, w->io, meta_ ? &*meta_ : nullptr, co, 1min, &w->clock);
    for (int i = 0; i < w->source.tables(); ++i) {
      targets_.push_back({TableName(i), catalog::TableIdent{{"default"}, "t" + std::to_string(i)}});
    }
    if (meta_) {
      for (const auto& id : upkeep::MetaTableIdents("meta")) targets_.push_back({id.ToString(), id});
    }
  }

  // The first start copies with the slot's snapshot: the tables as of `units` units, exact at
  // `lsn`.
  void CopyWithSlotSnapshot(size_t units, Lsn lsn) { copy_ = CopySnapshot{units, lsn}; }

  // One chunk of one table not copied yet, as the snapshotter stages and registers it (the
  // rows of the copy's snapshot as inserts with its LSN as commit LSN), and the table marked
  // complete after its last chunk. As the snapshotter does, the process's first call settles
  // every table's chunks of an earlier snapshot (snapshot::ResumeCopy) and then takes the
  // snapshot (a temporary slot's: the tables as produced so far, exact at the next unit's
  // LSN). Only the tables this process copies (those whose copy was not complete when it
  // started, each once, as the pipeline's live copy takes them): a resync asked for later waits
  // for the next process and its own snapshot. False when nothing is left.
  Result<bool> CopyOneChunk(World* w, const Knobs& k) {
    auto whole = [&](const std::vector<coord::SnapshotChunk>& done) {
      return static_cast<int>(done.size()) >= k.chunks;
    };
    if (!copy_) {
      for (int t = 0; t < w->source.tables(); ++t) {
        PG2I_ASSIGN_OR_RETURN(auto state, w->coord.GetTable(TableName(t)));
        if (!state || state->snapshot_complete || !copying_.count(TableName(t))) continue;
        PG2I_RETURN_IF_ERROR(
            snapshot::ResumeCopy(w->coord, TableName(t), std::nullopt, whole).status());
      }
      copy_ = CopySnapshot{w->produced, w->source.SnapshotLsn(w->produced)};
    }
    const size_t snapshot_units = copy_->units;
    const Lsn label = copy_->lsn;
    for (int t = 0; t < w->source.tables(); ++t) {
      const std::string table = TableName(t);
      PG2I_ASSIGN_OR_RETURN(auto state, w->coord.GetTable(table));
      if (!state || state->snapshot_complete || !copying_.count(table)) continue;
      PG2I_ASSIGN_OR_RETURN(snapshot::Resumed resumed,
                            snapshot::ResumeCopy(w->coord, table, label, whole));
      if (resumed.complete) {
        copying_.erase(table);
        return true;
      }
      std::set<int64_t> finished;
      for (const auto& c : resumed.chunks) finished.insert(c.start);
      int chunk = 0;
      while (chunk < k.chunks && finished.count(chunk)) ++chunk;
      if (chunk < k.chunks) {
        const stage::StagedRelation rel = w->source.Discover(t, snapshot_units);
        std::vector<stage::StagedChange> changes;
        for (const auto& [id, row] : w->source.StateAt(snapshot_units)[static_cast<size_t>(t)]) {
          if (id % k.chunks != chunk) continue;
          stage::StagedChange sc;
          sc.change.op = fold::Op::kInsert;
          sc.change.commit_lsn = label;
          sc.change.seq = static_cast<int64_t>(changes.size());
          auto text = [](const std::optional<std::string>& s) { return s ? Value(*s) : Value(); };
          sc.change.values = {Value(id), text(row.v), text(row.big)};
          for (size_t c = 3; c < rel.columns.size(); ++c) {
            auto e = row.extra.find(rel.columns[c].attnum);
            sc.change.values.push_back(e == row.extra.end() ? Value() : text(e->second));
          }
          changes.push_back(std::move(sc));
        }
        std::vector<coord::StagedFile> files;
        if (!changes.empty()) {
          PG2I_ASSIGN_OR_RETURN(std::string bytes, stage::EncodeStagedFile(rel, changes));
          const std::string uri = io::NewStagedUri(std::string(kWarehouse) + "/_staging", table,
                                                   io::StagedKind::kSnapshot);
          PG2I_RETURN_IF_ERROR(w->io->WriteAll(uri, bytes));
          files.push_back(coord::StagedFile{table, uri, static_cast<int64_t>(changes.size()),
                                            static_cast<int64_t>(bytes.size()), label, label,
                                            io::StagedKind::kSnapshot});
        }
        CrashPoint("before_snapshot_chunk_claim");
        PG2I_RETURN_IF_ERROR(
            w->coord
                .ClaimSnapshotChunk(files, coord::SnapshotChunk{table, 0, chunk, chunk + 1,
                                                                static_cast<int64_t>(changes.size()),
                                                                label})
                .status());
        CrashPoint("after_snapshot_chunk_claim");
        ++chunk;
      }
      while (chunk < k.chunks && finished.count(chunk)) ++chunk;
      if (chunk >= k.chunks) {
        PG2I_RETURN_IF_ERROR(w->coord.CompleteSnapshot(table, label));
        // Its copy is in: a resync asked for from now on needs the next process.
        copying_.erase(table);
      }
      return true;
    }
    return false;
  }

  stage::WalWriter& writer() { return *writer_; }
  pipeline::WalWriterService& wal_writer() { return *wal_; }
  pipeline::MaterializerService& materializer() { return *service_; }
  const SimSource& source() const { return *source_; }
  // One round of background compaction; the compactions committed.
  int Compact() { return compaction_->Round(targets_, [] { return false; }); }
  // A service asked for a new attempt (a table to copy).
  bool restart_requested() const { return restart_; }
  void RequestRestart() { restart_ = true; }
  void CheckpointIndexes() { materializer_->CheckpointIndexes(/*now=*/true); }

 private:
  struct CopySnapshot {
    size_t units = 0;
    Lsn lsn;
  };
  SimSource* source_;
  SimSourceCatalog catalog_;
  std::optional<CopySnapshot> copy_;  // the snapshot this process copies with, once taken
  std::set<std::string> copying_;
  bool restart_ = false;
  std::unique_ptr<stage::WalWriter> writer_;
  std::unique_ptr<pipeline::WalWriterService> wal_;
  std::unique_ptr<materialize::Materializer> materializer_;
  std::optional<upkeep::MetaTables> meta_;
  std::unique_ptr<pipeline::MaterializerService> service_;
  std::unique_ptr<pipeline::CompactionService> compaction_;
  std::vector<pipeline::CompactionTarget> targets_;
};

// Table `i`'s history table: no change appended twice (a change is its commit LSN, its
// (sub)transaction and its position there; copied rows have no transaction and are not
// counted).
std::string CompareHistory(World& w, int i) {
  auto loaded = w.memory_catalog.LoadTable({{"default"}, "t" + std::to_string(i) + "_history"});
  if (!loaded.ok()) {
    if (IsNotFound(loaded.status())) return "";
    return "loading the history table: " + loaded.status().ToString();
  }
  std::vector<iceberg::Field> projection;
  for (const char* name : {"_lsn", "_xid", "_seq", "_op"}) {
    for (const auto& f : loaded->metadata.CurrentSchema()->fields()) {
      if (f.name == name) projection.push_back(f);
    }
  }
  if (projection.size() != 4) return TableName(i) + "_history lacks _lsn, _xid, _seq or _op\n";
  auto scan = iceberg::TableScan::Plan(w.objects, loaded->metadata);
  if (!scan.ok()) return "planning the history scan: " + scan.status().ToString();
  auto rows = scan->ReadAll(projection);
  if (!rows.ok()) return "reading the history table: " + rows.status().ToString();
  std::set<std::tuple<int64_t, int64_t, int64_t>> seen;
  std::ostringstream out;
  for (const auto& r : *rows) {
    if (IsNull(r[1])) continue;  // a copied row
    const auto change = std::make_tuple(std::get<int64_t>(r[0]), std::get<int64_t>(r[1]),
                                        std::get<int64_t>(r[2]));
    if (!seen.insert(change).second) {
      out << TableName(i) << "_history: change lsn " << std::get<0>(change) << " xid "
          << std::get<1>(change) << " seq " << std::get<2>(change) << " ("
          << std::get<std::string>(r[3]) << ") appended twice\n";
    }
  }
  return out.str();
}

std::string Describe(const std::optional<std::string>& s) {
  return s ? "'" + s->substr(0, 20) + (s->size() > 20 ? "…'" : "'") : "NULL";
}

catalog::TableIdent IcebergIdent(int i) { return {{"default"}, "t" + std::to_string(i)}; }

// Table `i` in Iceberg against the model: every row once, with the model's values.
std::string CompareTable(World& w, int i) {
  const Model& want = w.source.final_rows()[static_cast<size_t>(i)];
  auto loaded = w.memory_catalog.LoadTable(IcebergIdent(i));
  if (!loaded.ok()) {
    if (IsNotFound(loaded.status()) && want.empty()) return "";
    return "loading the table: " + loaded.status().ToString();
  }
  auto scan = iceberg::TableScan::Plan(w.objects, loaded->metadata);
  if (!scan.ok()) return "planning the scan: " + scan.status().ToString();
  // Columns by identity (attnum, the property the materializer keeps): a schema change
  // reaches Iceberg with the table's next change, or with a copy (docs/schema-changes.md), so
  // Iceberg may lag: a column added since may be missing (its values must all be NULL then),
  // one dropped since may still be there (not compared).
  const auto& fields = loaded->metadata.CurrentSchema()->fields();
  std::map<int32_t, int> attnum_of;
  if (auto p = loaded->metadata.properties.find(materialize::kColumnAttnumsProperty);
      p != loaded->metadata.properties.end()) {
    attnum_of = materialize::ParseColumnAttnums(p->second);
  }
  std::map<int, iceberg::Field> field_of;
  for (const auto& f : fields) {
    if (auto a = attnum_of.find(f.id); a != attnum_of.end()) field_of[a->second] = f;
  }
  std::vector<int> attnums = {1, 2, 3};
  for (const auto& [attnum, name] : w.source.final_shape(i).extra) attnums.push_back(attnum);
  std::vector<iceberg::Field> projection;
  std::vector<int> shape;  // attnums of the extra columns read, in projection order
  std::set<int> absent;
  for (int a : attnums) {
    auto f = field_of.find(a);
    if (f == field_of.end()) {
      if (a <= 3) return TableName(i) + ": the Iceberg table has no column of attnum " + std::to_string(a) + "\n";
      absent.insert(a);
      continue;
    }
    projection.push_back(f->second);
    if (a > 3) shape.push_back(a);
  }
  auto rows = scan->ReadAll(projection);
  if (!rows.ok()) return "reading the table: " + rows.status().ToString();
  std::ostringstream out;
  Model got;
  auto text = [](const Value& v) -> std::optional<std::string> {
    if (IsNull(v)) return std::nullopt;
    return std::get<std::string>(v);
  };
  out << TableName(i) << ":\n";
  const auto clean = out.str().size();
  for (const auto& r : *rows) {
    const int32_t id = std::get<int32_t>(r[0]);
    if (got.count(id)) out << "id " << id << " is in the table twice\n";
    SimRow row{text(r[1]), text(r[2]), false, {}};
    for (size_t c = 0; c < shape.size(); ++c) row.extra[shape[c]] = text(r[3 + c]);
    got[id] = row;
  }
  for (const auto& [id, want_row] : want) {
    auto it = got.find(id);
    SimRow row = want_row;
    for (int a : absent) {
      if (row.extra[a]) out << "id " << id << ": column of attnum " << a << " is not in Iceberg\n";
      row.extra.erase(a);
    }
    if (it == got.end()) {
      out << "id " << id << " is missing\n";
    } else if (it->second.v != row.v || it->second.big != row.big ||
               it->second.extra != row.extra) {
      auto show = [](const SimRow& r) {
        std::string s = "(" + Describe(r.v) + ", " + Describe(r.big);
        for (const auto& [attnum, value] : r.extra) s += ", " + Describe(value);
        return s + ")";
      };
      out << "id " << id << ": table has " << show(it->second) << ", source has " << show(row)
          << "\n";
    }
  }
  for (const auto& [id, row] : got) {
    if (!want.count(id)) out << "id " << id << " is in the table but not in the source\n";
  }
  return out.str().size() == clean ? "" : out.str();
}

// Runs `step` in the process: a crash or an error ends the process (returns false).
template <typename F>
bool Survives(F&& step, SeedOutcome* outcome, bool verbose) {
  try {
    Status s = step();
    if (s.ok()) return true;
    if (verbose) log::Warn("simulated process ends on an error", {{"error", s}});
  } catch (const Crash& c) {
    if (verbose) log::Warn("simulated crash", {{"at", c.where}});
  }
  ++outcome->crashes;
  return false;
}

}  // namespace

SeedOutcome RunSeed(uint64_t seed, const SimOptions& options) {
  const bool verbose = options.verbose;
  std::deque<std::string> tail;
  log::SetSinkForTest([&](std::string_view line) {
    if (verbose) {
      fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
      return;
    }
    tail.emplace_back(line);
    if (tail.size() > 80) tail.pop_front();
  });

  if (verbose) log::Init(log::Level::kDebug, log::Format::kText);
  SeedOutcome outcome;
  std::mt19937_64 knob_rng(seed * 0x9E3779B97F4A7C15ull + 1);
  SourceOptions so;
  so.transactions = 10 + static_cast<int>(knob_rng() % 50);
  so.key_space = 5 + static_cast<int>(knob_rng() % 40);
  so.tables = 1 + static_cast<int>(knob_rng() % 3);
  so.ddl = (knob_rng() % 4) * 0.05;
  so.event_trigger = knob_rng() % 4 != 0;
  // Without the event trigger, column identity across DDL is best effort by design
  // (docs/schema-changes.md): the simulation checks DDL with the trigger only.
  if (!so.event_trigger) so.ddl = 0;
  Knobs k;
  k.flush_rows = 1 + static_cast<int64_t>(knob_rng() % 40);
  k.spill_bytes = 200 + static_cast<int64_t>(knob_rng() % 4000);
  k.max_changes = 1 + static_cast<int64_t>(knob_rng() % 80);
  k.max_log_entries = 1 + static_cast<int>(knob_rng() % 8);
  k.crash_point_chance = (knob_rng() % 4) * 0.03;
  const double fault_chance = (knob_rng() % 3) * 0.04;
  k.mode = static_cast<config::DeleteMode>(knob_rng() % 3);
  const bool compaction = knob_rng() % 2;
  k.compact_all = knob_rng() % 2;
  k.meta = knob_rng() % 2;
  const bool resyncs = knob_rng() % 3 == 0;
  k.copy = knob_rng() % 2;
  k.chunks = 1 + static_cast<int>(knob_rng() % 4);
  // Drawn apart from the other knobs, which stay what they were for every seed.
  k.history = std::mt19937_64(seed ^ 0x686973746f7279ULL)() % 4 == 0;
  if (k.copy) so.initial_rows = static_cast<int>(knob_rng() % static_cast<uint64_t>(so.key_space));
  switch (knob_rng() % 4) {
    case 1:
      k.partition = {{config::PartitionTransform::kBucket, "id", 2 + static_cast<int32_t>(knob_rng() % 3)}};
      break;
    case 2:
      k.partition = {{config::PartitionTransform::kTruncate, "id", 5 * (1 + static_cast<int32_t>(knob_rng() % 2))}};
      break;
    case 3:
      k.partition = {{config::PartitionTransform::kIdentity, "id", 0}};
      break;
    default:
      break;
  }
  if (k.mode != config::DeleteMode::kEquality) {
    k.index_dir = (ScratchDirectory() /
                   ("pg2i-sim-" + std::to_string(getpid()) + "-" + std::to_string(seed)))
                      .string();
    std::filesystem::remove_all(k.index_dir);
  }
  if (verbose) {
    log::Info("simulation knobs",
              {{"tables", so.tables}, {"copy", k.copy ? "yes" : "no"}, {"chunks", k.chunks},
               {"initial_rows", so.initial_rows}, {"ddl", so.ddl}, {"event_trigger", so.event_trigger ? "yes" : "no"}, {"mode", config::DeleteModeName(k.mode)}, {"compaction", compaction ? "yes" : "no"}, {"resyncs", resyncs ? "yes" : "no"},
               {"partition", k.partition.empty() ? std::string("none") : k.partition[0].ToString()},
               {"history", k.history ? "yes" : "no"},
               {"flush_rows", k.flush_rows}, {"spill_bytes", k.spill_bytes},
               {"max_changes", k.max_changes}, {"max_log_entries", k.max_log_entries},
               {"crash_point_chance", k.crash_point_chance}, {"fault_chance", fault_chance}});
  }

  World w(seed, so);
  std::vector<std::string> table_names;
  for (int i = 0; i < so.tables; ++i) table_names.push_back(TableName(i));
  if (verbose) fprintf(stderr, "source transactions:\n%s", w.source.Describe().c_str());
  outcome.transactions = static_cast<int>(w.source.txns().size());
  crash_points = CrashPoints{&w.rng, k.crash_point_chance, true};
  SetCrashPointHook(&OnCrashPoint);
  w.catalog.chance = fault_chance;

  auto check_slot = [&]() {
    auto flushed = w.coord.FlushedLsn(kSlot);
    if (w.slot != w.created_at && (!flushed.ok() || !*flushed || **flushed < w.slot)) {
      w.failure = "rule 2: the slot confirmed " + w.slot.ToString() +
                  " but the coordinator recorded less";
    }
  };

  // The slot is created at the start of the WAL; the tables to copy wait for their copy.
  w.created_at = w.slot = Lsn(w.source.units().front().lsns.front().value() - 0x100);
  for (int t = 0; t < so.tables; ++t) {
    (void)w.coord.PutTable({TableName(t), kFirstOid + static_cast<uint32_t>(t), !k.copy, Lsn()});
  }
  std::unique_ptr<Process> process;
  auto restart = [&]() {
    process.reset();
    check_slot();
    // A new process has nothing cached (and a seed replays alike alone or after others).
    iceberg::ClearManifestCaches();
    process = std::make_unique<Process>(&w, k);
    if (verbose) log::Info("process starts", {{"slot", w.slot.ToString()}});
    if (w.slot_exists) return;
    // The first start creates the slot and copies every table with its exported snapshot
    // (the tables as of the slot's start) before streaming; a crash leaves the rest to the
    // next starts, which copy while streaming with a snapshot of their own.
    w.slot_exists = true;
    process->CopyWithSlotSnapshot(0, w.created_at);
    for (bool more = true; more;) {
      auto copied = process->CopyOneChunk(&w, k);
      if (!copied.ok()) throw Crash{"initial copy: " + copied.status().ToString()};
      more = *copied;
    }
  };
  auto start = [&]() {
    for (int attempt = 0;; ++attempt) {
      try {
        restart();
        return;
      } catch (const Crash& c) {
        ++outcome.crashes;
        if (verbose) log::Warn("simulated crash", {{"at", c.where}});
      }
    }
  };
  start();
  const size_t units = w.source.units().size();
  for (int step = 0; step < k.steps && w.failure.empty(); ++step) {
    const uint64_t r = w.rng() % 100;
    bool alive = true;
    if (r < 25) {
      w.produced = std::min(units, w.produced + 1 + w.rng() % 3);
    } else if (r < 55) {
      const auto wait = std::chrono::milliseconds(1 + w.rng() % 500);
      alive = Survives([&] { return process->wal_writer().Step(wait); }, &outcome, verbose);
    } else if (r < 62) {
      alive = Survives([&] { return process->writer().Flush(); }, &outcome, verbose);
    } else if (r < 85) {
      alive = Survives(
          [&]() -> Status {
            PG2I_ASSIGN_OR_RETURN(auto cycle, process->materializer().Cycle(/*ending=*/false));
            if (cycle.restart) process->RequestRestart();
            return Status::Ok();
          },
          &outcome, verbose);
    } else if (r < 88) {
      w.clock.Advance(std::chrono::seconds(1 + w.rng() % 120));
    } else if (r < 90) {
      // Another writer of the table: a compaction (as `run` does in the background, or an
      // engine's rewrite). Its failures only cost a later retry; crash points inside it end
      // the process.
      if (compaction) {
        alive = Survives(
            [&] {
              outcome.compactions += process->Compact();
              return Status::Ok();
            },
            &outcome, verbose);
      }
    } else if (r < 91) {
      alive = Survives(
          [&]() -> Status { return process->CopyOneChunk(&w, k).status(); },
          &outcome, verbose);
      if (alive && k.mode != config::DeleteMode::kEquality) {
        alive = Survives(
            [&] {
              process->CheckpointIndexes();
              return Status::Ok();
            },
            &outcome, verbose);
      }
    } else if (r < 93) {
      alive = false;  // a plain crash between steps
      ++outcome.crashes;
      if (verbose) log::Warn("simulated crash between steps");
      // Sometimes on a new machine: the key index's local directory is gone.
      if (!k.index_dir.empty() && w.rng() % 3 == 0) {
        process.reset();
        std::filesystem::remove_all(k.index_dir);
        if (verbose) log::Warn("the key index's directory is lost");
      }
    } else if (r < 94 && resyncs) {
      // `pg2iceberg resync --table`: the running pipeline starts again and copies the table
      // under a new snapshot, which replaces its content; the changes the copy holds are
      // skipped (docs/snapshot.md).
      const int t = static_cast<int>(w.rng() % static_cast<uint64_t>(so.tables));
      auto requested = w.coord.RequestResync(TableName(t));
      if (requested.ok()) {
        ++outcome.resyncs;
        if (verbose) log::Info("resync requested", {{"table", TableName(t)}, {"offset", *requested}});
      } else if (verbose) {
        log::Info("resync refused", {{"error", requested.status()}});
      }
    } else if (fault_chance > 0) {
      const auto op = static_cast<io::FaultOp>(w.rng() % io::kFaultOpCount);
      const auto timing = w.rng() % 2 ? io::FaultTiming::kBefore : io::FaultTiming::kAfter;
      w.io->FailNth(op, w.io->count(op) + 1 + static_cast<int64_t>(w.rng() % 4),
                    Unavailable("simulated: object store unreachable"), timing);
      ++outcome.faults;
    }
    // A service asked for a new attempt (a table to copy): the process starts again, as
    // the pipeline's next attempt.
    if (alive && process->restart_requested()) {
      alive = false;
      if (verbose) log::Info("a service asked for a new attempt");
    }
    if (!alive) start();
  }

  // Catch-up: no more faults; everything produced; the process runs until it is idle.
  crash_points.armed = false;
  w.catalog.chance = 0;
  w.io->Reset();
  w.produced = units;
  if (w.failure.empty()) start();
  for (int i = 0; i < 1000 && w.failure.empty(); ++i) {
    auto copied = process->CopyOneChunk(&w, k);
    if (!copied.ok()) w.failure = "catch-up copy: " + copied.status().ToString();
    if (!copied.ok() || !*copied) break;
  }
  auto fail = [&](const std::string& what, const Status& s) {
    w.failure = what + ": " + s.ToString();
  };
  for (int i = 0; i < 100'000 && w.failure.empty() && !process->source().exhausted(); ++i) {
    if (Status s = process->wal_writer().Step(500ms); !s.ok()) fail("catch-up WAL writer", s);
  }
  if (w.failure.empty()) {
    if (Status s = process->writer().Flush(); !s.ok()) fail("catch-up flush", s);
  }
  for (int i = 0; i < 10'000 && w.failure.empty(); ++i) {
    auto cycle = process->materializer().Cycle(/*ending=*/true);
    if (!cycle.ok()) {
      fail("catch-up materializer", cycle.status());
      break;
    }
    if (cycle->restart || process->restart_requested()) {
      w.failure = "the catch-up's process asked for a new attempt: a table it copied is not "
                  "complete";
      break;
    }
    bool idle = true;
    for (const std::string& t : table_names) {
      auto next = w.coord.NextOffset(t);
      if (!next.ok()) {
        fail("reading the log's end", next.status());
        break;
      }
      const auto& r = cycle->results.at(t);
      idle = idle && !r.more && r.cursor >= *next;
    }
    if (idle) break;
  }
  check_slot();
  if (w.failure.empty()) {
    Lsn last_commit;
    for (const TxnInfo& t : w.source.txns()) {
      if (!t.aborted) last_commit = std::max(last_commit, t.end);
    }
    if (w.slot < last_commit) {
      w.failure = "the slot confirmed only " + w.slot.ToString() + ", the last commit ends at " +
                  last_commit.ToString();
    }
  }
  if (w.failure.empty()) {
    std::string diff;
    for (int i = 0; i < so.tables; ++i) diff += CompareTable(w, i);
    if (!diff.empty()) w.failure = "Iceberg differs from the source:\n" + diff;
  }
  if (w.failure.empty() && k.history) {
    std::string diff;
    for (int i = 0; i < so.tables; ++i) diff += CompareHistory(w, i);
    if (!diff.empty()) w.failure = "a history table is wrong:\n" + diff;
  }
  outcome.commits = w.memory_catalog.commits();
  outcome.faults += w.catalog.faults;
  process.reset();
  if (!k.index_dir.empty()) std::filesystem::remove_all(k.index_dir);
  SetCrashPointHook(nullptr);
  log::SetSinkForTest(nullptr);
  if (!w.failure.empty()) {
    outcome.ok = false;
    std::ostringstream out;
    out << w.failure;
    if (!verbose) {
      out << "\nlast log lines:\n";
      for (const auto& l : tail) out << "  " << l << "\n";
    }
    outcome.failure = out.str();
  }
  return outcome;
}

}  // namespace pg2iceberg::sim
