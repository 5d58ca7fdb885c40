// The WAL writer fed scripted pgoutput messages (no server): streamed transactions larger than
// spill_bytes go to spilled staged files before they commit; subtransaction and whole aborts
// remove exactly their rows, from memory and from those files; at Stream Commit the files are
// registered in commit order among the other transactions.
#include "stage/wal_writer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <optional>
#include <set>

#include "base/clock.h"
#include "base/metrics.h"
#include "coord/memory_coordinator.h"
#include "io/memory_file_io.h"

namespace pg2iceberg::stage {
namespace {

using namespace std::chrono_literals;

constexpr uint32_t kRelId = 16384;
constexpr char kStaging[] = "mem://wh/_staging";
// The memory of one buffered row below (id, a 36-byte pad), so a spill every 10 rows.
int64_t RowBytes() {
  StagedChange c;
  c.change.values = {Value(int32_t{1}), Value(std::string(36, '.'))};
  return MemoryBytes(c);
}

class ScriptedSource final : public MessageSource {
 public:
  ScriptedSource(std::deque<pg::Message>* script, std::vector<Lsn>* statuses)
      : script_(script), statuses_(statuses) {}
  Result<std::optional<pg::ReplicationStream::Received>> Next(std::chrono::milliseconds) override {
    if (script_->empty()) return std::optional<pg::ReplicationStream::Received>();
    pg::ReplicationStream::Received r{Lsn(++pos_), std::move(script_->front())};
    script_->pop_front();
    return std::optional<pg::ReplicationStream::Received>(std::move(r));
  }
  void Confirm(Lsn lsn) override { confirmed_ = std::max(confirmed_, lsn); }
  Status SendStatus() override {
    statuses_->push_back(confirmed_);
    return Status::Ok();
  }
  Lsn confirmed() const override { return confirmed_; }

 private:
  std::deque<pg::Message>* script_;
  std::vector<Lsn>* statuses_;  // the confirmed position of every status sent
  uint64_t pos_ = 0;
  Lsn confirmed_;
};

StagedRelation Relation() {
  StagedRelation rel;
  rel.table = "public.t";
  rel.columns = {{"id", 23, -1, Type{TypeId::kInt}, false, 1},
                 {"pad", 25, -1, Type{TypeId::kString}, true, 2}};
  rel.key = {0};
  return rel;
}

// One row as read back from the coordinator's log, in offset order.
struct Row {
  int32_t id = 0;
  Lsn lsn;
  Xid xid;
  int64_t seq = 0;
  bool operator==(const Row&) const = default;
};

// public.t's Relation message with these columns after the key `id`.
pg::RelationMsg RelationMessage(const std::vector<std::string>& columns = {"pad"}) {
  pg::RelationMsg rel;
  rel.relation_id = RelationId(kRelId);
  rel.nspname = "public";
  rel.relname = "t";
  rel.columns = {{true, "id", 23, -1}};
  for (const auto& c : columns) rel.columns.push_back({false, c, 25, -1});
  return rel;
}

class WalWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MakeWriter(Relation());
    script_.push_back(RelationMessage());
  }

  // A writer that starts with `start` as the table's shape (discovery at start).
  void MakeWriter(const StagedRelation& start) {
    WalWriterOptions o;
    o.slot = "s";
    o.staging_uri = kStaging;
    o.flush_rows = 1'000'000'000;  // flush only when the test says so
    o.flush_bytes = int64_t{1} << 40;
    o.spill_bytes = 10 * RowBytes();
    o.clock = &clock_;
    o.orphan_grace = std::chrono::hours(1);
    o.markers_table = markers_table_;
    o.skip_ops = skip_ops_;
    o.before_images = before_images_;
    o.pull = pull_;
    std::map<std::string, StagedRelation> rels{{"public.t", start}};
    writer_ = std::make_unique<WalWriter>(
        std::make_unique<ScriptedSource>(&script_, &statuses_), &coord_, io_, std::move(rels),
        [this](const std::string& t) -> Result<StagedRelation> {
          if (t != "public.t") return FailedPrecondition("unexpected rediscovery of " + t);
          return catalog_;
        },
        o);
  }

  static pg::InsertMsg Insert(int32_t id, Xid stream_xid = Xid()) {
    pg::InsertMsg m;
    m.xid = stream_xid;
    m.relation_id = RelationId(kRelId);
    std::string pad = "pad-" + std::to_string(100000 + id);
    pad.resize(36, '.');
    m.new_tuple = {{pg::TupleValue::Kind::kText, std::to_string(id)},
                   {pg::TupleValue::Kind::kText, pad}};
    return m;
  }
  void Plain(uint32_t xid, std::vector<int32_t> ids, uint64_t commit_lsn) {
    script_.push_back(pg::BeginMsg{Lsn(commit_lsn), {}, Xid(xid)});
    for (int32_t id : ids) script_.push_back(Insert(id));
    script_.push_back(pg::CommitMsg{0, Lsn(commit_lsn), Lsn(commit_lsn + 8), {}});
  }
  // One Stream Start … Stop block of top-level `xid`; each row is (id, (sub)xid).
  void Segment(uint32_t xid, bool first, const std::vector<std::pair<int32_t, uint32_t>>& rows) {
    script_.push_back(pg::StreamStartMsg{Xid(xid), first});
    for (const auto& [id, sub] : rows) script_.push_back(Insert(id, Xid(sub)));
    script_.push_back(pg::StreamStopMsg{});
  }
  void StreamCommit(uint32_t xid, uint64_t commit_lsn) {
    script_.push_back(pg::StreamCommitMsg{Xid(xid), 0, Lsn(commit_lsn), Lsn(commit_lsn + 8), {}});
  }
  void Run() {
    while (!script_.empty()) ASSERT_TRUE(writer_->Step(1s).ok());
  }
  static std::vector<std::pair<int32_t, uint32_t>> Ids(int32_t from, int32_t to, uint32_t xid) {
    std::vector<std::pair<int32_t, uint32_t>> out;
    for (int32_t i = from; i < to; ++i) out.emplace_back(i, xid);
    return out;
  }

