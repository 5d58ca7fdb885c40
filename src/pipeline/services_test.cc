// The pipeline's services on the in-memory backends (coordinator, catalog, FileIO) with a
// scripted replication stream and a model of the source's catalog: the WAL writer service stages
// and confirms, the materializer service commits and handles what changed in the source (a table
// dropped, re-created, rewritten, a resync), records its commits in the meta tables, and runs
// under a supervisor until the service it follows has ended; the compaction service compacts,
// records, and waits longer after a failure.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <unistd.h>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "base/clock.h"
#include "catalog/forwarding_catalog.h"
#include "catalog/memory_catalog.h"
#include "coord/memory_coordinator.h"
#include "iceberg/table_scan.h"
#include "io/fault_injection.h"
#include "io/memory_file_io.h"
#include "pipeline/compaction_service.h"
#include "pipeline/materializer_service.h"
#include "pipeline/notification_service.h"
#include "pipeline/resync.h"
#include "pipeline/supervisor.h"
#include "pipeline/wal_writer_service.h"

namespace pg2iceberg::pipeline {
namespace {

using namespace std::chrono_literals;

constexpr uint32_t kOid = 16384;
constexpr char kWarehouse[] = "mem://wh";
constexpr char kTable[] = "public.t";

class ScriptedStream final : public stage::MessageSource {
 public:
  explicit ScriptedStream(std::deque<pg::Message>* script) : script_(script) {}
  Result<std::optional<pg::ReplicationStream::Received>> Next(std::chrono::milliseconds) override {
    if (script_->empty()) return std::optional<pg::ReplicationStream::Received>();
    pg::ReplicationStream::Received r{Lsn(++pos_), std::move(script_->front())};
    script_->pop_front();
    return std::optional<pg::ReplicationStream::Received>(std::move(r));
  }
  void Confirm(Lsn lsn) override { confirmed_ = std::max(confirmed_, lsn); }
  Status SendStatus() override { return Status::Ok(); }
  Lsn confirmed() const override { return confirmed_; }

 private:
  std::deque<pg::Message>* script_;
  uint64_t pos_ = 0;
  Lsn confirmed_;
};

stage::StagedRelation Shape(uint32_t oid = kOid) {
  stage::StagedRelation rel;
  rel.table = kTable;
  rel.columns = {{"id", 23, -1, Type{TypeId::kInt}, false, 1},
                 {"v", 25, -1, Type{TypeId::kString}, true, 2}};
  rel.key = {0};
  rel.oid = oid;
  return rel;
}

// The source's catalog as a test sets it: the oid under the configured name (nullopt: gone).
class ModelSource final : public SourceCatalog {
 public:
  std::optional<uint32_t> oid = kOid;
  std::vector<std::string> republished;

  Result<stage::StagedRelation> Discover(const config::TableConfig&) override {
    return Shape(oid.value_or(0));
  }
  Result<std::optional<uint32_t>> CurrentOid(const config::TableName&) override { return oid; }
  Result<uint32_t> Republish(const config::TableConfig& t) override {
    republished.push_back(t.name.ToString());
    return oid.value_or(0);
  }
  Result<std::vector<std::string>> MissingDefaults(uint32_t, const std::vector<int>&) override {
    return std::vector<std::string>{};
  }
  Status AwaitVisible(Xid) override { return Status::Ok(); }
};

config::TableConfig TableConfigOf() {
  config::TableConfig t;
  t.name = config::TableName{"public", "t"};
  return t;
}

class ServicesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(coord_.PutTable({kTable, kOid, true, Lsn()}).ok());
    stage::WalWriterOptions wo;
    wo.slot = "s";
    wo.staging_uri = std::string(kWarehouse) + "/_staging";
    wo.flush_rows = 1'000'000;
    wo.flush_bytes = int64_t{1} << 40;
    wo.clock = &clock_;
    wo.orphan_grace = 1h;
    wo.pull = &pull_;
    writer_ = std::make_unique<stage::WalWriter>(
        std::make_unique<ScriptedStream>(&script_), &coord_, io_,
        std::map<std::string, stage::StagedRelation>{{kTable, Shape()}},
        RediscoverFrom(&source_, {TableConfigOf()}), wo);
    wal_ = std::make_unique<WalWriterService>(writer_.get(), &coord_, &source_,
                                              std::vector<config::TableConfig>{TableConfigOf()},
                                              [this] { ++restarts_; });
    materialize::MaterializerOptions mo;
    mo.generation = "test";
    mo.clock = &clock_;
    materializer_ = std::make_unique<materialize::Materializer>(
        &coord_, &catalog_, io_, std::vector<config::TableConfig>{TableConfigOf()}, mo);
    script_.push_back(Relation());
  }

  MaterializerService Service(upkeep::MetaTables* meta = nullptr,
                              std::function<bool(const std::string&)> copying = {}) {
    MaterializerServiceOptions o;
    o.tables = {TableConfigOf()};
    o.interval = 10ms;
    o.copying = std::move(copying);
    return MaterializerService(&coord_, materializer_.get(), &source_, meta, o);
  }

