#include "snapshot/snapshotter.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>

#include "base/clock.h"
#include "base/crash_point.h"
#include "base/log.h"
#include "fold/fold.h"
#include "io/object_names.h"
#include "pg/catalog.h"
#include "pg/copy_binary.h"
#include "pg/values.h"

namespace pg2iceberg::snapshot {
namespace {

using namespace std::chrono_literals;

// One heap to copy: a plain table, or one leaf partition of a partitioned table.
struct Heap {
  std::string quoted;  // schema-qualified, quoted
  int64_t pages = 0;
  int64_t rows_estimate = 0;
};

struct Chunk {
  size_t table = 0;    // index into the tables argument
  int64_t part = 0;    // index into that table's heaps
  int64_t start = 0;
  int64_t end = -1;    // exclusive; -1: to the end of the heap
};

struct Plan {
  std::vector<std::vector<Heap>> heaps;  // per table
  std::vector<Chunk> todo;
  std::vector<int64_t> remaining;        // chunks left per table
};

Result<std::vector<Heap>> Heaps(pg::Connection& conn, const config::TableName& name) {
  // A plain table is its own single leaf; a partitioned table is copied leaf by leaf, in
  // name order (stable across restarts, so chunk numbers stay meaningful).
  PG2I_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      conn.Query("SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), "
                 "(pg_relation_size(c.oid) / current_setting('block_size')::int)::text, "
                 "greatest(c.reltuples, 0)::bigint::text "
                 "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                 "WHERE c.relkind IN ('r', 'm') AND c.oid IN (SELECT $1::regclass UNION "
                 "SELECT relid FROM pg_partition_tree($1::regclass) WHERE isleaf) "
                 "ORDER BY n.nspname COLLATE \"C\", c.relname COLLATE \"C\"",
                 {name.Quoted()}));
  std::vector<Heap> out;
  for (const auto& row : r.rows) {
    out.push_back(Heap{*row[0], std::stoll(*row[1]), std::stoll(*row[2])});
  }
  if (out.empty()) {
    // Never mark a table copied without reading it.
    return FailedPrecondition("found no table storage to copy for " + name.ToString() +
                              " (a partitioned table without partitions, or not a table)");
  }
  return out;
}

// Keep the chunk size of an interrupted copy, so finished chunks line up.
int64_t PagesPerChunk(const std::vector<coord::SnapshotChunk>& done, int64_t chunk_pages) {
  for (const auto& d : done) {
    if (d.end >= 0) return d.end - d.start;
  }
  return chunk_pages;
}

// Table `t`'s chunks: `pages_per_chunk` pages each, the last of each heap open-ended.
std::vector<Chunk> ChunksOf(size_t t, const std::vector<Heap>& heaps, int64_t pages_per_chunk) {
  std::vector<Chunk> out;
  for (size_t part = 0; part < heaps.size(); ++part) {
    for (int64_t start = 0;; start += pages_per_chunk) {
      const bool last = start + pages_per_chunk >= heaps[part].pages;
      out.push_back(Chunk{t, static_cast<int64_t>(part), start, last ? -1 : start + pages_per_chunk});
      if (last) break;
    }
  }
  return out;
}

bool Finished(const std::vector<coord::SnapshotChunk>& done, const Chunk& c) {
  for (const auto& d : done) {
    if (d.part == c.part && (d.start == c.start || (d.end < 0 && d.start <= c.start))) return true;
  }
  return false;
}

int64_t ChunkPagesOf(const Chunk& c, const Heap& h) {
  return c.end >= 0 ? c.end - c.start : std::max<int64_t>(h.pages - c.start, 0);
}

// `snapshot`: the LSN of the snapshot the copy imports, nullopt when it exports a new one.
Result<Plan> MakePlan(pg::Connection& conn, coord::Coordinator& coord,
                      const std::vector<SnapshotTable>& tables, int64_t chunk_pages,
                      std::optional<Lsn> snapshot, std::vector<TableProgress>* progress) {
  Plan plan;
  plan.heaps.resize(tables.size());
  plan.remaining.assign(tables.size(), 0);
  for (size_t t = 0; t < tables.size(); ++t) {
    const std::string name = tables[t].name.ToString();
    PG2I_ASSIGN_OR_RETURN(plan.heaps[t], Heaps(conn, tables[t].name));
    const std::vector<Heap>& heaps = plan.heaps[t];
    PG2I_ASSIGN_OR_RETURN(
        Resumed resumed,
        ResumeCopy(coord, name, snapshot, [&](const std::vector<coord::SnapshotChunk>& done) {
          for (const Chunk& c : ChunksOf(t, heaps, PagesPerChunk(done, chunk_pages))) {
            if (!Finished(done, c)) return false;
          }
          return true;
        }));
    const std::vector<coord::SnapshotChunk>& done = resumed.chunks;
    TableProgress& p = (*progress)[t];
    p.table = name;
    p.complete = resumed.complete;
    for (const auto& d : done) {
      p.rows_done += d.rows;
      ++p.chunks_done;
    }
    for (const Heap& h : heaps) {
      p.pages_total += h.pages;
      p.rows_estimate += h.rows_estimate;
    }
    for (const Chunk& c : ChunksOf(t, heaps, PagesPerChunk(done, chunk_pages))) {
      ++p.chunks_total;
      if (resumed.complete || Finished(done, c)) {
        p.pages_done += ChunkPagesOf(c, heaps[static_cast<size_t>(c.part)]);
      } else {
        plan.todo.push_back(c);
        ++plan.remaining[t];
      }
    }
    p.chunks_total = std::max(p.chunks_total, p.chunks_done);
  }
  // Interleave tables so several tables progress at once and each finishes early enough.
  std::stable_sort(plan.todo.begin(), plan.todo.end(),
                   [](const Chunk& a, const Chunk& b) { return a.start < b.start; });
  return plan;
}

// State shared by the workers.
struct Shared {
  std::mutex mu;
  std::condition_variable cv;
  size_t next = 0;
  int imported = 0;
  bool failed = false;
  Status error;
  std::vector<TableProgress> progress;
  std::vector<int64_t> remaining;