  // Staged objects under the staging directory, by URI.
  std::set<std::string> Objects() {
    std::set<std::string> out;
    auto list = io_->List(kStaging);
    EXPECT_TRUE(list.ok());
    if (list.ok()) for (const auto& e : *list) out.insert(e.uri);
    return out;
  }
  std::set<Xid> XidsIn(const std::string& uri) {
    std::set<Xid> out;
    auto d = DecodeStagedFile(io_, uri);
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    if (d.ok()) for (const auto& c : d->changes) out.insert(c.xid);
    return out;
  }

  // Every registered row in offset order, LSN 0 replaced by the entry's as the materializer does.
  std::vector<Row> Registered() {
    std::vector<Row> out;
    auto entries = coord_.ReadLog("public.t", -1, 1'000'000);
    EXPECT_TRUE(entries.ok());
    if (!entries.ok()) return out;
    int64_t next = 0;
    for (const auto& e : *entries) {
      EXPECT_EQ(e.start_offset, next);
      next = e.end_offset;
      auto d = DecodeStagedFile(io_, e.uri);
      EXPECT_TRUE(d.ok()) << d.status().ToString();
      if (!d.ok()) continue;
      EXPECT_EQ(static_cast<int64_t>(d->changes.size()), e.rows);
      for (const auto& c : d->changes) {
        Lsn lsn = c.change.commit_lsn.valid() ? c.change.commit_lsn : e.max_commit_lsn;
        EXPECT_TRUE(lsn >= e.min_commit_lsn && lsn <= e.max_commit_lsn) << e.uri;
        out.push_back(Row{std::get<int32_t>(c.change.values[0]), lsn, c.xid, c.change.seq});
      }
    }
    return out;
  }

  // The relation as the catalog reports it now (the WAL writer's rediscovery).
  StagedRelation catalog_ = Relation();
  std::string markers_table_;  // WalWriterOptions::markers_table of the next MakeWriter
  std::map<std::string, std::set<fold::Op>> skip_ops_;  // tables[].capture_operations
  std::set<std::string> before_images_;  // WalWriterOptions::before_images of the next MakeWriter
  FlushRequests* pull_ = nullptr;  // WalWriterOptions::pull of the next MakeWriter
  FakeClock clock_;
  std::shared_ptr<io::MemoryFileIO> io_ = std::make_shared<io::MemoryFileIO>(&clock_);
  coord::MemoryCoordinator coord_{&clock_};
  std::deque<pg::Message> script_;
  std::vector<Lsn> statuses_;  // sent by the writer, with the position confirmed in each
  std::unique_ptr<WalWriter> writer_;
};

// Column identity (docs/schema-changes.md): the relation each staged file carries names every
// column's attnum as of that point of the WAL.
class WalWriterColumnsTest : public WalWriterTest {
 protected:
  // One transaction: optionally the event trigger's column map, then a Relation message with
  // `names`, then one insert; returns the relation of the staged file it lands in.
  StagedRelation Alter(std::vector<std::string> names, std::optional<std::string> ddl_message) {
    script_.push_back(pg::BeginMsg{Lsn(next_lsn_), {}, Xid(700)});
    if (ddl_message) {
      script_.push_back(pg::LogicalMessageMsg{Xid(), true, Lsn(next_lsn_), kColumnsMessagePrefix, *ddl_message});
    }
    pg::RelationMsg rel;
    rel.relation_id = RelationId(kRelId);
    rel.nspname = "public";
    rel.relname = "t";
    rel.columns = {{true, names[0], 23, -1}, {false, names[1], 25, -1}};
    script_.push_back(rel);
    script_.push_back(Insert(1));
    script_.push_back(pg::CommitMsg{0, Lsn(next_lsn_), Lsn(next_lsn_ + 8), {}});
    next_lsn_ += 100;
    Run();
    EXPECT_TRUE(writer_->Flush().ok());
    auto entries = coord_.ReadLog("public.t", -1, 1'000'000);
    EXPECT_TRUE(entries.ok() && !entries->empty());
    if (!entries.ok() || entries->empty()) return {};
    auto d = DecodeStagedFile(io_, entries->back().uri);
    EXPECT_TRUE(d.ok());
    return d.ok() ? d->relation : StagedRelation{};
  }
  static std::vector<std::pair<std::string, int>> Columns(const StagedRelation& r) {
    std::vector<std::pair<std::string, int>> out;
    for (const auto& c : r.columns) out.emplace_back(c.name, c.attnum);
    return out;
  }
  uint64_t next_lsn_ = 1000;
};

TEST_F(WalWriterColumnsTest, EventTriggerMessageGivesAttnumsInWalOrder) {
  // Renamed pad → note, and the catalog has moved on since (note dropped, pad re-added as 3):
  // the message, not the catalog, says which column the stream's "note" is.
  catalog_.columns[1].attnum = 3;
  EXPECT_EQ(Columns(Alter({"id", "note"}, R"({"schema":"public","table":"t","columns":[[1,"id"],[2,"note"]]})")),
            (std::vector<std::pair<std::string, int>>{{"id", 1}, {"note", 2}}));
  // Dropped and added again under the same name and type: the stream looks unchanged.
  EXPECT_EQ(Columns(Alter({"id", "note"}, R"({"schema":"public","table":"t","columns":[[1,"id"],[4,"note"]]})")),
            (std::vector<std::pair<std::string, int>>{{"id", 1}, {"note", 4}}));
  // Another table's map, and a malformed one, change nothing.
  EXPECT_EQ(Columns(Alter({"id", "note"}, R"({"schema":"public","table":"u","columns":[[1,"id"],[9,"note"]]})")),
            (std::vector<std::pair<std::string, int>>{{"id", 1}, {"note", 4}}));
  EXPECT_EQ(Columns(Alter({"id", "note"}, "{not json")),
            (std::vector<std::pair<std::string, int>>{{"id", 1}, {"note", 4}}));
}