  static pg::RelationMsg Relation() {
    pg::RelationMsg rel;
    rel.relation_id = RelationId(kOid);
    rel.nspname = "public";
    rel.relname = "t";
    rel.columns = {{true, "id", 23, -1}, {false, "v", 25, -1}};
    return rel;
  }
  // One committed transaction inserting `ids` (v = "v<id>").
  void Insert(std::vector<int32_t> ids) {
    const uint64_t lsn = next_lsn_ += 0x100;
    script_.push_back(pg::BeginMsg{Lsn(lsn), {}, Xid(static_cast<uint32_t>(lsn))});
    for (int32_t id : ids) {
      pg::InsertMsg m;
      m.relation_id = RelationId(kOid);
      m.new_tuple = {{pg::TupleValue::Kind::kText, std::to_string(id)},
                     {pg::TupleValue::Kind::kText, "v" + std::to_string(id)}};
      script_.push_back(m);
    }
    script_.push_back(pg::CommitMsg{0, Lsn(lsn), Lsn(lsn + 8), {}});
  }
  // The WAL writer service takes everything scripted and flushes it.
  void Stage() {
    while (!script_.empty()) ASSERT_TRUE(wal_->Step(10ms).ok());
    ASSERT_TRUE(writer_->Flush().ok());
  }
  // The rows of an Iceberg table (empty when it does not exist).
  std::vector<std::vector<Value>> Rows(const std::string& ns, const std::string& name) {
    auto loaded = catalog_.LoadTable({{ns}, name});
    if (!loaded.ok()) return {};
    auto scan = iceberg::TableScan::Plan(io_, loaded->metadata);
    EXPECT_TRUE(scan.ok()) << scan.status().ToString();
    auto rows = scan->ReadAll(loaded->metadata.CurrentSchema()->fields());
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    return rows.ok() ? *rows : std::vector<std::vector<Value>>{};
  }
  std::set<int32_t> IcebergIds() {
    std::set<int32_t> ids;
    for (const auto& r : Rows("default", "t")) ids.insert(std::get<int32_t>(r.at(0)));
    return ids;
  }
  std::string LastOperation() {
    auto loaded = catalog_.LoadTable({{"default"}, "t"});
    if (!loaded.ok() || loaded->metadata.CurrentSnapshot() == nullptr) return "";
    const auto& summary = loaded->metadata.CurrentSnapshot()->summary;
    auto op = summary.find("operation");
    return op == summary.end() ? "" : op->second;
  }

  FakeClock clock_;
  std::shared_ptr<io::MemoryFileIO> objects_ = std::make_shared<io::MemoryFileIO>(&clock_);
  std::shared_ptr<io::FaultInjectingFileIO> io_ =
      std::make_shared<io::FaultInjectingFileIO>(objects_);
  catalog::MemoryCatalog catalog_{kWarehouse, &clock_};
  coord::MemoryCoordinator coord_{&clock_};
  ModelSource source_;
  std::deque<pg::Message> script_;
  uint64_t next_lsn_ = 0x1000;
  int restarts_ = 0;
  stage::FlushRequests pull_;
  std::unique_ptr<stage::WalWriter> writer_;
  std::unique_ptr<WalWriterService> wal_;
  std::unique_ptr<materialize::Materializer> materializer_;
};

TEST_F(ServicesTest, StagedChangesAreCommittedByOneCycleAndTheSlotFollows) {
  Insert({1, 2, 3});
  Insert({4});
  Stage();
  EXPECT_EQ(writer_->confirmed(), Lsn(next_lsn_ + 8));
  MaterializerService m = Service();
  auto cycle = m.Cycle(/*ending=*/false);
  ASSERT_TRUE(cycle.ok()) << cycle.status().ToString();
  EXPECT_FALSE(cycle->restart);
  EXPECT_FALSE(cycle->more);
  EXPECT_GE(cycle->results.at(kTable).snapshot_id, 0);
  EXPECT_EQ(IcebergIds(), (std::set<int32_t>{1, 2, 3, 4}));
  // Nothing new: the next cycle commits nothing.
  auto again = m.Cycle(false);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_LT(again->results.at(kTable).snapshot_id, 0);
}

