// Query mode's source: per table, polls `SELECT … WHERE (watermark, key) > cursor ORDER BY
// watermark, key LIMIT n` and stages the rows as upserts (an insert of a live key is an
// update, fold.h) through the same staged files, coordinator log and materializer as logical
// mode. docs/query-mode.md says what it guarantees and what it cannot see.
//
//   Exact paging   the cursor is the (watermark, primary key) of the last row read, so rows
//                  sharing a watermark are never skipped, whatever the page size.
//   Durable        each page's staged file is registered with the cursor that follows it in
//                  one coordinator transaction (meta "query_cursor:<table>"): a crash or a
//                  failed upload re-reads the page, never skips it.
//   Late commits   every `lookback` the rows whose watermark the cursor passed in the last two
//                  lookbacks are read again; those not staged in the same image within the
//                  window (in memory: a 64-bit digest per row) are staged. A row committed less
//                  than `lookback` after the cursor passed its watermark arrives.
//
// One TablePoller per table; not thread-safe (one thread polls a table).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "coord/coordinator.h"
#include "io/file_io.h"
#include "pg/connection.h"
#include "stage/staged_file.h"

namespace pg2iceberg::query {

// A position in a table's (watermark, key) order, in PostgreSQL's text forms.
struct Position {
  std::optional<std::string> watermark;  // nullopt: before every row
  std::vector<std::string> key;          // empty (with a watermark): before every row of it
  bool operator==(const Position&) const = default;
};

// A table's progress as recorded in the coordinator.
struct Progress {
  Position cursor;  // every row up to here is staged
  // Cursors as they were at earlier times (Unix ms, oldest first), one per quarter lookback at
  // most: where the next re-read of late commits starts.
  std::vector<std::pair<int64_t, Position>> history;
  int64_t last_sweep_ms = 0;  // Unix ms of the last re-read (0: none yet)
  // After an initial copy, until done: the copy's snapshot (pg_snapshot text) and its fence.
  // Rows at or before the fence written by transactions running at (or started after) that
  // snapshot's oldest one are read once more when every transaction that may have been running
  // at it has ended:
  // they may have committed after the copy's snapshot with a watermark before the fence.
  struct AfterCopy {
    std::string snapshot;
    // A transaction id assigned after the snapshot was taken (xid8 text): transactions running
    // at the snapshot are those of its xip list and those from its xmax up to this one.
    std::string later_xid;
    Position fence;
    bool operator==(const AfterCopy&) const = default;
  };
  std::optional<AfterCopy> after_copy;
  bool operator==(const Progress&) const = default;
};
std::string EncodeProgress(const Progress& p);
Result<Progress> DecodeProgress(const std::string& json);
// Coordinator meta key of `table`'s progress.
std::string ProgressKey(const std::string& table);

// What the poller knows of a table: its staged shape and the SQL types of the columns it
// compares (from the catalog).
struct PolledTable {
  std::string name;                  // "schema.table" as configured
  std::string quoted;                // "schema"."table"
  stage::StagedRelation relation;
  int watermark = -1;                // index of the watermark column in relation.columns
  std::vector<std::string> sql_types;  // format_type of each column, relation order
  // The table's shape when it was described (TableShape): a page read after the shape changed
  // is not staged (its rows would miss a column's values), the pipeline starts again instead.
  std::string shape;
  std::string schema, table;          // unquoted, for TableShape
};

// The table's oid and columns (attnum, name, type, typmod, whether existing rows read a
// default) as one string; empty when the table does not exist.
Result<std::string> TableShape(pg::Connection& conn, const std::string& schema,
                               const std::string& table);
// What a shape change asks for: the table copied again (a column added with a default that
// existing rows read, or a column's type changed: rows changed out of polling's sight), or
// only a new start that describes the table again (a column added without a default, dropped
// or renamed; the table dropped or re-created is the start's to judge).
bool ShapeChangeNeedsCopy(const std::string& before, const std::string& after);

struct PollerOptions {
  std::string staging_uri;
  int batch_size = 10'000;
  std::chrono::milliseconds poll_interval{30'000};
  std::chrono::milliseconds lookback{300'000};
  std::string custom_query;      // empty: the generated SELECT
  std::string initial_offset;    // empty: from the first row
  // Pages per Poll() before it returns (so one table cannot starve the others).
  int max_pages = 100;
  Clock* clock = nullptr;
};

// The largest (watermark, key) of `t` now (in the connection's snapshot); an empty Position
// when no row has a watermark. Needs name/quoted/relation/watermark of `t` only.
Result<Position> LastPosition(pg::Connection& conn, const PolledTable& t);

// The watermark types query mode accepts (PostgreSQL base type oids).
bool WatermarkTypeSupported(uint32_t type_oid);

class TablePoller {
 public:
  TablePoller(PolledTable table, PollerOptions options, coord::Coordinator* coord,
              std::shared_ptr<io::FileIO> io);

  // Reads the table's progress from the coordinator (the start when none: initial_offset).
  Status Load();
  // Stages the rows past the cursor, a page at a time, each page registered with its cursor;
  // and when due, re-reads the last two lookbacks for late commits. Returns rows staged.
  Result<int64_t> Poll(pg::Connection& conn);
  // True once a page found the table's shape changed (Poll stops staging; the caller starts
  // the pipeline again); `shape_now` is the new shape.
  bool shape_changed() const { return !shape_now_.empty() || shape_gone_; }
  const std::string& shape_now() const { return shape_now_; }
  const std::string& shape() const { return table_.shape; }
  // When the next poll is due: now when the last one stopped at max_pages.
  Clock::MonoTime next_due() const { return next_due_; }
  const std::string& name() const { return table_.name; }
  const Progress& progress() const { return progress_; }

 private:
  struct Page {
    std::vector<stage::StagedChange> changes;
    std::vector<uint64_t> digests;
    Position last;   // position of the last row read (the page's end)
    bool full = false;
  };
  // Rows after `after` (and at most `upto`, when set), one page.
  // `extra`: a further SQL condition on the rows (alias q), generated query only.
  Result<Page> ReadPage(pg::Connection& conn, const Position& after,
                        const std::optional<Position>& upto, Lsn lsn, int limit,
                        const std::string& extra = "");
  // The next page after `after`: ReadPage, with a custom query's page grown until it holds a
  // row past `after` or the query has no more.
  Result<Page> ReadNext(pg::Connection& conn, const Position& after,
                        const std::optional<Position>& upto, Lsn lsn,
                        const std::string& extra = "");
  Result<Lsn> CurrentLsn(pg::Connection& conn);
  // After a page was read: whether the table still has the shape it was described with (the
  // page may be staged). Sets shape_now_ otherwise.
  Result<bool> ShapeHolds(pg::Connection& conn);
  // Stages `changes` and registers them with `next` as the table's progress.
  Status Stage(const std::vector<stage::StagedChange>& changes, const Progress& next);
  Result<int64_t> Sweep(pg::Connection& conn, int64_t now_ms);
  // The re-read after a copy (Progress::after_copy) once it can be done; rows staged.
  Result<int64_t> AfterCopy(pg::Connection& conn, int64_t now_ms);
  void Remember(const std::vector<uint64_t>& digests, int64_t now_ms);
  Result<int> Compare(const Position& a, const Position& b) const;
  Position PositionOf(const std::vector<std::optional<std::string>>& row) const;

  PolledTable table_;
  PollerOptions o_;
  coord::Coordinator* coord_;
  std::shared_ptr<io::FileIO> io_;
  Clock* clock_;
  Progress progress_;
  Clock::MonoTime next_due_{};
  std::string shape_now_;
  bool shape_gone_ = false;
  int64_t seq_ = 0;
  // Digests of the row images staged within the re-read window, with when (Unix ms).
  std::unordered_set<uint64_t> seen_;
  std::deque<std::pair<int64_t, uint64_t>> seen_order_;
};

}  // namespace pg2iceberg::query