TEST_F(WalWriterColumnsTest, WithoutTheTriggerTheCatalogTellsWhenItAgrees) {
  // Dropped and added again under the same name (no message): the catalog's attnum.
  catalog_.columns[1].attnum = 3;
  EXPECT_EQ(Columns(Alter({"id", "pad"}, std::nullopt)),
            (std::vector<std::pair<std::string, int>>{{"id", 1}, {"pad", 3}}));
  // Renamed: positions agree, the stream's names win.
  EXPECT_EQ(Columns(Alter({"id", "note"}, std::nullopt)),
            (std::vector<std::pair<std::string, int>>{{"id", 1}, {"note", 3}}));
  // The catalog is further on (renamed again): the stream's shape stands, nothing guessed.
  catalog_.columns[1].name = "later";
  catalog_.columns[1].attnum = 5;
  EXPECT_EQ(Columns(Alter({"id", "note"}, std::nullopt)),
            (std::vector<std::pair<std::string, int>>{{"id", 1}, {"note", 3}}));
}

// The trigger's column maps are recorded with the flush that passes their DDL, and a new
// process reads them back: PostgreSQL does not send the DDL's message again once it is
// confirmed, and the catalog may be further on (here: the column dropped and another added at
// its place), so without them the stream's column would take the other column's attnum and
// its values would land in that column. Found by the simulation (docs/simulation.md).
TEST_F(WalWriterColumnsTest, TheTriggersColumnMapsSurviveARestart) {
  EXPECT_EQ(Columns(Alter({"id", "note"}, R"({"schema":"public","table":"t","columns":[[1,"id"],[2,"note"]]})")),
            (std::vector<std::pair<std::string, int>>{{"id", 1}, {"note", 2}}));
  catalog_.columns[1].name = "other";
  catalog_.columns[1].attnum = 3;
  MakeWriter(catalog_);  // a new process: its shapes from the catalog
  EXPECT_EQ(Columns(Alter({"id", "note"}, std::nullopt)),
            (std::vector<std::pair<std::string, int>>{{"id", 1}, {"note", 2}}));
  // A map that does not parse only costs exactness.
  ASSERT_TRUE(coord_.SetMeta(kColumnsMetaKey, "{not json").ok());
  MakeWriter(catalog_);
  EXPECT_EQ(Columns(Alter({"id", "other"}, std::nullopt)),
            (std::vector<std::pair<std::string, int>>{{"id", 1}, {"other", 3}}));
}

// The walsender may bring a transaction before other sessions see it (its commit waits for
// synchronous replication): the catalog is read about a changed table only once the transaction
// that changed it is visible, and not waited for inside a streamed (uncommitted) transaction.
TEST_F(WalWriterColumnsTest, TheCatalogIsReadOnlyOnceTheTransactionIsVisible) {
  std::vector<uint32_t> awaited;
  bool visible = true;
  writer_->set_await_visible([&](Xid xid) -> Status {
    awaited.push_back(xid.value());
    return visible ? Status::Ok() : Unavailable("not visible yet");
  });
  catalog_.columns[1].attnum = 3;
  EXPECT_EQ(Columns(Alter({"id", "note"}, std::nullopt)),
            (std::vector<std::pair<std::string, int>>{{"id", 1}, {"note", 3}}));
  EXPECT_EQ(awaited, std::vector<uint32_t>{700});
  // Not visible: the message is not taken, and the error (transient) says why.
  visible = false;
  script_.push_back(pg::BeginMsg{Lsn(0x900), {}, Xid(701)});
  script_.push_back(RelationMessage({"later"}));
  Status s = Status::Ok();
  while (s.ok() && !script_.empty()) s = writer_->Step(1s);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_EQ(awaited.back(), 701u);
  // Inside a stream block the transaction has not committed: nothing to wait for.
  script_.clear();
  MakeWriter(catalog_);
  awaited.clear();
  writer_->set_await_visible([&](Xid xid) -> Status {
    awaited.push_back(xid.value());
    return Status::Ok();
  });
  script_.push_back(pg::StreamStartMsg{Xid(900), true});
  pg::RelationMsg rel = RelationMessage({"later"});
  rel.xid = Xid(900);
  script_.push_back(rel);
  script_.push_back(pg::StreamStopMsg{});
  Run();
  EXPECT_TRUE(awaited.empty());
}

// Changes to existing rows the stream does not carry (a table rewrite, a column added with a
// default existing rows take) are reported once per table when, and only if, their transaction
// commits, before the commit is confirmed.
// `status --wait` emits a transaction of nothing ours and waits for the slot to pass it: with
// nothing buffered, the writer reports it within half a second, not at the next
// flush_interval (10 s here); with nothing new it stays quiet until then.
TEST_F(WalWriterTest, AnIdleWriterReportsWhatItConfirmedWithinHalfASecond) {
  Plain(100, {1, 2}, 100);
  Run();
  clock_.Advance(10s);
  ASSERT_TRUE(writer_->Step(0ms).ok());  // flush_interval: staged, confirmed, reported
  ASSERT_FALSE(statuses_.empty());
  EXPECT_EQ(statuses_.back(), Lsn(108));
  const size_t after_flush = statuses_.size();

  Plain(101, {}, 200);  // nothing of ours: confirmed at its commit
  Run();
  clock_.Advance(100ms);
  ASSERT_TRUE(writer_->Step(0ms).ok());
  EXPECT_EQ(statuses_.size(), after_flush) << "reported at once: a status per transaction";
  clock_.Advance(400ms);
  ASSERT_TRUE(writer_->Step(0ms).ok());
  ASSERT_EQ(statuses_.size(), after_flush + 1);
  EXPECT_EQ(statuses_.back(), Lsn(208));

  clock_.Advance(2s);  // nothing new: no status before flush_interval
  ASSERT_TRUE(writer_->Step(0ms).ok());
  EXPECT_EQ(statuses_.size(), after_flush + 1);
  clock_.Advance(8s);  // the idle keepalive
  ASSERT_TRUE(writer_->Step(0ms).ok());
  EXPECT_EQ(statuses_.size(), after_flush + 2);
}