TEST_F(ServicesTest, ATableDroppedOrRenamedStopsThePipelineWithWhatToDo) {
  Insert({1});
  Stage();
  source_.oid.reset();
  MaterializerService m = Service();
  auto cycle = m.Cycle(false);
  ASSERT_FALSE(cycle.ok());
  EXPECT_EQ(cycle.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(cycle.status().message().find("dropped or renamed"), std::string::npos);
  EXPECT_NE(cycle.status().message().find("Remove it from tables[]"), std::string::npos);
  // What was staged before is committed first.
  EXPECT_EQ(IcebergIds(), (std::set<int32_t>{1}));
}

TEST_F(ServicesTest, ATableRecreatedIsRepublishedAndCopiedAgainInANewAttempt) {
  source_.oid = kOid + 7;
  MaterializerService m = Service();
  auto cycle = m.Cycle(false);
  ASSERT_TRUE(cycle.ok()) << cycle.status().ToString();
  EXPECT_TRUE(cycle->restart);
  EXPECT_EQ(source_.republished, (std::vector<std::string>{kTable}));
  auto state = coord_.GetTable(kTable);
  ASSERT_TRUE(state.ok() && state->has_value());
  EXPECT_EQ((*state)->relid, kOid + 7);
  EXPECT_FALSE((*state)->snapshot_complete);
  // A table with skip_snapshot follows the new oid without a copy.
  config::TableConfig skip = TableConfigOf();
  skip.skip_snapshot = true;
  ASSERT_TRUE(coord_.PutTable({kTable, kOid, true, Lsn()}).ok());
  ASSERT_TRUE(ResyncRecreated(coord_, skip, kOid + 9, {kTable, kOid, true, Lsn()}, true).ok());
  state = coord_.GetTable(kTable);
  EXPECT_TRUE((*state)->snapshot_complete);
  EXPECT_EQ((*state)->relid, kOid + 9);
}

TEST_F(ServicesTest, AResyncAsksForANewAttemptUnlessThisAttemptCopiesTheTable) {
  ASSERT_TRUE(coord_.RequestResync(kTable).ok());
  {
    MaterializerService m = Service();
    auto cycle = m.Cycle(false);
    ASSERT_TRUE(cycle.ok()) << cycle.status().ToString();
    EXPECT_TRUE(cycle->restart);
  }
  MaterializerService copying = Service(nullptr, [](const std::string& t) { return t == kTable; });
  auto cycle = copying.Cycle(false);
  ASSERT_TRUE(cycle.ok()) << cycle.status().ToString();
  EXPECT_FALSE(cycle->restart);
}

TEST_F(ServicesTest, ARewriteSeenByTheWalWriterRedoesTheCopyAndAsksForANewAttempt) {
  script_.push_back(pg::BeginMsg{Lsn(0x2000), {}, Xid(10)});
  script_.push_back(pg::LogicalMessageMsg{
      Xid(), true, Lsn(1), stage::kRewriteMessagePrefix,
      R"({"schema":"public","table":"t","oid":16384,"reason":2})"});
  script_.push_back(pg::CommitMsg{0, Lsn(0x2000), Lsn(0x2008), {}});
  Stage();
  EXPECT_EQ(restarts_, 1);
  auto state = coord_.GetTable(kTable);
  ASSERT_TRUE(state.ok() && state->has_value());
  EXPECT_FALSE((*state)->snapshot_complete);
}

TEST_F(ServicesTest, AMarkerIdIsRecordedOnceAtItsFirstLsn) {
  const std::vector<config::TableConfig> tables{TableConfigOf()};
  ASSERT_TRUE(RecordMarker(coord_, tables, "m1", Lsn(0x100)).ok());
  ASSERT_TRUE(RecordMarker(coord_, tables, "m1", Lsn(0x200)).ok());
  auto pending = coord_.PendingMarkers(kTable);
  ASSERT_TRUE(pending.ok()) << pending.status().ToString();
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ(pending->front().commit_lsn, Lsn(0x100));
}

TEST_F(ServicesTest, CommitsAreRecordedInTheMetaTables) {
  upkeep::MetaTables meta(&catalog_, io_, "meta", "pipeline", &clock_);
  Insert({1, 2});
  Stage();
  MaterializerService m = Service(&meta);
  auto cycle = m.Cycle(/*ending=*/true);
  ASSERT_TRUE(cycle.ok()) << cycle.status().ToString();
  EXPECT_EQ(Rows("meta", "commits").size(), 1u);
}

TEST_F(ServicesTest, UnderASupervisorTheMaterializerCommitsWhatTheWalWriterFlushedOnItsWayOut) {
  std::atomic<bool> process_stop{false};
  Supervisor sup(Clock::Real(), &process_stop);
  MaterializerService m = Service();
  Insert({1, 2});
  Insert({3});
  // The writer's flush_rows is never reached: only its last flush, on the process stop, stages
  // the rows, and the materializer's last cycle, after the writer ended, commits them.
  sup.Start("WAL writer", [&] { return wal_->Run(sup, nullptr); });
  sup.Start("materializer", [&] { return m.Run(sup, "WAL writer", nullptr); });
  while (!script_.empty()) Clock::Real()->SleepFor(1ms);
  process_stop = true;
  ASSERT_TRUE(sup.Join().ok()) << sup.error().ToString();
  EXPECT_EQ(IcebergIds(), (std::set<int32_t>{1, 2, 3}));
}

TEST_F(ServicesTest, AFlushStartsTheNextCycleAfterHalfTheIntervalNotTheWhole) {
  std::atomic<bool> process_stop{false};
  Supervisor sup(&clock_, &process_stop);
  MaterializerServiceOptions o;
  o.tables = {TableConfigOf()};
  o.interval = 1h;
  o.pull = &pull_;
  MaterializerService m(&coord_, materializer_.get(), &source_, nullptr, o);
  std::vector<Clock::MonoTime> cycles;
  std::vector<std::set<int32_t>> seen;
  const Clock::MonoTime started = clock_.Monotonic();
  ASSERT_TRUE(m.Run(sup, "", [&] {
                 cycles.push_back(clock_.Monotonic());
                 seen.push_back(IcebergIds());
                 if (cycles.size() == 1) {
                   Insert({1});
                   Stage();  // a flush after the first cycle started
                 } else {
                   process_stop = true;
                 }
               }).ok());
  ASSERT_GE(cycles.size(), 2u);
  // Staged during the first cycle, committed by a cycle half an interval after it, not a whole.
  EXPECT_EQ(seen[1], (std::set<int32_t>{1}));
  EXPECT_GE(cycles[1] - started, 30min);
  EXPECT_LT(cycles[1] - started, 31min);
  // Without a flush since, the next cycle follows the interval.
  // A new supervisor: the first one may have latched the process stop (its watcher mirrors it
  // in real time), and would end this run after one cycle.
  const Clock::MonoTime before = clock_.Monotonic();
  std::atomic<bool> second_stop{false};
  Supervisor second(&clock_, &second_stop);
  std::vector<Clock::MonoTime> idle;
  ASSERT_TRUE(m.Run(second, "", [&] {
                 idle.push_back(clock_.Monotonic());
                 if (idle.size() == 2) second_stop = true;
               }).ok());
  ASSERT_GE(idle.size(), 2u);
  EXPECT_GE(idle[1] - before, 1h);
}

TEST_F(ServicesTest, AFailingServiceStopsTheMaterializerWithoutALastCommit) {
  Supervisor sup(Clock::Real(), nullptr);
  MaterializerService m = Service();
  sup.Start("WAL writer", [] { return Unavailable("the slot is gone"); });
  sup.Start("materializer", [&] { return m.Run(sup, "WAL writer", nullptr); });
  Status s = sup.Join();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
}

TEST(AssignTablesTest, EveryWorkerComputesTheSameRoundRobinOverSortedTables) {
  const std::vector<std::string> tables{"public.d", "public.a", "public.c", "public.b",
                                        "public.e"};
  EXPECT_EQ(AssignTables(tables, {"w2", "w1"}, "w1"),
            (std::vector<std::string>{"public.a", "public.c", "public.e"}));
  EXPECT_EQ(AssignTables(tables, {"w1", "w2", "w2"}, "w2"),
            (std::vector<std::string>{"public.b", "public.d"}));
  EXPECT_EQ(AssignTables(tables, {"w1"}, "w1").size(), 5u);
  // Not live: nothing.
  EXPECT_TRUE(AssignTables(tables, {"w1"}, "w3").empty());
  // Every table goes to exactly one of the live workers.
  std::multiset<std::string> all;
  for (const char* w : {"a", "b", "c"}) {
    for (const auto& t : AssignTables(tables, {"c", "a", "b"}, w)) all.insert(t);
  }
  EXPECT_EQ(all, std::multiset<std::string>(tables.begin(), tables.end()));
}

TEST_F(ServicesTest, AWorkerMaterializesItsShareAndLeavesTheChecksToTheSlotsOwner) {
  config::TableConfig u;
  u.name = config::TableName{"public", "u"};
  ASSERT_TRUE(coord_.PutTable({"public.u", kOid + 1, true, Lsn()}).ok());
  materialize::MaterializerOptions mo;
  mo.generation = "test";
  mo.clock = &clock_;
  materialize::Materializer m(&coord_, &catalog_, io_,
                              std::vector<config::TableConfig>{TableConfigOf(), u}, mo);
  MaterializerServiceOptions o;
  o.tables = {TableConfigOf(), u};
  o.worker = "w2";
  o.worker_ttl = std::chrono::seconds(30);
  MaterializerService w2(&coord_, &m, &source_, nullptr, o);
  Insert({1, 2});
  Stage();
  // Alone, it takes both tables.
  ASSERT_TRUE(w2.Cycle(false).ok());
  EXPECT_EQ(w2.assigned(), (std::vector<std::string>{"public.t", "public.u"}));
  EXPECT_EQ(IcebergIds(), (std::set<int32_t>{1, 2}));
  // w1 joins: sorted workers w1, w2 — public.t goes to w1.
  ASSERT_TRUE(coord_.Heartbeat("default", "w1").ok());
  Insert({3});
  Stage();
  source_.oid.reset();  // a worker does not check the tables (the owner of the slot does)
  auto cycle = w2.Cycle(false);
  ASSERT_TRUE(cycle.ok()) << cycle.status().ToString();
  EXPECT_FALSE(cycle->restart);
  EXPECT_EQ(w2.assigned(), (std::vector<std::string>{"public.u"}));
  EXPECT_EQ(IcebergIds(), (std::set<int32_t>{1, 2}));  // public.t is w1's now
  // w1's heartbeat grows older than the TTL: its tables come back.
  clock_.Advance(std::chrono::seconds(31));
  ASSERT_TRUE(w2.Cycle(false).ok());
  EXPECT_EQ(w2.assigned(), (std::vector<std::string>{"public.t", "public.u"}));
  EXPECT_EQ(IcebergIds(), (std::set<int32_t>{1, 2, 3}));
  // Leaving removes its heartbeat.
  w2.Finish(/*failed=*/false);
  LeaveGroup(coord_, "default", "w2");
  auto live = coord_.LiveWorkers("default", std::chrono::seconds(30));
  ASSERT_TRUE(live.ok());
  EXPECT_TRUE(live->empty());
}

// Reached markers are recorded in the meta table by one worker of the group (the first live
// one by id), not by each; when it is gone, the next one does.
TEST_F(ServicesTest, OnlyTheFirstLiveWorkerRecordsTheReachedMarkers) {
  upkeep::MetaTables meta(&catalog_, io_, "meta", "pipeline", &clock_);
  ASSERT_TRUE(RecordMarker(coord_, {TableConfigOf()}, "m1", Lsn(0x100)).ok());
  Insert({1, 2});
  Stage();
  materialize::MaterializerOptions mo;
  mo.generation = "test";
  mo.clock = &clock_;
  mo.markers = true;
  materialize::Materializer materializer(&coord_, &catalog_, io_, {TableConfigOf()}, mo);
  auto worker = [&](const std::string& id, upkeep::MetaTables* m) {
    MaterializerServiceOptions o;
    o.tables = {TableConfigOf()};
    o.worker = id;
    o.worker_ttl = std::chrono::seconds(30);
    o.record_markers = true;
    return MaterializerService(&coord_, &materializer, &source_, m, o);
  };
  ASSERT_TRUE(coord_.Heartbeat("default", "w1").ok());
  // Workers w1, w2: public.t goes to w1, which (without meta tables here) materializes it and
  // reaches the marker.
  MaterializerService w1 = worker("w1", nullptr);
  MaterializerService w2 = worker("w2", &meta);
  ASSERT_TRUE(w1.Cycle(false).ok());
  ASSERT_EQ(IcebergIds(), (std::set<int32_t>{1, 2}));
  auto unrecorded = coord_.UnrecordedMarkers(10);
  ASSERT_TRUE(unrecorded.ok());
  ASSERT_EQ(unrecorded->size(), 1u);
  ASSERT_TRUE(w2.Cycle(false).ok());
  EXPECT_TRUE(Rows("meta", "markers").empty()) << "w2 is not the first live worker";
  // w1's heartbeat grows older than the TTL: w2 is the first live worker now.
  clock_.Advance(std::chrono::seconds(31));
  ASSERT_TRUE(w2.Cycle(false).ok());
  w2.Finish(/*failed=*/false);
  EXPECT_EQ(Rows("meta", "markers").size(), 1u);
}

// Delegates to a catalog, running a hook once before the next commit of a snapshot.
class HookedCatalog final : public catalog::ForwardingCatalog {
 public:
  using ForwardingCatalog::ForwardingCatalog;
  std::function<void()> before_commit;

  Result<catalog::LoadedTable> CommitTable(const catalog::TableCommit& c) override {
    bool has_snapshot = false;
    for (const auto& u : c.updates) {
      has_snapshot |= u.action == iceberg::TableUpdate::Action::kAddSnapshot;
    }
    if (has_snapshot && before_commit) {
      auto hook = std::move(before_commit);
      before_commit = nullptr;
      hook();
    }
    return inner()->CommitTable(c);
  }
};

// A rebalance in flight: two workers both hold a table for a cycle (each still sees the other
// as gone) and read the same staged changes. Whatever the timing, the table gets each change
// once: the second commit of the same offsets is refused by the catalog's optimistic
// concurrency and the offsets its snapshot records, and is planned again from the table.
TEST_F(ServicesTest, TwoWorkersHoldingOneTableNeverCommitTheSameOffsetsTwice) {
  for (const auto mode : {config::DeleteMode::kEquality, config::DeleteMode::kPosition}) {
    SCOPED_TRACE(config::DeleteModeName(mode));
    catalog::MemoryCatalog shared_catalog{kWarehouse, &clock_};
    HookedCatalog hooked(&shared_catalog);
    coord::MemoryCoordinator coord{&clock_};
    ASSERT_TRUE(coord.PutTable({kTable, kOid, true, Lsn()}).ok());
    auto dir = std::filesystem::temp_directory_path() /
               ("pg2i-services-" + std::to_string(getpid()) + "-" +
                std::string(config::DeleteModeName(mode)));
    std::filesystem::remove_all(dir);
    auto make = [&](catalog::Catalog* cat, const std::string& id) {
      materialize::MaterializerOptions mo;
      mo.generation = "test";
      mo.clock = &clock_;
      mo.delete_mode = mode;
      mo.index_dir = (dir / id).string();
      return std::make_unique<materialize::Materializer>(
          &coord, cat, io_, std::vector<config::TableConfig>{TableConfigOf()}, mo);
    };
    auto ma = make(&hooked, "a");
    auto mb = make(&shared_catalog, "b");
    MaterializerServiceOptions o;
    o.tables = {TableConfigOf()};
    o.worker_ttl = std::chrono::seconds(30);
    o.worker = "a";
    MaterializerService a(&coord, ma.get(), &source_, nullptr, o);
    o.worker = "b";
    MaterializerService b(&coord, mb.get(), &source_, nullptr, o);
    // Stage through the fixture's writer into this coordinator.
    stage::WalWriterOptions wo;
    wo.slot = "s";
    wo.staging_uri = std::string(kWarehouse) + "/_staging";
    wo.flush_rows = 1'000'000;
    wo.flush_bytes = int64_t{1} << 40;
    wo.clock = &clock_;
    wo.orphan_grace = 1h;
    std::deque<pg::Message> script;
    stage::WalWriter writer(std::make_unique<ScriptedStream>(&script), &coord, io_,
                            std::map<std::string, stage::StagedRelation>{{kTable, Shape()}},
                            RediscoverFrom(&source_, {TableConfigOf()}), wo);
    auto stage_rows = [&](std::vector<std::pair<int32_t, std::string>> rows, uint64_t lsn) {
      script.push_back(Relation());
      script.push_back(pg::BeginMsg{Lsn(lsn), {}, Xid(static_cast<uint32_t>(lsn))});
      for (const auto& [id, v] : rows) {
        pg::InsertMsg m;
        m.relation_id = RelationId(kOid);
        m.new_tuple = {{pg::TupleValue::Kind::kText, std::to_string(id)},
                       {pg::TupleValue::Kind::kText, v}};
        script.push_back(m);
      }
      script.push_back(pg::CommitMsg{0, Lsn(lsn), Lsn(lsn + 8), {}});
      while (!script.empty()) ASSERT_TRUE(writer.Step(10ms).ok());
      ASSERT_TRUE(writer.Flush().ok());
    };
    stage_rows({{1, "a"}, {2, "b"}}, 0x1000);
    // a has read the first transaction and is about to commit it when, for b, a is gone (its
    // heartbeat older than the TTL): b takes the table, and commits the first transaction and a
    // newer one. a's batch is now stale twice over (same offsets, and older values): it must
    // not land.
    hooked.before_commit = [&] {
      clock_.Advance(std::chrono::seconds(31));
      stage_rows({{1, "a2"}}, 0x2000);
      auto cb = b.Cycle(false);
      ASSERT_TRUE(cb.ok()) << cb.status().ToString();
      EXPECT_GE(cb->results.at(kTable).snapshot_id, 0);
    };
    auto ca = a.Cycle(false);
    ASSERT_TRUE(ca.ok()) << ca.status().ToString();
    // Its batch went stale: refused (equality), or prepared again from the table, which b
    // has brought past it (position): either way a committed nothing.
    EXPECT_TRUE(ca->results.empty() || ca->results.at(kTable).snapshot_id < 0);
    // The next cycle starts from the table: nothing left to do.
    ASSERT_TRUE(a.Cycle(false).ok());
    auto loaded = shared_catalog.LoadTable({{"default"}, "t"});
    ASSERT_TRUE(loaded.ok());
    auto scan = iceberg::TableScan::Plan(io_, loaded->metadata);
    ASSERT_TRUE(scan.ok());
    auto rows = scan->ReadAll(loaded->metadata.CurrentSchema()->fields());
    ASSERT_TRUE(rows.ok()) << rows.status().ToString();
    std::multiset<std::pair<int32_t, std::string>> got;
    for (const auto& r : *rows) got.insert({std::get<int32_t>(r[0]), std::get<std::string>(r[1])});
    EXPECT_EQ(got, (std::multiset<std::pair<int32_t, std::string>>{{1, "a2"}, {2, "b"}}));
    std::filesystem::remove_all(dir);
  }
}

TEST_F(ServicesTest, AWorkerWhoseStagedFilesWereTrimmedBehindAnotherWorkersCommitGoesStale) {
  // While assignments change, two workers hold a table for a cycle: b commits the batch a is
  // reading and the log is trimmed behind it, taking the staged files. a's batch went stale:
  // a worker carries on (was: the missing file ended the worker).
  materialize::MaterializerOptions mo;
  mo.generation = "test";
  mo.clock = &clock_;
  materialize::Materializer mb(&coord_, &catalog_, io_,
                               std::vector<config::TableConfig>{TableConfigOf()}, mo);
  MaterializerServiceOptions o;
  o.tables = {TableConfigOf()};
  o.worker_ttl = std::chrono::seconds(30);
  o.worker = "a";
  MaterializerService a(&coord_, materializer_.get(), &source_, nullptr, o);
  o.worker = "b";
  MaterializerService b(&coord_, &mb, &source_, nullptr, o);
  Insert({1, 2});
  Stage();
  bool interleaved = false;
  io_->BeforeCall([&](io::FaultOp op, const std::string& uri) {
    if (interleaved || op != io::FaultOp::kRead || uri.find("/_staging/") == std::string::npos) {
      return;
    }
    interleaved = true;
    clock_.Advance(std::chrono::seconds(31));  // a looks gone to b: b takes the table
    auto cb = b.Cycle(false);
    ASSERT_TRUE(cb.ok()) << cb.status().ToString();
    ASSERT_GE(cb->results.at(kTable).snapshot_id, 0);
    (void)objects_->Delete(uri);  // the trim behind b's commit (if it has not happened yet)
    ASSERT_FALSE(objects_->Exists(uri).value());
  });
  auto ca = a.Cycle(false);
  io_->BeforeCall({});
  ASSERT_TRUE(interleaved);
  ASSERT_TRUE(ca.ok()) << ca.status().ToString();
  EXPECT_TRUE(ca->more);  // the next cycle starts from the table
  EXPECT_EQ(IcebergIds(), (std::set<int32_t>{1, 2}));
}

TEST(LaneOfTest, EveryTableHasOneStableLane) {
  EXPECT_EQ(LaneOf("public.t", 1), 0);
  std::map<int, int> per_lane;
  for (int i = 0; i < 100; ++i) {
    const std::string t = "public.t" + std::to_string(i);
    const int lane = LaneOf(t, 4);
    ASSERT_GE(lane, 0);
    ASSERT_LT(lane, 4);
    EXPECT_EQ(LaneOf(t, 4), lane);
    ++per_lane[lane];
  }
  EXPECT_EQ(per_lane.size(), 4u);  // spread over every lane
}

TEST_F(ServicesTest, LanesSplitTheTablesAndEachChecksOnlyItsOwn) {
  config::TableConfig u;
  u.name = config::TableName{"public", "u"};
  ASSERT_TRUE(coord_.PutTable({"public.u", kOid + 1, true, Lsn()}).ok());
  // The two tables fall in different lanes of two.
  ASSERT_NE(LaneOf("public.t", 2), LaneOf("public.u", 2));
  std::vector<std::unique_ptr<materialize::Materializer>> ms;
  std::vector<std::unique_ptr<MaterializerService>> lanes;
  for (int lane = 0; lane < 2; ++lane) {
    materialize::MaterializerOptions mo;
    mo.generation = "test";
    mo.clock = &clock_;
    ms.push_back(std::make_unique<materialize::Materializer>(
        &coord_, &catalog_, io_, std::vector<config::TableConfig>{TableConfigOf(), u}, mo));
    MaterializerServiceOptions o;
    o.tables = {TableConfigOf(), u};
    o.lane = lane;
    o.lanes = 2;
    lanes.push_back(std::make_unique<MaterializerService>(&coord_, ms.back().get(), &source_,
                                                          nullptr, o));
  }
  Insert({1, 2});
  Stage();
  const int t_lane = LaneOf("public.t", 2);
  for (auto& l : lanes) ASSERT_TRUE(l->Cycle(false).ok());
  EXPECT_EQ(lanes[t_lane]->assigned(), (std::vector<std::string>{"public.t"}));
  EXPECT_EQ(lanes[1 - t_lane]->assigned(), (std::vector<std::string>{"public.u"}));
  EXPECT_EQ(IcebergIds(), (std::set<int32_t>{1, 2}));
  // public.t dropped: only its lane stops; the other goes on.
  source_.oid.reset();
  EXPECT_EQ(lanes[t_lane]->Cycle(false).status().code(), StatusCode::kFailedPrecondition);
}

// A table with one data file per commit.
class CompactionServiceTest : public ServicesTest {
 protected:
  void Commits(int n) {
    MaterializerService m = Service();
    for (int i = 0; i < n; ++i) {
      Insert({10 * i, 10 * i + 1});
      Stage();
      ASSERT_TRUE(m.Cycle(false).ok());
    }
  }
  CompactionService Compactor(upkeep::MetaTables* meta = nullptr) {
    upkeep::CompactionOptions co;
    co.min_data_files = 2;
    return CompactionService(&catalog_, io_, meta, co, 1min, &clock_);
  }
  const std::vector<CompactionTarget> targets_{{kTable, {{"default"}, "t"}}};
  std::function<bool()> never_ = [] { return false; };
};

TEST_F(CompactionServiceTest, ARoundCompactsTheTableAndRecordsIt) {
  Commits(3);
  upkeep::MetaTables meta(&catalog_, io_, "meta", "pipeline", &clock_);
  CompactionService c = Compactor(&meta);
  EXPECT_EQ(c.Round(targets_, never_), 1);
  EXPECT_EQ(IcebergIds(), (std::set<int32_t>{0, 1, 10, 11, 20, 21}));
  EXPECT_EQ(Rows("meta", "compactions").size(), 1u);
  // Nothing left to compact.
  EXPECT_EQ(c.Round(targets_, never_), 0);
}

TEST_F(CompactionServiceTest, ATableNotCreatedYetIsLeftAlone) {
  CompactionService c = Compactor();
  EXPECT_EQ(c.Round({{"public.later", {{"default"}, "later"}}}, never_), 0);
}

TEST_F(CompactionServiceTest, AFailedCompactionIsTriedAgainOnlyAfterItsBackoff) {
  Commits(3);
  CompactionService c = Compactor();
  // The next read fails.
  io_->FailNth(io::FaultOp::kRead, io_->count(io::FaultOp::kRead) + 1,
               Unavailable("simulated: object store unreachable"), io::FaultTiming::kBefore);
  EXPECT_EQ(c.Round(targets_, never_), 0);
  const int64_t reads = io_->count(io::FaultOp::kRead);
  // Within its backoff (twice the interval after one failure) the table is not tried.
  clock_.Advance(1min);
  EXPECT_EQ(c.Round(targets_, never_), 0);
  EXPECT_EQ(io_->count(io::FaultOp::kRead), reads);
  clock_.Advance(1min + 1s);
  EXPECT_EQ(c.Round(targets_, never_), 1);
}

TEST_F(CompactionServiceTest, RunCompactsEveryIntervalUntilTheAttemptStops) {
  Commits(3);
  upkeep::CompactionOptions co;
  co.min_data_files = 2;
  Supervisor sup(Clock::Real(), nullptr);
  CompactionService c(&catalog_, io_, nullptr, co, 5ms, Clock::Real());
  sup.Start("compaction", [&] {
    c.Run(sup, [&] { return targets_; });
    return Status::Ok();
  }, /*critical=*/false);
  for (int i = 0; i < 5000 && LastOperation() != "replace"; ++i) Clock::Real()->SleepFor(1ms);
  sup.RequestRestart();
  EXPECT_TRUE(sup.Join().ok());
  EXPECT_EQ(LastOperation(), "replace");
}

// A receiver of commit events that takes them unless it is down.
class RecordingSink final : public notify::EventSink {
 public:
  RecordingSink(std::vector<notify::CommitEvent>* got, const bool* down)
      : got_(got), down_(down) {}
  std::string name() const override { return "test"; }
  Status Deliver(const notify::CommitEvent& e) override {
    if (*down_) return Unavailable("receiver down");
    got_->push_back(e);
    return Status::Ok();
  }

 private:
  std::vector<notify::CommitEvent>* got_;
  const bool* down_;
};

class NotificationServiceTest : public ServicesTest {
 protected:
  NotificationService Notifier() {
    std::vector<std::unique_ptr<notify::EventSink>> sinks;
    sinks.push_back(std::make_unique<RecordingSink>(&got_, &down_));
    return NotificationService(&catalog_, &coord_, std::move(sinks), &clock_, {});
  }
  void Commits(MaterializerService& m, std::vector<int32_t> ids) {
    for (int32_t id : ids) {
      Insert({id});
      Stage();
      ASSERT_TRUE(m.Cycle(false).ok());
    }
  }
  // The table's snapshots, in commit order.
  std::vector<int64_t> SnapshotIds() {
    auto loaded = catalog_.LoadTable({{"default"}, "t"});
    if (!loaded.ok()) return {};
    std::vector<iceberg::Snapshot> snaps = loaded->metadata.snapshots;
    std::sort(snaps.begin(), snaps.end(), [](const auto& a, const auto& b) {
      return a.sequence_number < b.sequence_number;
    });
    std::vector<int64_t> ids;
    for (const auto& s : snaps) ids.push_back(s.snapshot_id);
    return ids;
  }
  std::vector<int64_t> GotIds() const {
    std::vector<int64_t> ids;
    for (const auto& e : got_) ids.push_back(e.snapshot_id);
    return ids;
  }
  std::vector<notify::CommitEvent> got_;
  bool down_ = false;
  const std::vector<NotifyTarget> targets_{{kTable, {{"default"}, "t"}}};
};

TEST_F(NotificationServiceTest, EveryCommitIsAnnouncedOnceInCommitOrderWithItsLsnRange) {
  NotificationService n = Notifier();
  n.Round(targets_);  // the table does not exist yet
  EXPECT_TRUE(got_.empty());
  MaterializerService m = Service();
  Commits(m, {1, 2, 3});
  n.Round(targets_);
  ASSERT_EQ(SnapshotIds().size(), 3u);
  EXPECT_EQ(GotIds(), SnapshotIds());
  for (const auto& e : got_) {
    EXPECT_EQ(e.table, kTable);
    EXPECT_EQ(e.iceberg_table, "default.t");
    EXPECT_EQ(e.rows_added, 1);
    ASSERT_FALSE(e.lsn_min.empty());
    EXPECT_LE(Lsn::Parse(e.lsn_min).value(), Lsn::Parse(e.lsn_max).value());
  }
  n.Round(targets_);
  EXPECT_EQ(got_.size(), 3u);  // nothing twice
}

TEST_F(NotificationServiceTest, ADownReceiverGetsEverythingLaterAndARestartResumes) {
  MaterializerService m = Service();
  {
    NotificationService n = Notifier();
    n.Round(targets_);
    down_ = true;
    Commits(m, {1, 2});
    n.Round(targets_);
    EXPECT_TRUE(got_.empty());
    down_ = false;
    n.Round(targets_);  // still waiting out its backoff
    EXPECT_TRUE(got_.empty());
    clock_.Advance(2s);
    n.Round(targets_);
    EXPECT_EQ(GotIds(), SnapshotIds());
  }
  // A new process resumes after what was delivered: the next commit only.
  Commits(m, {3});
  NotificationService again = Notifier();
  again.Round(targets_);
  EXPECT_EQ(GotIds(), SnapshotIds());
}

TEST_F(NotificationServiceTest, CommitsBeforeNotificationsWereConfiguredAreNotAnnounced) {
  MaterializerService m = Service();
  Commits(m, {1});
  clock_.Advance(1s);
  NotificationService n = Notifier();
  n.Round(targets_);
  EXPECT_TRUE(got_.empty());
  clock_.Advance(1s);
  Commits(m, {2});
  n.Round(targets_);
  ASSERT_EQ(got_.size(), 1u);
  EXPECT_EQ(got_[0].snapshot_id, SnapshotIds().back());
}

TEST_F(NotificationServiceTest, UnderASupervisorACommitIsAnnouncedWithoutWaitingForThePoll) {
  NotificationOptions o;
  o.poll_interval = 1h;
  std::vector<std::unique_ptr<notify::EventSink>> sinks;
  sinks.push_back(std::make_unique<RecordingSink>(&got_, &down_));
  NotificationService n(&catalog_, &coord_, std::move(sinks), &clock_, o);
  CommitSignal signal;
  MaterializerService m = Service();
  Supervisor sup(Clock::Real(), nullptr);
  sup.Start("notifications", [&] {
    n.Run(sup, &signal, [&] { return targets_; });
    return Status::Ok();
  });
  Commits(m, {1});
  signal.Add(kTable);
  for (int i = 0; i < 500 && got_.empty(); ++i) std::this_thread::sleep_for(10ms);
  sup.Fail("test", Cancelled("done"));
  (void)sup.Join();
  EXPECT_EQ(GotIds(), SnapshotIds());
}

}  // namespace
}  // namespace pg2iceberg::pipeline