  void Fail(const Status& s) {
    std::lock_guard<std::mutex> lock(mu);
    if (!failed) error = s;
    failed = true;
    cv.notify_all();
  }
};

class Worker {
 public:
  Worker(const std::vector<SnapshotTable>& tables, const SnapshotOptions& o, const Plan& plan,
         const std::string& snapshot_name, Lsn lsn, Shared* shared)
      : tables_(tables), o_(o), plan_(plan), snapshot_name_(snapshot_name), lsn_(lsn),
        shared_(shared) {}

  void Run() {
    Status s = RunImpl();
    if (!s.ok()) shared_->Fail(s);
  }

 private:
  Status RunImpl() {
    PG2I_ASSIGN_OR_RETURN(conn_, o_.connect());
    PG2I_ASSIGN_OR_RETURN(coord_, o_.coordinator());
    PG2I_RETURN_IF_ERROR(conn_->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
    Status imported = conn_->Exec("SET TRANSACTION SNAPSHOT " + pg::QuoteLiteral(snapshot_name_));
    if (!imported.ok()) {
      return imported.WithContext("importing snapshot " + snapshot_name_ +
                                  " (the connection that exported it must stay open)");
    }
    {
      std::lock_guard<std::mutex> lock(shared_->mu);
      ++shared_->imported;
      shared_->cv.notify_all();
    }
    for (const Chunk& c : plan_.todo) {
      if (select_.count(c.table) != 0) continue;
      PG2I_RETURN_IF_ERROR(CheckColumns(tables_[c.table]));
      PG2I_ASSIGN_OR_RETURN(select_[c.table], SelectListOf(tables_[c.table].relation));
    }
    while (true) {
      size_t i;
      {
        std::lock_guard<std::mutex> lock(shared_->mu);
        if (shared_->failed || shared_->next >= plan_.todo.size()) break;
        i = shared_->next++;
      }
      if (o_.stop && *o_.stop) break;
      PG2I_RETURN_IF_ERROR(CopyChunk(plan_.todo[i]));
    }
    return conn_->Exec("COMMIT");
  }

  // The columns a copy reads were discovered before its snapshot was taken: DDL committed in
  // between would have it read columns its rows do not have, or miss one they have (a column
  // added with a default would read NULL until copied again). Checked under the snapshot; a
  // difference ends this attempt (Aborted: the pipeline starts again and discovers them anew).
  Status CheckColumns(const SnapshotTable& t) {
    PG2I_ASSIGN_OR_RETURN(pg::TableInfo now, pg::DiscoverTable(*conn_, t.name));
    const auto& want = t.relation.columns;
    bool same = now.columns.size() == want.size();
    for (size_t i = 0; same && i < want.size(); ++i) {
      const pg::ColumnInfo& c = now.columns[i];
      same = c.name == want[i].name && c.attnum == want[i].attnum &&
             c.base_type_oid == want[i].type_oid && c.typmod == want[i].typmod;
    }
    if (same) return Status::Ok();
    return Aborted("the columns of " + t.name.ToString() + " changed (DDL) between reading them "
                   "and taking the copy's snapshot; the copy must start again, reading them anew");
  }

  // The chunk's rows come as binary COPY: columns of the simple types in their binary form
  // (pg::BinaryDecodable), every other one through its type's output function, which sends the
  // text a text-format query would (a cast to text would not: booleans, inet, "char").
  Result<std::string> SelectListOf(const stage::StagedRelation& rel) {
    std::string oids;
    for (const auto& col : rel.columns) {
      if (pg::BinaryDecodable(col.type, col.type_oid)) continue;
      oids += (oids.empty() ? "" : ",") + std::to_string(col.type_oid);
    }
    std::map<std::string, std::string> output;
    if (!oids.empty()) {
      PG2I_ASSIGN_OR_RETURN(pg::QueryResult r,
                            conn_->Query("SELECT oid::text, typoutput::regproc::text FROM "
                                         "pg_catalog.pg_type WHERE oid = ANY($1::oid[])",
                                         {"{" + oids + "}"}));
      for (const auto& row : r.rows) {
        if (row.size() == 2 && row[0] && row[1]) output[*row[0]] = *row[1];
      }
    }
    std::string cols;
    for (const auto& col : rel.columns) {
      std::string expr = pg::QuoteIdent(col.name);
      if (!pg::BinaryDecodable(col.type, col.type_oid)) {
        auto it = output.find(std::to_string(col.type_oid));
        if (it == output.end()) {
          return FailedPrecondition("no output function found for the type (oid " +
                                    std::to_string(col.type_oid) + ") of column " + col.name);
        }
        expr = it->second + "(" + expr + ")";
      }
      cols += (cols.empty() ? "" : ", ") + expr;
    }
    return cols;
  }

  Status CopyChunk(const Chunk& c) {
    const SnapshotTable& t = tables_[c.table];
    const stage::StagedRelation& rel = t.relation;
    const std::string name = t.name.ToString();
    const Heap& heap = plan_.heaps[c.table][static_cast<size_t>(c.part)];
    std::string where = "ctid >= '(" + std::to_string(c.start) + ",0)'::tid";
    if (c.end >= 0) where += " AND ctid < '(" + std::to_string(c.end) + ",0)'::tid";
    std::vector<coord::StagedFile> files;
    int64_t rows = 0;
    std::vector<stage::StagedChange> changes;
    int64_t bytes = 0;  // received, for the progress
    int64_t held = 0;   // the memory the batch's changes take
    // A batch of rows becomes one staged file.
    auto stage = [&]() -> Status {
      if (changes.empty()) return Status::Ok();
      const int64_t count = static_cast<int64_t>(changes.size());
      PG2I_ASSIGN_OR_RETURN(std::string encoded, stage::EncodeStagedFile(rel, std::move(changes)));
      changes = {};
      changes.reserve(static_cast<size_t>(std::min<int64_t>(o_.batch_rows, 16'384)));
      const std::string uri = io::NewStagedUri(o_.staging_uri, name, io::StagedKind::kSnapshot);
      PG2I_RETURN_IF_ERROR(o_.io->WriteAll(uri, encoded));
      files.push_back(coord::StagedFile{name, uri, count,
                                        static_cast<int64_t>(encoded.size()), lsn_, lsn_,
                                        io::StagedKind::kSnapshot});
      rows += count;
      std::lock_guard<std::mutex> lock(shared_->mu);
      shared_->progress[c.table].rows_done += count;
      shared_->progress[c.table].bytes_done += bytes;
      bytes = 0;
      held = 0;
      return Status::Ok();
    };
    std::vector<bool> binary(rel.columns.size());
    for (size_t k = 0; k < rel.columns.size(); ++k) {
      binary[k] = pg::BinaryDecodable(rel.columns[k].type, rel.columns[k].type_oid);
    }
    auto on_row = [&](const pg::BinaryRow& row) -> Status {
      stage::StagedChange sc;
      sc.change.op = fold::Op::kInsert;
      sc.change.commit_lsn = lsn_;
      sc.change.seq = seq_++;
      sc.change.values.resize(rel.columns.size());
      for (size_t k = 0; k < rel.columns.size(); ++k) {
        if (!row[k]) continue;
        bytes += static_cast<int64_t>(row[k]->size());
        const auto& col = rel.columns[k];
        auto v = binary[k] ? pg::ParseBinary(col.type, col.type_oid, *row[k])
                           : pg::ParseText(col.type, col.type_oid, *row[k]);
        if (!v.ok()) return v.status().WithContext(name + "." + col.name);
        sc.change.values[k] = std::move(*v);
      }
      if (o_.batch_bytes > 0) held += stage::MemoryBytes(sc);
      changes.push_back(std::move(sc));
      if (static_cast<int64_t>(changes.size()) >= o_.batch_rows ||
          (o_.batch_bytes > 0 && held >= o_.batch_bytes)) {
        if (o_.stop && *o_.stop) return Cancelled("snapshot stopped");
        return stage();
      }
      return Status::Ok();
    };
    changes.reserve(static_cast<size_t>(std::min<int64_t>(o_.batch_rows, 16'384)));
    pg::BinaryCopyReader reader(rel.columns.size());
    PG2I_RETURN_IF_ERROR(conn_->CopyOut(
        "COPY (SELECT " + select_.at(c.table) + " FROM ONLY " + heap.quoted + " WHERE " + where +
            ") TO STDOUT (FORMAT binary)",
        [&](std::string_view data) { return reader.Feed(data, on_row); }));
    PG2I_RETURN_IF_ERROR(reader.Finish().WithContext("copying " + name));
    PG2I_RETURN_IF_ERROR(stage());
    CrashPoint("before_snapshot_chunk_claim");
    PG2I_RETURN_IF_ERROR(
        coord_->ClaimSnapshotChunk(files,
                                   coord::SnapshotChunk{name, c.part, c.start, c.end, rows, lsn_})
            .status());
    CrashPoint("after_snapshot_chunk_claim");
    bool table_done = false;
    {
      std::lock_guard<std::mutex> lock(shared_->mu);
      TableProgress& p = shared_->progress[c.table];
      ++p.chunks_done;
      p.pages_done += ChunkPagesOf(c, heap);
      table_done = --shared_->remaining[c.table] == 0;
    }
    if (table_done) {
      PG2I_RETURN_IF_ERROR(coord_->CompleteSnapshot(name, lsn_));
      std::lock_guard<std::mutex> lock(shared_->mu);
      shared_->progress[c.table].complete = true;
      log::Info("snapshot of table complete",
                {{"table", name}, {"rows", shared_->progress[c.table].rows_done}});
    }
    return Status::Ok();
  }

  const std::vector<SnapshotTable>& tables_;
  const SnapshotOptions& o_;
  const Plan& plan_;
  const std::string& snapshot_name_;
  const Lsn lsn_;
  Shared* shared_;
  std::unique_ptr<pg::Connection> conn_;
  std::unique_ptr<coord::Coordinator> coord_;
  std::map<int, std::string> select_;  // table → the select list of its chunks
  int64_t seq_ = 0;
};

}  // namespace

std::string FormatProgress(const TableProgress& p) {
  char buf[256];
  const double mb = 8192.0 / (1 << 20);
  if (p.rows_estimate > 0) {
    const int64_t pct = std::min<int64_t>(100, p.rows_done * 100 / p.rows_estimate);
    std::snprintf(buf, sizeof buf, "%s %lld/~%lld rows (%lld%%) %.0f/%.0f MB, chunks %lld/%lld%s",
                  p.table.c_str(), static_cast<long long>(p.rows_done),
                  static_cast<long long>(p.rows_estimate), static_cast<long long>(pct),
                  static_cast<double>(p.pages_done) * mb, static_cast<double>(p.pages_total) * mb,
                  static_cast<long long>(p.chunks_done), static_cast<long long>(p.chunks_total),
                  p.complete ? " done" : "");
  } else {
    std::snprintf(buf, sizeof buf, "%s %lld rows %.0f/%.0f MB, chunks %lld/%lld%s",
                  p.table.c_str(), static_cast<long long>(p.rows_done),
                  static_cast<double>(p.pages_done) * mb, static_cast<double>(p.pages_total) * mb,
                  static_cast<long long>(p.chunks_done), static_cast<long long>(p.chunks_total),
                  p.complete ? " done" : "");
  }
  return buf;
}

Result<Resumed> ResumeCopy(
    coord::Coordinator& coord, const std::string& table, std::optional<Lsn> snapshot,
    const std::function<bool(const std::vector<coord::SnapshotChunk>&)>& whole) {
  Resumed out;
  PG2I_ASSIGN_OR_RETURN(std::vector<coord::SnapshotChunk> done, coord.SnapshotChunks(table));
  if (done.empty()) return out;
  const bool one_snapshot = std::all_of(done.begin(), done.end(),
                                        [&](const auto& d) { return d.lsn == done.front().lsn; });
  if (one_snapshot && whole(done)) {
    // Every chunk is in; only the completion mark is missing (lost to an interruption).
    PG2I_RETURN_IF_ERROR(coord.CompleteSnapshot(table, done.front().lsn));
    out.chunks = std::move(done);
    out.complete = true;
    return out;
  }
  if (one_snapshot && snapshot && done.front().lsn == *snapshot) {
    out.chunks = std::move(done);
    return out;
  }
  log::Warn("the table's copy was interrupted: copying it again from the beginning, under one "
            "new snapshot (rows of two snapshots do not make a correct copy)",
            {{"table", table}, {"chunks_done_before", static_cast<int64_t>(done.size())}});
  PG2I_RETURN_IF_ERROR(coord.RestartCopy(table).status());
  return out;
}

std::string TemporarySlotName(const std::string& prefix) {
  std::string suffix;
  for (char c : io::NewUniqueName()) {
    if (c != '-') suffix += c;
  }
  std::string name = prefix.substr(0, 63 - 1 - 16) + "_" + suffix.substr(0, 16);
  for (char& c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    else if (!ok) c = '_';
  }
  return name;
}

Result<SnapshotResult> RunSnapshot(const std::vector<SnapshotTable>& tables,
                                   const SnapshotOptions& o) {
  const Stopwatch started;
  SnapshotResult result;
  if (tables.empty()) return result;
  PG2I_ASSIGN_OR_RETURN(auto leader, o.connect());
  PG2I_ASSIGN_OR_RETURN(auto coord, o.coordinator());
  Shared shared;
  shared.progress.resize(tables.size());
  const bool imported = !o.snapshot_name.empty();
  PG2I_ASSIGN_OR_RETURN(
      Plan plan, MakePlan(*leader, *coord, tables, std::max<int64_t>(o.chunk_pages, 1),
                          imported ? std::optional<Lsn>(o.snapshot_lsn) : std::nullopt,
                          &shared.progress));
  shared.remaining = plan.remaining;
  std::string snapshot_name = o.snapshot_name;
  Lsn lsn = o.snapshot_lsn;
  // A snapshot of its own, exact at a known LSN: a temporary replication slot's. It lives
  // while `exporter` is open and idle, and is released once every worker imported it (the
  // slot goes with the connection, so it holds no WAL after that).
  std::unique_ptr<pg::ReplicationConnection> exporter;
  if (!plan.todo.empty() && !imported) {
    if (!o.replication) return Internal("the snapshot needs a replication connection to export one");
    PG2I_ASSIGN_OR_RETURN(exporter, o.replication());
    const std::string slot = TemporarySlotName("pg2iceberg_copy");
    log::Info("creating a temporary replication slot for the copy's snapshot (this waits for "
              "the transactions running now to end)",
              {{"slot", slot}});
    auto made = exporter->CreateSlot(slot, /*export_snapshot=*/true, /*temporary=*/true);
    if (!made.ok()) {
      return made.status().WithContext(
          "creating the temporary replication slot whose snapshot the copy reads (it needs a "
          "free replication slot and WAL sender: raise max_replication_slots or "
          "max_wal_senders if they are all in use)");
    }
    snapshot_name = made->snapshot_name;
    lsn = made->consistent_point;
  }
  const int workers = static_cast<int>(
      std::min<size_t>(plan.todo.size(), static_cast<size_t>(std::max(o.concurrency, 1))));
  log::Info("snapshot starting", {{"tables", static_cast<int64_t>(tables.size())},
                                  {"chunks", static_cast<int64_t>(plan.todo.size())},
                                  {"workers", static_cast<int64_t>(workers)},
                                  {"snapshot", snapshot_name},
                                  {"lsn", lsn.ToString()}});
  std::vector<std::unique_ptr<Worker>> ws;
  std::vector<std::thread> threads;
  for (int i = 0; i < workers; ++i) {
    ws.push_back(std::make_unique<Worker>(tables, o, plan, snapshot_name, lsn, &shared));
    threads.emplace_back([w = ws.back().get()] { w->Run(); });
  }
  Stopwatch since_report;
  while (true) {
    bool all_done;
    {
      std::unique_lock<std::mutex> lock(shared.mu);
      shared.cv.wait_for(lock, 200ms);
      // Every worker holds the snapshot now: the temporary slot may go.
      if (exporter && (shared.imported == workers || shared.failed)) {
        lock.unlock();
        exporter.reset();
        lock.lock();
      }
      all_done = shared.failed;
      if (!all_done) {
        all_done = true;
        for (int64_t r : shared.remaining) all_done = all_done && r == 0;
      }
      if (!all_done && o.stop && *o.stop) all_done = true;
    }
    if (all_done) break;
    if (o.on_progress && since_report.Elapsed() >= 1s) {
      since_report.Restart();
      std::vector<TableProgress> copy;
      {
        std::lock_guard<std::mutex> lock(shared.mu);
        copy = shared.progress;
      }
      o.on_progress(copy, false);
    }
  }
  for (auto& t : threads) t.join();
  exporter.reset();
  result.tables = shared.progress;
  result.seconds = started.Seconds();
  if (o.on_progress) o.on_progress(result.tables, true);
  if (shared.failed) return shared.error;
  return result;
}

}  // namespace pg2iceberg::snapshot