// In `run` the materializer asks the writer to stage what it holds when a batch starts: the
// request is served at the writer's next step, not at its flush_interval (10 s here).
TEST_F(WalWriterTest, AMaterializersFlushRequestIsServedAtOnce) {
  FlushRequests pull;
  pull_ = &pull;
  MakeWriter(Relation());
  Plain(100, {1, 2}, 100);
  Run();
  EXPECT_EQ(pull.ready_rows(), 2);
  EXPECT_TRUE(Registered().empty());
  const uint64_t asked = pull.Request();
  ASSERT_TRUE(writer_->Step(0ms).ok());
  EXPECT_EQ(pull.served(), asked);
  EXPECT_EQ(pull.flushes(), 1u);
  EXPECT_EQ(pull.ready_rows(), 0);
  EXPECT_EQ(Registered().size(), 2u);
  // With nothing held, a request is served without a flush.
  const uint64_t again = pull.Request();
  ASSERT_TRUE(writer_->Step(0ms).ok());
  EXPECT_EQ(pull.served(), again);
  EXPECT_EQ(pull.flushes(), 1u);
}

TEST_F(WalWriterTest, RewritesAreReportedAtCommitOnlyForCommittedTransactions) {
  std::vector<std::string> reported;
  writer_->set_on_rewrite([&](const std::string& table, const std::string& why) -> Status {
    reported.push_back(table + ": " + why + " @" + writer_->confirmed().ToString());
    return Status::Ok();
  });
  auto message = [](Xid xid, const char* prefix, const std::string& json) {
    return pg::LogicalMessageMsg{xid, true, Lsn(1), prefix, json};
  };
  const std::string rewrite_t = R"({"schema":"public","table":"t","oid":1,"reason":2})";
  // A plain transaction: the trigger's messages (twice, as with two pipelines' triggers) and
  // a column map naming a column added with a default.
  script_.push_back(pg::BeginMsg{Lsn(0x100), {}, Xid(10)});
  script_.push_back(message(Xid(), kRewriteMessagePrefix, rewrite_t));
  script_.push_back(message(Xid(), kRewriteMessagePrefix, rewrite_t));
  script_.push_back(message(Xid(), kRewriteMessagePrefix,
                            R"({"schema":"public","table":"other","oid":2,"reason":4})"));
  script_.push_back(pg::CommitMsg{0, Lsn(0x100), Lsn(0x108), {}});
  script_.push_back(pg::BeginMsg{Lsn(0x200), {}, Xid(11)});
  script_.push_back(message(Xid(), kColumnsMessagePrefix,
                            R"({"schema":"public","table":"t","oid":1,"columns":[[1,"id"],)"
                            R"([2,"pad"],[3,"flag"]],"defaulted":["flag"]})"));
  script_.push_back(pg::CommitMsg{0, Lsn(0x200), Lsn(0x208), {}});
  // A column map without a defaulted column reports nothing.
  script_.push_back(pg::BeginMsg{Lsn(0x300), {}, Xid(12)});
  script_.push_back(message(Xid(), kColumnsMessagePrefix,
                            R"({"schema":"public","table":"t","oid":1,"columns":[[1,"id"]],"defaulted":[]})"));
  script_.push_back(pg::CommitMsg{0, Lsn(0x300), Lsn(0x308), {}});
  Run();
  EXPECT_EQ(reported, (std::vector<std::string>{
                          "public.t: table rewritten by ALTER TABLE: a column added with a "
                          "volatile default @0/0",
                          "public.t: column(s) flag added with a default existing rows take @0/108"}));
  // Streamed: a whole aborted transaction reports nothing. pgoutput sends a streamed
  // transaction's messages under its top-level xid, so one from a subtransaction rolled back
  // is still reported when the transaction commits (a copy more than needed, never one less).
  reported.clear();
  script_.push_back(pg::StreamStartMsg{Xid(30), true});
  script_.push_back(message(Xid(30), kRewriteMessagePrefix, rewrite_t));
  script_.push_back(pg::StreamStopMsg{});
  script_.push_back(pg::StreamAbortMsg{Xid(30), Xid(30)});
  Run();
  EXPECT_TRUE(reported.empty());
  script_.push_back(pg::StreamStartMsg{Xid(40), true});
  script_.push_back(message(Xid(40), kRewriteMessagePrefix,
                            R"({"schema":"public","table":"t","oid":1,"reason":1})"));
  script_.push_back(pg::StreamStopMsg{});
  script_.push_back(pg::StreamAbortMsg{Xid(40), Xid(41)});
  StreamCommit(40, 0x500);
  Run();
  EXPECT_EQ(reported, (std::vector<std::string>{
                          "public.t: table rewritten by ALTER TABLE: persistence changed (SET "
                          "LOGGED/UNLOGGED) @0/308"}));
  // A failure to record it fails the step: the commit is not confirmed past it.
  writer_->set_on_rewrite([](const std::string&, const std::string&) -> Status {
    return Unavailable("coordinator down");
  });
  script_.push_back(pg::BeginMsg{Lsn(0x600), {}, Xid(50)});
  script_.push_back(message(Xid(), kRewriteMessagePrefix, rewrite_t));
  script_.push_back(pg::CommitMsg{0, Lsn(0x600), Lsn(0x608), {}});
  Status s = Status::Ok();
  while (!script_.empty() && s.ok()) s = writer_->Step(1s);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_EQ(writer_->confirmed(), Lsn(0x508));
}

