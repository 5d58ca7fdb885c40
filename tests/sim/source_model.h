// The simulated PostgreSQL of the deterministic simulation: a seeded generator of
// transactions on one table, the pgoutput messages logical decoding would send for them, and
// the table's rows after all of them (the model the Iceberg table must equal).
//
// The tables are public.t0, public.t1, … (id int4 primary key, v text, big text); a transaction
// may change several. `big` is sometimes long enough to be TOASTed: an UPDATE that leaves a
// TOASTed value alone sends it as unchanged ('u'), also when the key changes, as PostgreSQL
// does.
//
// Columns are added, dropped and renamed (ALTER TABLE in a transaction of its own, with the
// DDL event trigger's column map unless the seed runs without the trigger): every change that
// follows carries the new shape, announced by a Relation message, and the catalog
// (rediscovery) shows the shape as of what the database has committed so far.
//
// Transactions are inserts, updates (of values and of the key), deletes and truncates, plus
// streamed transactions (proto v2) whose segments interleave with other transactions'
// commits, with subtransactions that abort and whole transactions that abort. As PostgreSQL's
// locks would have it, a streamed transaction touches only keys it inserted itself, and no
// truncate runs while one is open.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "base/types.h"
#include "pg/pgoutput.h"
#include "stage/staged_file.h"

namespace pg2iceberg::sim {

inline constexpr uint32_t kFirstOid = 16384;
// Table `i`: "public.t<i>", oid kFirstOid + i.
std::string TableName(int i);

struct SimRow {
  std::optional<std::string> v;
  std::optional<std::string> big;
  bool toasted = false;  // `big` is stored out of line: unchanged in an UPDATE, it is not sent
  std::map<int, std::optional<std::string>> extra;  // added columns' values, by attnum
  bool operator==(const SimRow&) const = default;
};

// A table's columns after id (1), v (2) and big (3): added text columns (attnum, name).
struct Shape {
  std::vector<std::pair<int, std::string>> extra;
  bool operator==(const Shape&) const = default;
};
using Model = std::map<int32_t, SimRow>;

// What the source sends in one go: a whole transaction (Begin … Commit), one segment of a
// streamed transaction (Stream Start … Stop), or its Stream Commit / Stream Abort.
struct Unit {
  std::vector<pg::Message> messages;
  std::vector<Lsn> lsns;  // each message's WAL position
  // Per message: the shapes (table, version) its rows are in, whose Relation messages must
  // have been sent before it in the session.
  std::vector<std::vector<std::pair<int, int>>> shapes;
  int txn = 0;            // index into SourceModel::txns
};

struct TxnInfo {
  bool aborted = false;
  // The end of its commit (or abort) record: once the slot confirmed past it, it is not sent
  // again.
  Lsn end;
};

struct SourceOptions {
  int tables = 1;
  int transactions = 40;
  int key_space = 40;          // ids of ordinary transactions: [0, key_space)
  double streamed = 0.15;      // chance that a transaction is streamed
  double truncate = 0.03;      // chance that an ordinary transaction truncates first
  double ddl = 0.0;            // chance that an ordinary transaction alters a table's columns
  int initial_rows = 0;        // per table, before the slot (copied by the initial snapshot)
  bool event_trigger = true;   // DDL sends the column map (pg2iceberg.columns)
};

class SourceModel {
 public:
  SourceModel(std::mt19937_64* rng, const SourceOptions& options);

  const std::vector<Unit>& units() const { return units_; }
  const std::vector<TxnInfo>& txns() const { return txns_; }
  // Each table after every committed transaction, and its columns then.
  const std::vector<Model>& final_rows() const { return model_; }
  const Shape& final_shape(int table) const { return versions_[static_cast<size_t>(table)].back(); }
  int tables() const { return options_.tables; }
  // Every table as committed once the first `units` units are written (the rows an initial
  // copy reads with a snapshot taken then).
  const std::vector<Model>& StateAt(size_t units) const;
  // The LSN a snapshot taken then is exact at: every transaction of the first `units` units
  // committed before it, every later one at or after it.
  Lsn SnapshotLsn(size_t units) const {
    return units < units_.size() ? units_[units].lsns.front() : Lsn(next_lsn_);
  }

  // Table `i`'s shape as discovery reports it once the first `units` units are written.
  stage::StagedRelation Discover(int i, size_t units) const;
  // Table `i`'s Relation message in shape `version`.
  pg::RelationMsg RelationMessage(int i, int version, Xid stream_xid) const;
  // The messages, one line each, for reading a failing seed.
  std::string Describe() const;
  // The table (index) a row change is of; -1 for other messages (and for a TRUNCATE, which
  // names tables in relation_ids).
  static int TableOf(const pg::Message& m);

 private:
  struct Streamed;
  void Ordinary();
  void StartStreamed();
  // One more segment, subtransaction abort, or the end of the open streamed transaction.
  void ContinueStreamed();
  // Appends a unit with fresh LSNs; returns the LSN of its last message.
  Lsn Emit(Unit unit);
  // One change to table `table`'s `rows` (ids from `fresh` when `own_keys`, else
  // [0, key_space)), as messages carrying `xid` (invalid outside a stream).
  void RandomChange(int table, Model& rows, bool own_keys, Xid xid, Unit* out);
  // ALTER TABLE on a random table, applied to the model; appended to `out`.
  void RandomDdl(Unit* out);
  SimRow RandomRow(const Shape& shape);
  pg::Tuple NewTuple(int table, int32_t id, const SimRow& row, bool toast_unchanged) const;
  pg::Tuple KeyTuple(int table, int32_t id) const;
  void Add(Unit* unit, pg::Message m, std::vector<std::pair<int, int>> shapes = {}) const;
  int Version(int table) const { return static_cast<int>(versions_[static_cast<size_t>(table)].size()) - 1; }
  const Shape& Current(int table) const { return versions_[static_cast<size_t>(table)].back(); }
  int32_t FreeId(const Model& rows, bool own_keys);
  std::string Text(size_t len);

  std::mt19937_64* rng_;
  SourceOptions options_;
  std::vector<Model> model_;
  // Per table: its shapes in WAL order (version = index), and the unit that committed each
  // version after the first.
  std::vector<std::vector<Shape>> versions_;
  std::vector<std::vector<size_t>> version_unit_;
  // The tables after each commit: (units written when it is visible, the tables then).
  std::vector<std::pair<size_t, std::vector<Model>>> states_;
  std::vector<Unit> units_;
  std::vector<TxnInfo> txns_;
  uint64_t next_lsn_ = 0x1000000;
  uint32_t next_xid_ = 1000;
  int32_t next_own_id_ = 1000;
  int next_attnum_ = 0;  // added columns get 4, 5, …; renames take fresh names too
  int64_t next_text_ = 0;
  struct Streamed {
    int txn = 0;
    Xid xid;
    std::vector<Model> rows;          // the transaction's own keys as it sees them, per table
    std::vector<Model> at_sub_start;  // before the open subtransaction
    std::optional<Xid> sub;  // the open subtransaction
    bool first_segment = true;
  };
  std::optional<Streamed> open_;
};

}  // namespace pg2iceberg::sim