TEST_F(WalWriterColumnsTest, ColumnsAddedSinceThisPointOfTheWalAreMatchedByName) {
  // Started after DDL that the stream has not reached yet (a column added while stopped): the
  // stream's older shape is read by name against the catalog, not refused.
  catalog_.columns.push_back(StagedColumn{"late", 25, -1, Type{TypeId::kString}, true, 5});
  MakeWriter(catalog_);
  EXPECT_EQ(Columns(Alter({"id", "pad"}, std::nullopt)),
            (std::vector<std::pair<std::string, int>>{{"id", 1}, {"pad", 2}}));
  // A column the catalog no longer has (dropped since) is matched by name downstream.
  catalog_.columns.resize(1);
  MakeWriter(catalog_);
  EXPECT_EQ(Columns(Alter({"id", "pad"}, std::nullopt)),
            (std::vector<std::pair<std::string, int>>{{"id", 1}, {"pad", 0}}));
}

TEST_F(WalWriterColumnsTest, WithoutTheTriggerANewColumnWithADefaultIsReported) {
  std::vector<std::string> reported;
  writer_->set_on_rewrite([&](const std::string& table, const std::string& why) -> Status {
    reported.push_back(table + ": " + why);
    return Status::Ok();
  });
  std::vector<int> asked;
  writer_->set_missing_defaults([&](const std::string&, uint32_t, const std::vector<int>& attnums)
                                    -> Result<std::vector<std::string>> {
    asked = attnums;
    return std::vector<std::string>{"flag"};
  });
  Alter({"id", "pad"}, std::nullopt);  // the stream's first Relation: nothing new
  EXPECT_TRUE(asked.empty());
  // ALTER TABLE t ADD COLUMN flag text DEFAULT 'x' (no trigger), then a change.
  catalog_.columns.push_back(StagedColumn{"flag", 25, -1, Type{TypeId::kString}, true, 3});
  script_.push_back(pg::BeginMsg{Lsn(0x900), {}, Xid(800)});
  script_.push_back(RelationMessage({"pad", "flag"}));
  pg::InsertMsg ins = Insert(2);
  ins.new_tuple.push_back({pg::TupleValue::Kind::kText, "x"});
  script_.push_back(ins);
  script_.push_back(pg::CommitMsg{0, Lsn(0x900), Lsn(0x908), {}});
  Run();
  EXPECT_EQ(asked, std::vector<int>{3});
  EXPECT_EQ(reported, (std::vector<std::string>{
                          "public.t: column(s) flag added with a default existing rows take "
                          "(seen in the catalog)"}));
}

// Markers (rows inserted into the markers table) are reported when their transaction commits,
// once everything committed up to it is staged, before it is confirmed; one inserted by an
// aborted subtransaction, or by a transaction that aborted, is no marker.
TEST_F(WalWriterTest, MarkersAreReportedAtCommitOnceEverythingUpToThemIsStaged) {
  markers_table_ = "ops.markers";
  script_.clear();
  MakeWriter(Relation());
  std::vector<std::string> reported;
  writer_->set_on_marker([&](const std::string& id, Lsn lsn) -> Status {
    // Everything up to and including the marker's transaction is in the log already.
    auto staged = coord_.NextOffset("public.t");
    reported.push_back(id + "@" + lsn.ToString() + " staged=" +
                       std::to_string(staged.ok() ? *staged : -1));
    return Status::Ok();
  });
  pg::RelationMsg t;
  t.relation_id = RelationId(kRelId);
  t.nspname = "public";
  t.relname = "t";
  t.columns = {{true, "id", 23, -1}, {false, "pad", 25, -1}};
  pg::RelationMsg m;
  m.relation_id = RelationId(kRelId + 1);
  m.nspname = "ops";
  m.relname = "markers";
  m.columns = {{false, "created_at", 1184, -1}, {true, "id", 25, -1}};
  auto marker = [&](const std::string& id, Xid stream_xid = Xid()) {
    pg::InsertMsg ins;
    ins.xid = stream_xid;
    ins.relation_id = RelationId(kRelId + 1);
    ins.new_tuple = {{pg::TupleValue::Kind::kText, "2026-01-01 00:00:00+00"},
                     {pg::TupleValue::Kind::kText, id}};
    return ins;
  };
  script_.push_back(pg::BeginMsg{Lsn(0x100), {}, Xid(500)});
  script_.push_back(t);
  script_.push_back(Insert(1));
  script_.push_back(Insert(2));
  script_.push_back(pg::CommitMsg{0, Lsn(0x100), Lsn(0x108), {}});
  script_.push_back(pg::BeginMsg{Lsn(0x200), {}, Xid(501)});
  script_.push_back(Insert(3));
  script_.push_back(m);
  script_.push_back(marker("first"));
  script_.push_back(pg::CommitMsg{0, Lsn(0x200), Lsn(0x208), {}});
  Run();
  EXPECT_EQ(reported, std::vector<std::string>{"first@0/200 staged=3"});
  // Streamed: a marker of an aborted subtransaction, then one of the transaction itself.
  script_.push_back(pg::StreamStartMsg{Xid(600), true});
  script_.push_back(Insert(4, Xid(600)));
  script_.push_back(marker("aborted", Xid(601)));
  script_.push_back(marker("second", Xid(600)));
  script_.push_back(pg::StreamStopMsg{});
  script_.push_back(pg::StreamAbortMsg{Xid(600), Xid(601)});
  // A whole transaction that aborts.
  script_.push_back(pg::StreamStartMsg{Xid(700), true});
  script_.push_back(marker("never", Xid(700)));
  script_.push_back(pg::StreamStopMsg{});
  script_.push_back(pg::StreamAbortMsg{Xid(700), Xid(700)});
  StreamCommit(600, 0x300);
  Run();
  EXPECT_EQ(reported,
            (std::vector<std::string>{"first@0/200 staged=3", "second@0/300 staged=4"}));
}

// The process ended after a flush's claim and before the slot heard of it: PostgreSQL sends
// the claimed transactions again. Their rows are in the log already and are not staged twice
// (a second copy would be applied on top of later changes); the slot still moves past them.
// Found by the simulation (tests/sim; docs/simulation.md).
TEST_F(WalWriterTest, TransactionsClaimedBeforeARestartAreNotStagedTwice) {
  auto claimed = [this] {
    Plain(500, {1, 2}, 0x100);
    Segment(600, true, Ids(10, 25, 600));  // spilled: more than spill_bytes
    StreamCommit(600, 0x180);
  };
  claimed();
  Run();
  ASSERT_TRUE(writer_->Flush().ok());
  const auto objects_before = Objects();
  // A new process; the slot was never confirmed, so the stream starts before 0x100 again.
  MakeWriter(Relation());
  script_.push_back(RelationMessage());
  claimed();
  Plain(501, {3}, 0x200);
  Run();
  ASSERT_TRUE(writer_->Flush().ok());
  std::vector<int32_t> ids;
  for (const Row& r : Registered()) ids.push_back(r.id);
  std::vector<int32_t> want = {1, 2};
  for (int32_t i = 10; i < 25; ++i) want.push_back(i);
  want.push_back(3);
  EXPECT_EQ(ids, want);
  EXPECT_EQ(writer_->confirmed(), Lsn(0x208));
  // The second copy's spilled files are gone: one new object, txn 501's file.
  EXPECT_EQ(Objects().size(), objects_before.size() + 1);
}

// tables[].capture_operations without delete: deletes of the table are dropped as they arrive
// (counted), everything else is staged as usual.
TEST_F(WalWriterTest, OperationsLeftOutByCaptureOperationsAreNotStaged) {
  skip_ops_ = {{"public.t", {fold::Op::kDelete}}};
  MakeWriter(Relation());
  script_.push_back(pg::BeginMsg{Lsn(0x100), {}, Xid(500)});
  script_.push_back(Insert(1));
  script_.push_back(Insert(2));
  pg::DeleteMsg del;
  del.relation_id = RelationId(kRelId);
  del.old_tuple = {{pg::TupleValue::Kind::kText, "1"}, {pg::TupleValue::Kind::kNull, ""}};
  script_.push_back(del);
  script_.push_back(Insert(3));
  script_.push_back(pg::CommitMsg{0, Lsn(0x100), Lsn(0x108), {}});
  Run();
  ASSERT_TRUE(writer_->Flush().ok());
  std::vector<int32_t> ids;
  for (const Row& r : Registered()) ids.push_back(r.id);
  EXPECT_EQ(ids, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(writer_->confirmed(), Lsn(0x108));
  // Without the setting the delete is staged.
  skip_ops_.clear();
  MakeWriter(Relation());
  script_.push_back(RelationMessage());
  script_.push_back(pg::BeginMsg{Lsn(0x200), {}, Xid(501)});
  script_.push_back(del);
  script_.push_back(pg::CommitMsg{0, Lsn(0x200), Lsn(0x208), {}});
  Run();
  ASSERT_TRUE(writer_->Flush().ok());
  EXPECT_EQ(Registered().size(), 4u);
}

// History tables: an UPDATE's old row and a DELETE's kind of old row are staged with the
// change, as PostgreSQL sent them; without the setting nothing more is staged.
TEST_F(WalWriterTest, OldRowsAreStagedForTablesWhoseHistoryIsKept) {
  auto script = [this](uint64_t lsn) {
    script_.push_back(RelationMessage());
    script_.push_back(pg::BeginMsg{Lsn(lsn), {}, Xid(500)});
    script_.push_back(Insert(1));
    pg::UpdateMsg full;  // REPLICA IDENTITY FULL, the old pad unchanged TOAST
    full.relation_id = RelationId(kRelId);
    full.old_kind = pg::UpdateMsg::OldKind::kOld;
    full.old_tuple = {{pg::TupleValue::Kind::kText, "1"}, {pg::TupleValue::Kind::kUnchangedToast, ""}};
    full.new_tuple = {{pg::TupleValue::Kind::kText, "1"}, {pg::TupleValue::Kind::kText, "new"}};
    script_.push_back(full);
    pg::UpdateMsg plain;  // DEFAULT, key unchanged: no old row
    plain.relation_id = RelationId(kRelId);
    plain.new_tuple = {{pg::TupleValue::Kind::kText, "1"}, {pg::TupleValue::Kind::kText, "newer"}};
    script_.push_back(plain);
    pg::UpdateMsg rekey;  // DEFAULT, key changed: the old key
    rekey.relation_id = RelationId(kRelId);
    rekey.old_kind = pg::UpdateMsg::OldKind::kKey;
    rekey.old_tuple = {{pg::TupleValue::Kind::kText, "1"}, {pg::TupleValue::Kind::kNull, ""}};
    rekey.new_tuple = {{pg::TupleValue::Kind::kText, "2"}, {pg::TupleValue::Kind::kText, "newer"}};
    script_.push_back(rekey);
    pg::DeleteMsg del;
    del.relation_id = RelationId(kRelId);
    del.old_tuple = {{pg::TupleValue::Kind::kText, "2"}, {pg::TupleValue::Kind::kNull, ""}};
    script_.push_back(del);
    script_.push_back(pg::CommitMsg{0, Lsn(lsn), Lsn(lsn + 8), {}});
    Run();
    EXPECT_TRUE(writer_->Flush().ok());
  };
  auto staged = [this] {
    std::vector<BeforeImage> out;
    auto entries = coord_.ReadLog("public.t", -1, 1'000'000);
    EXPECT_TRUE(entries.ok() && !entries->empty());
    if (!entries.ok() || entries->empty()) return out;
    auto d = DecodeStagedFile(io_, entries->back().uri);
    EXPECT_TRUE(d.ok());
    if (d.ok()) for (const auto& c : d->changes) out.push_back(c.before);
    return out;
  };
  before_images_ = {"public.t"};
  MakeWriter(Relation());
  script(0x100);
  using K = BeforeImage::Kind;
  EXPECT_EQ(staged(), (std::vector<BeforeImage>{
                          {},
                          {K::kRow, {Value(int32_t{1}), Value()}, {1}},
                          {},
                          {K::kKey, {Value(int32_t{1}), Value()}, {}},
                          {K::kKey, {}, {}},
                      }));
  before_images_.clear();
  MakeWriter(Relation());
  script(0x200);
  EXPECT_EQ(staged(), std::vector<BeforeImage>(5));
}

TEST_F(WalWriterTest, StreamedTransactionSpillsBeforeCommitAndLandsInCommitOrder) {
  Plain(10, {1, 2, 3}, 0x100);
  Segment(20, true, Ids(100, 155, 20));  // 5 spills of 10 rows, 5 rows left in memory
  Run();
  EXPECT_EQ(writer_->spill_files_written(), 5);
  EXPECT_EQ(writer_->spilled_files_open(), 5);
  EXPECT_EQ(Objects().size(), 5u);  // on disk, but registered nowhere yet
  EXPECT_EQ(*coord_.NextOffset("public.t"), 0);

  Plain(30, {5}, 0x200);  // commits while the streamed one is still open
  Segment(20, false, Ids(155, 162, 20));
  StreamCommit(20, 0x300);
  Plain(40, {7}, 0x400);
  Run();
  EXPECT_EQ(writer_->spilled_files_open(), 0);
  ASSERT_TRUE(writer_->Flush().ok());
  EXPECT_EQ(writer_->confirmed(), Lsn(0x408));
  EXPECT_EQ(writer_->rows_staged(), 3 + 1 + 62 + 1);

  std::vector<Row> want;
  for (int32_t id : {1, 2, 3}) want.push_back({id, Lsn(0x100), Xid(10), id - 1});
  want.push_back({5, Lsn(0x200), Xid(30), 0});
  for (int32_t id = 100; id < 162; ++id) want.push_back({id, Lsn(0x300), Xid(20), id - 100});
  want.push_back({7, Lsn(0x400), Xid(40), 0});
  EXPECT_EQ(Registered(), want);

  // The spilled files are registered as they are (rows with LSN 0), the entry carrying the LSN.
  auto entries = *coord_.ReadLog("public.t", -1, 100);
  int spilled = 0;
  for (const auto& e : entries) {
    if (e.uri.find("/stream-") == std::string::npos) continue;
    ++spilled;
    EXPECT_EQ(e.min_commit_lsn, Lsn(0x300));
    EXPECT_EQ(e.max_commit_lsn, Lsn(0x300));
    EXPECT_FALSE(DecodeStagedFile(io_, e.uri)->changes.front().change.commit_lsn.valid());
  }
  EXPECT_EQ(spilled, 6);  // the 7 rows of the second segment spilled once more at 60 rows
}

TEST_F(WalWriterTest, SubtransactionAbortRemovesExactlyItsRowsIncludingSpilledOnes) {
  std::vector<std::pair<int32_t, uint32_t>> rows = Ids(0, 10, 20);  // file 1: xid 20 only
  for (int32_t i = 10; i < 20; ++i) rows.emplace_back(i, i % 2 ? 21 : 20);  // file 2: 20 and 21
  for (int32_t i = 20; i < 30; ++i) rows.emplace_back(i, 22);  // file 3: 22 only
  for (int32_t i = 30; i < 34; ++i) rows.emplace_back(i, i % 2 ? 21 : 20);  // in memory
  Segment(20, true, rows);
  Run();
  const std::set<std::string> before = Objects();
  ASSERT_EQ(before.size(), 3u);
  std::string only20, mixed, only22;
  for (const auto& uri : before) {
    std::set<Xid> x = XidsIn(uri);
    if (x == std::set<Xid>{Xid(20)}) only20 = uri;
    if (x == std::set<Xid>{Xid(20), Xid(21)}) mixed = uri;
    if (x == std::set<Xid>{Xid(22)}) only22 = uri;
  }
  ASSERT_FALSE(only20.empty() || mixed.empty() || only22.empty());

  script_.push_back(pg::StreamAbortMsg{Xid(20), Xid(21)});
  Run();
  std::set<std::string> after = Objects();
  EXPECT_EQ(after.size(), 3u);
  EXPECT_TRUE(after.contains(only20));  // untouched
  EXPECT_TRUE(after.contains(only22));
  EXPECT_FALSE(after.contains(mixed));  // rewritten under a new name
  std::string rewritten;
  for (const auto& uri : after) {
    if (uri != only20 && uri != only22) rewritten = uri;
  }
  EXPECT_EQ(XidsIn(rewritten), std::set<Xid>{Xid(20)});

  script_.push_back(pg::StreamAbortMsg{Xid(20), Xid(22)});  // a whole file goes
  Run();
  after = Objects();
  EXPECT_EQ(after, (std::set<std::string>{only20, rewritten}));
  EXPECT_EQ(writer_->spilled_files_open(), 2);

  StreamCommit(20, 0x500);
  Run();
  ASSERT_TRUE(writer_->Flush().ok());
  std::vector<Row> want;
  for (int32_t i = 0; i < 34; ++i) {
    const bool sub21 = (i >= 10 && i < 20 && i % 2) || (i >= 30 && i % 2);
    const bool sub22 = i >= 20 && i < 30;
    if (!sub21 && !sub22) want.push_back({i, Lsn(0x500), Xid(20), i});
  }
  EXPECT_EQ(Registered(), want);
  EXPECT_EQ(writer_->rows_staged(), static_cast<int64_t>(want.size()));
}

TEST_F(WalWriterTest, WholeAbortDeletesSpilledFilesAndRegistersNothing) {
  Segment(20, true, Ids(0, 25, 20));
  Run();
  EXPECT_EQ(Objects().size(), 2u);
  script_.push_back(pg::StreamAbortMsg{Xid(20), Xid(20)});
  Plain(30, {1000}, 0x600);
  Run();
  EXPECT_EQ(writer_->spilled_files_open(), 0);
  ASSERT_TRUE(writer_->Flush().ok());
  EXPECT_EQ(Registered(), (std::vector<Row>{{1000, Lsn(0x600), Xid(30), 0}}));
  EXPECT_EQ(Objects().size(), 1u);  // only the plain transaction's file
  EXPECT_EQ(writer_->confirmed(), Lsn(0x608));
}

TEST_F(WalWriterTest, OrphansOlderThanTheGraceAreDeletedNothingElse) {
  // A file of an interrupted flush, one registered, and spilled files of an open transaction.
  ASSERT_TRUE(io_->WriteAll(std::string(kStaging) + "/public.t/orphan.parquet", "x").ok());
  Plain(10, {1}, 0x100);
  Run();
  ASSERT_TRUE(writer_->Flush().ok());
  Segment(20, true, Ids(100, 125, 20));
  Run();
  const size_t before = Objects().size();
  ASSERT_GE(before, 4u);
  // Younger than the grace: kept.
  auto swept = writer_->SweepOrphans();
  ASSERT_TRUE(swept.ok()) << swept.status().ToString();
  EXPECT_EQ(*swept, 0);
  clock_.Advance(std::chrono::hours(2));
  swept = writer_->SweepOrphans();
  ASSERT_TRUE(swept.ok());
  EXPECT_EQ(*swept, 1);
  EXPECT_EQ(Objects().size(), before - 1);
  EXPECT_FALSE(Objects().count(std::string(kStaging) + "/public.t/orphan.parquet"));
  // The open transaction still commits whole.
  StreamCommit(20, 0x300);
  Run();
  ASSERT_TRUE(writer_->Flush().ok());
  EXPECT_EQ(Registered().size(), 26u);
}

TEST_F(WalWriterTest, RestartedStreamDropsWhatWasSpilledBefore) {
  // After a reconnect the server re-sends an open streamed transaction from its first segment.
  Segment(20, true, Ids(0, 25, 20));
  Segment(20, true, Ids(0, 12, 20));
  StreamCommit(20, 0x700);
  Run();
  ASSERT_TRUE(writer_->Flush().ok());
  std::vector<Row> want;
  for (int32_t i = 0; i < 12; ++i) want.push_back({i, Lsn(0x700), Xid(20), i});
  EXPECT_EQ(Registered(), want);
  EXPECT_EQ(Objects().size(), 2u);  // the re-sent transaction's spill and its in-memory rest
}

TEST_F(WalWriterTest, SmallStreamedTransactionStaysInMemory) {
  Segment(20, true, Ids(0, 9, 20));
  Run();
  EXPECT_EQ(writer_->spill_files_written(), 0);
  EXPECT_TRUE(Objects().empty());
  StreamCommit(20, 0x800);
  Run();
  ASSERT_TRUE(writer_->Flush().ok());
  EXPECT_EQ(Registered().size(), 9u);
}

// Metrics: staged rows per table and flushes are counted once registered; the lag in seconds
// is the age of the oldest committed change waiting to be staged, and 0 once it is.
TEST_F(WalWriterTest, MetricsCountStagedRowsAndLagFromTheOldestWaitingCommit) {
  auto& reg = metrics::Default();
  const metrics::Labels t = {{"table", "public.t"}};
  auto value = [&reg](const char* name, const metrics::Labels& l = {}) {
    const double v = reg.ValueOf(name, l);
    return std::isnan(v) ? 0.0 : v;
  };
  const double staged_before = value("pg2iceberg_staged_rows_total", t);
  const double flushes_before = value("pg2iceberg_flush_duration_seconds");
  const int64_t now_us =
      std::chrono::duration_cast<std::chrono::microseconds>(clock_.Now().time_since_epoch())
          .count();
  // Two transactions committed 7 s and 2 s ago: the older one sets the lag.
  for (auto [xid, ago_s, first_id] : {std::tuple{1u, 7, 1}, std::tuple{2u, 2, 10}}) {
    script_.push_back(pg::BeginMsg{Lsn(100 * xid), {}, Xid(xid)});
    for (int32_t id = first_id; id < first_id + 3; ++id) script_.push_back(Insert(id));
    pg::PgTimestamp ts;
    ts.micros = now_us - ago_s * 1'000'000 - pg::PgTimestamp::kPgEpochOffsetMicros;
    script_.push_back(pg::CommitMsg{0, Lsn(100 * xid), Lsn(100 * xid + 8), ts});
  }
  Run();
  EXPECT_NEAR(value("pg2iceberg_replication_lag_seconds"), 7, 0.001);
  EXPECT_EQ(value("pg2iceberg_buffered_rows"), 6);
  EXPECT_EQ(value("pg2iceberg_staged_rows_total", t), staged_before);
  ASSERT_TRUE(writer_->Flush().ok());
  EXPECT_EQ(value("pg2iceberg_replication_lag_seconds"), 0);
  EXPECT_EQ(value("pg2iceberg_buffered_rows"), 0);
  EXPECT_EQ(value("pg2iceberg_staged_rows_total", t), staged_before + 6);
  EXPECT_EQ(value("pg2iceberg_flush_duration_seconds"), flushes_before + 1);
  EXPECT_EQ(value("pg2iceberg_confirmed_lsn"), 208);
}

}  // namespace
}  // namespace pg2iceberg::stage
