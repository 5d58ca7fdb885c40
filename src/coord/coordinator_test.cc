// One conformance suite for every Coordinator: in memory, and PostgreSQL 15.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include <unistd.h>

#include <atomic>

#include "coord/memory_coordinator.h"
#include "coord/owner.h"
#include "coord/pg_coordinator.h"
#include "fixtures/gtest_support.h"
#include "fixtures/pg_cluster.h"

namespace pg2iceberg::coord {
namespace {

using namespace std::chrono_literals;

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::unique_ptr<Coordinator> Make() = 0;
  virtual std::string name() const = 0;
};

class MemoryBackend : public Backend {
 public:
  std::unique_ptr<Coordinator> Make() override {
    // All instances share one store, as PostgreSQL instances share one database.
    return std::make_unique<Shared>(&store_);
  }
  std::string name() const override { return "memory"; }

 private:
  // Forwards to one shared MemoryCoordinator.
  class Shared : public Coordinator {
   public:
    explicit Shared(MemoryCoordinator* m) : m_(m) {}
    Status Migrate() override { return m_->Migrate(); }
    using Coordinator::ClaimOffsets;
    Result<std::vector<LogEntry>> ClaimOffsets(const std::vector<StagedFile>& f,
                                               const StagedThrough& p) override {
      return m_->ClaimOffsets(f, p);
    }
    Result<std::vector<LogEntry>> ClaimSnapshotChunk(const std::vector<StagedFile>& f,
                                                     const SnapshotChunk& c) override {
      return m_->ClaimSnapshotChunk(f, c);
    }
    Result<std::vector<SnapshotChunk>> SnapshotChunks(const std::string& t) override {
      return m_->SnapshotChunks(t);
    }
    Status CompleteSnapshot(const std::string& t, Lsn l) override {
      return m_->CompleteSnapshot(t, l);
    }
    Result<int64_t> DeferredFiles(const std::string& t) override { return m_->DeferredFiles(t); }
    Result<std::set<std::string>> ReferencedUris() override { return m_->ReferencedUris(); }
    Result<int64_t> RequestResync(const std::string& t) override { return m_->RequestResync(t); }
    Result<int64_t> RestartCopy(const std::string& t) override { return m_->RestartCopy(t); }
    Status ForgetSnapshotProgress(const std::string& t) override {
      return m_->ForgetSnapshotProgress(t);
    }
    Result<std::vector<LogEntry>> ReadLog(const std::string& t, int64_t a, int l) override {
      return m_->ReadLog(t, a, l);
    }
    Result<int64_t> NextOffset(const std::string& t) override { return m_->NextOffset(t); }
    Status RecordFlushedLsn(const std::string& s, Lsn l) override {
      return m_->RecordFlushedLsn(s, l);
    }
    Result<std::optional<Lsn>> FlushedLsn(const std::string& s) override {
      return m_->FlushedLsn(s);
    }
    Result<Cursor> GetCursor(const std::string& g, const std::string& t) override {
      return m_->GetCursor(g, t);
    }
    Status SetCursor(const std::string& g, const std::string& t, const Cursor& c) override {
      return m_->SetCursor(g, t, c);
    }
    Result<std::optional<int64_t>> MinCursor(const std::string& t) override {
      return m_->MinCursor(t);
    }
    Result<std::vector<LogEntry>> TrimLog(const std::string& t, int64_t o) override {
      return m_->TrimLog(t, o);
    }
    Status Heartbeat(const std::string& g, const std::string& w) override {
      return m_->Heartbeat(g, w);
    }
    Result<std::vector<std::string>> LiveWorkers(const std::string& g,
                                                 std::chrono::seconds ttl) override {
      return m_->LiveWorkers(g, ttl);
    }
    Status RemoveWorker(const std::string& g, const std::string& w) override {
      return m_->RemoveWorker(g, w);
    }
    Result<std::optional<std::string>> GetMeta(const std::string& k) override {
      return m_->GetMeta(k);
    }
    Status SetMeta(const std::string& k, const std::string& v) override {
      return m_->SetMeta(k, v);
    }
    Result<std::optional<TableState>> GetTable(const std::string& t) override {
      return m_->GetTable(t);
    }
    Status PutTable(const TableState& s) override { return m_->PutTable(s); }
    Result<Lsn> RecordMarker(const std::string& id, Lsn lsn,
                             const std::vector<std::string>& tables) override {
      return m_->RecordMarker(id, lsn, tables);
    }
    Result<std::vector<MarkerEmission>> PendingMarkers(const std::string& t) override {
      return m_->PendingMarkers(t);
    }
    Status EmitMarker(const std::string& id, const std::string& t, int64_t snapshot) override {
      return m_->EmitMarker(id, t, snapshot);
    }
    Result<std::vector<MarkerEmission>> Markers(int limit) override { return m_->Markers(limit); }
    Result<std::vector<MarkerEmission>> UnrecordedMarkers(int limit) override {
      return m_->UnrecordedMarkers(limit);
    }
    Status MarkersRecorded(const std::vector<MarkerEmission>& rows) override {
      return m_->MarkersRecorded(rows);
    }

   private:
    MemoryCoordinator* m_;
  };
  FakeClock clock_;
  MemoryCoordinator store_{&clock_};
};

class PgBackend : public Backend {
 public:
  explicit PgBackend(fixtures::PgCluster* pg, std::string schema)
      : pg_(pg), schema_(std::move(schema)) {}
  std::unique_ptr<Coordinator> Make() override {
    auto conn = pg::Connection::Connect(pg_->ConnString(), "coord test");
    EXPECT_TRUE(conn.ok()) << conn.status().ToString();
    return std::make_unique<PgCoordinator>(std::move(*conn), schema_);
  }
  std::string name() const override { return "postgres"; }

 private:
  fixtures::PgCluster* pg_;
  std::string schema_;
};

class CoordinatorTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() { fixtures::StartForSuite(pg_, fixtures::PgCluster::Start(), "PostgreSQL"); }
  static void TearDownTestSuite() { pg_.reset(); }
  void SetUp() override {
    if (GetParam() == "memory") {
      backend_ = std::make_unique<MemoryBackend>();
    } else {
      ASSERT_NE(pg_, nullptr);
      // A fresh schema per test, with characters that need quoting.
      schema_ = "_P2I \"coord\" " + std::to_string(counter_++);
      backend_ = std::make_unique<PgBackend>(pg_.get(), schema_);
    }
    coord_ = backend_->Make();
    PG2I_ASSERT_OK(coord_->Migrate());
  }
  static StagedFile File(const std::string& table, int64_t rows, uint64_t lsn = 100) {
    return StagedFile{table, "s3://b/staging/" + table + "/" + std::to_string(counter_++) +
                                 ".parquet",
                      rows, rows * 10, Lsn(lsn), Lsn(lsn + 10)};
  }

  static inline std::unique_ptr<fixtures::PgCluster> pg_;
  static inline int counter_ = 0;
  std::string schema_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Coordinator> coord_;
};

// Ownership (owner.h): PostgreSQL only, as it rests on an advisory lock.
TEST_P(CoordinatorTest, OneOwnerAtATimeAndInspectionTellsWhoAndHowItStopped) {
  if (GetParam() != "postgres") return;
  auto connect = [&]() {
    auto conn = pg::Connection::Connect(pg_->ConnString(), "owner test");
    EXPECT_TRUE(conn.ok()) << conn.status().ToString();
    return std::move(*conn);
  };
  auto observer = connect();
  PG2I_ASSERT_OK_AND_ASSIGN(OwnerInfo nobody, InspectOwner(*observer, schema_));
  EXPECT_FALSE(nobody.alive);
  EXPECT_FALSE(nobody.recorded);
  std::atomic<int> lost{0};
  OwnerLease::Options o{schema_, "run", 50ms, [&](const Status&) { ++lost; }};
  PG2I_ASSERT_OK_AND_ASSIGN(auto first, OwnerLease::Acquire(connect(), o));
  PG2I_ASSERT_OK(first->Register());
  PG2I_ASSERT_OK_AND_ASSIGN(OwnerInfo running, InspectOwner(*observer, schema_));
  EXPECT_TRUE(running.alive);
  EXPECT_EQ(running.command, "run");
  EXPECT_EQ(running.pid, static_cast<int64_t>(getpid()));
  EXPECT_TRUE(running.stopped_at.empty());
  // A second one is refused (after its short grace), naming the first.
  o.command = "snapshot";
  auto second = OwnerLease::Acquire(connect(), o);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("owns this pipeline"), std::string::npos);
  EXPECT_NE(second.status().message().find("run pid " + std::to_string(getpid())),
            std::string::npos);
  // Heartbeats come; losing the session is reported once.
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(lost.load(), 0);
  first->RecordStop("boom: what went wrong");
  first.reset();
  // The server releases the lock once it has seen the session close (a moment later).
  OwnerInfo stopped;
  for (int i = 0; i < 250; ++i) {
    PG2I_ASSERT_OK_AND_ASSIGN(stopped, InspectOwner(*observer, schema_));
    if (!stopped.alive) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_FALSE(stopped.alive);
  EXPECT_FALSE(stopped.stopped_at.empty());
  EXPECT_EQ(stopped.last_error, "boom: what went wrong");
  // Now another may own it; a terminated session is noticed by the heartbeat.
  PG2I_ASSERT_OK_AND_ASSIGN(auto third, OwnerLease::Acquire(connect(), o));
  PG2I_ASSERT_OK(third->Register());
  PG2I_ASSERT_OK(observer->Exec(
      "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND pid <> "
      "pg_backend_pid()"));
  for (int i = 0; i < 100 && lost.load() == 0; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(lost.load(), 1);
}

TEST_P(CoordinatorTest, MigrateIsIdempotentAndCreatesUpstreamTables) {
  PG2I_ASSERT_OK(coord_->Migrate());
  PG2I_ASSERT_OK(backend_->Make()->Migrate());
  if (GetParam() != "postgres") return;
  PG2I_ASSERT_OK_AND_ASSIGN(
      std::string names,
      pg_->QueryScalar("SELECT string_agg(table_name, ',' ORDER BY table_name) FROM "
                       "information_schema.tables WHERE table_schema = '" + schema_ + "'"));
  // Upstream's tables, plus `owner` (the process that owns the pipeline, coord/owner.h).
  EXPECT_EQ(names,
            "consumer,flushed_lsn,log_deferred,log_index,log_seq,marker_emissions,mat_cursor,owner,"
            "pending_markers,pipeline_meta,query_watermarks,snapshot_progress,tables");
}

TEST_P(CoordinatorTest, ClaimsContiguousRangesPerTable) {
  PG2I_ASSERT_OK_AND_ASSIGN(auto a, coord_->ClaimOffsets({File("t1", 5), File("t2", 3),
                                                          File("t1", 2)}));
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].start_offset, 0);
  EXPECT_EQ(a[0].end_offset, 5);
  EXPECT_EQ(a[1].start_offset, 0);
  EXPECT_EQ(a[1].end_offset, 3);
  EXPECT_EQ(a[2].start_offset, 5);
  EXPECT_EQ(a[2].end_offset, 7);
  PG2I_ASSERT_OK_AND_ASSIGN(auto b, coord_->ClaimOffsets({File("t1", 1, 500)}));
  EXPECT_EQ(b[0].start_offset, 7);
  EXPECT_EQ(*coord_->NextOffset("t1"), 8);
  EXPECT_EQ(*coord_->NextOffset("none"), 0);
  PG2I_ASSERT_OK_AND_ASSIGN(auto log, coord_->ReadLog("t1", 0, 100));
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0], a[0]);
  EXPECT_EQ(log[2].min_commit_lsn, Lsn(500));
  EXPECT_EQ(log[2].max_commit_lsn, Lsn(510));
  EXPECT_EQ(coord_->ReadLog("t1", 5, 100)->size(), 2u);  // entries ending after offset 5
  EXPECT_EQ(coord_->ReadLog("t1", 6, 100)->size(), 2u);  // [5,7) still has offset 6
  EXPECT_EQ(coord_->ReadLog("t1", 7, 100)->size(), 1u);
  EXPECT_EQ(coord_->ReadLog("t1", 0, 1)->size(), 1u);
  EXPECT_EQ(coord_->ClaimOffsets({File("t1", 0)}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_P(CoordinatorTest, ConcurrentClaimersNeverOverlap) {
  constexpr int kThreads = 4, kClaims = 25;
  std::vector<std::vector<LogEntry>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto c = backend_->Make();
      for (int i = 0; i < kClaims; ++i) {
        auto r = c->ClaimOffsets({File("hot", 1 + (i % 3)), File("other", 1)});
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        got[t].insert(got[t].end(), r->begin(), r->end());
      }
    });
  }
  for (auto& th : threads) th.join();
  std::map<int64_t, int64_t> ranges;  // start → end for "hot"
  int64_t total = 0;
  for (const auto& v : got) {
    for (const auto& e : v) {
      if (e.table != "hot") continue;
      EXPECT_TRUE(ranges.emplace(e.start_offset, e.end_offset).second);
      total += e.rows;
    }
  }
  int64_t expect = 0;
  for (const auto& [s, e] : ranges) {
    EXPECT_EQ(s, expect) << "gap or overlap";
    expect = e;
  }
  EXPECT_EQ(expect, total);
  EXPECT_EQ(*coord_->NextOffset("other"), kThreads * kClaims);
}

TEST_P(CoordinatorTest, CursorsOnlyMoveForwardAndBoundGarbageCollection) {
  PG2I_ASSERT_OK(coord_->ClaimOffsets({File("t", 10), File("t", 10), File("t", 10)}).status());
  EXPECT_EQ(coord_->GetCursor("g1", "t")->offset, 0);
  EXPECT_EQ(coord_->GetCursor("g1", "t")->snapshot_id, -1);
  PG2I_ASSERT_OK(coord_->SetCursor("g1", "t", {20, 111}));
  PG2I_ASSERT_OK(coord_->SetCursor("g1", "t", {10, 99}));  // a replay: ignored
  EXPECT_EQ(coord_->GetCursor("g1", "t")->offset, 20);
  EXPECT_EQ(coord_->GetCursor("g1", "t")->snapshot_id, 111);
  PG2I_ASSERT_OK(coord_->SetCursor("g2", "t", {10, 5}));
  EXPECT_EQ(**coord_->MinCursor("t"), 10);
  EXPECT_FALSE(coord_->MinCursor("nobody")->has_value());
  PG2I_ASSERT_OK_AND_ASSIGN(auto trimmed, coord_->TrimLog("t", **coord_->MinCursor("t")));
  ASSERT_EQ(trimmed.size(), 1u);
  EXPECT_EQ(trimmed[0].end_offset, 10);
  EXPECT_EQ(coord_->ReadLog("t", 0, 10)->size(), 2u);
}

TEST_P(CoordinatorTest, FlushedLsnNeverGoesBack) {
  EXPECT_FALSE(coord_->FlushedLsn("slot")->has_value());
  PG2I_ASSERT_OK(coord_->RecordFlushedLsn("slot", Lsn(0x1000)));
  PG2I_ASSERT_OK(coord_->RecordFlushedLsn("slot", Lsn(0x800)));
  EXPECT_EQ(**coord_->FlushedLsn("slot"), Lsn(0x1000));
  PG2I_ASSERT_OK(coord_->RecordFlushedLsn("slot", Lsn(0x2000)));
  EXPECT_EQ(**backend_->Make()->FlushedLsn("slot"), Lsn(0x2000));
}

// The WAL writer's claim records how far the WAL is staged in the same transaction: a
// process that receives those transactions again after a crash knows they are in the log.
TEST_P(CoordinatorTest, AClaimRecordsHowFarItStagesWithTheFiles) {
  PG2I_ASSERT_OK(coord_->RecordFlushedLsn("slot", Lsn(0x1000)));
  PG2I_ASSERT_OK(
      coord_->ClaimOffsets({File("t1", 2)}, StagedThrough{"slot", Lsn(0x3000), {{"k", "v1"}}})
          .status());
  EXPECT_EQ(**backend_->Make()->FlushedLsn("slot"), Lsn(0x3000));
  EXPECT_EQ(*backend_->Make()->GetMeta("k"), std::optional<std::string>("v1"));
  // Never back, and a failed claim records nothing.
  PG2I_ASSERT_OK(coord_->ClaimOffsets({File("t1", 1)}, StagedThrough{"slot", Lsn(0x2000)}).status());
  EXPECT_EQ(coord_->ClaimOffsets({File("t1", 0)}, StagedThrough{"slot", Lsn(0x9000), {{"k", "v2"}}})
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(*backend_->Make()->GetMeta("k"), std::optional<std::string>("v1"));
  EXPECT_EQ(**backend_->Make()->FlushedLsn("slot"), Lsn(0x3000));
  EXPECT_EQ(*coord_->NextOffset("t1"), 3);
}

TEST_P(CoordinatorTest, WorkersMetaAndTables) {
  PG2I_ASSERT_OK(coord_->Heartbeat("g", "worker-b"));
  PG2I_ASSERT_OK(coord_->Heartbeat("g", "worker-a"));
  PG2I_ASSERT_OK(coord_->Heartbeat("other", "worker-c"));
  EXPECT_EQ(*coord_->LiveWorkers("g", 3600s), (std::vector<std::string>{"worker-a", "worker-b"}));
  PG2I_ASSERT_OK(coord_->RemoveWorker("g", "worker-a"));
  EXPECT_EQ(*coord_->LiveWorkers("g", 3600s), std::vector<std::string>{"worker-b"});
  EXPECT_FALSE(coord_->GetMeta("system_identifier")->has_value());
  PG2I_ASSERT_OK(coord_->SetMeta("system_identifier", "7311"));
  PG2I_ASSERT_OK(coord_->SetMeta("system_identifier", "7312"));
  EXPECT_EQ(**coord_->GetMeta("system_identifier"), "7312");
  TableState t{"public.orders", 16384, false, Lsn()};
  PG2I_ASSERT_OK(coord_->PutTable(t));
  t.snapshot_complete = true;
  t.snapshot_lsn = Lsn(0xABC);
  PG2I_ASSERT_OK(coord_->PutTable(t));
  PG2I_ASSERT_OK_AND_ASSIGN(auto got, coord_->GetTable("public.orders"));
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->snapshot_complete);
  EXPECT_EQ(got->relid, 16384u);
  EXPECT_EQ(got->snapshot_lsn, Lsn(0xABC));
  EXPECT_FALSE(coord_->GetTable("public.none")->has_value());
}

// A table whose snapshot is running: its CDC files wait, snapshot chunks get offsets, and on
// completion the waiting files follow every snapshot file, in the order they were staged.
TEST_P(CoordinatorTest, CdcFilesOfASnapshottingTableWaitBehindTheSnapshot) {
  PG2I_ASSERT_OK(coord_->PutTable({"t", 1, false, Lsn()}));
  PG2I_ASSERT_OK(coord_->PutTable({"done", 2, true, Lsn(1)}));
  PG2I_ASSERT_OK_AND_ASSIGN(auto a, coord_->ClaimOffsets({File("t", 4, 900), File("done", 2)}));
  EXPECT_EQ(a[0].start_offset, -1);  // deferred
  EXPECT_EQ(a[1].start_offset, 0);
  EXPECT_EQ(*coord_->DeferredFiles("t"), 1);
  EXPECT_EQ(*coord_->NextOffset("t"), 0);
  SnapshotChunk c1{"t", 0, 0, 2048, 10, Lsn(50)};  // with the LSN of its snapshot
  PG2I_ASSERT_OK_AND_ASSIGN(auto s1, coord_->ClaimSnapshotChunk({File("t", 10, 50)}, c1));
  EXPECT_EQ(s1[0].start_offset, 0);
  PG2I_ASSERT_OK(coord_->ClaimOffsets({File("t", 3, 950)}).status());
  SnapshotChunk c2{"t", 1, 2048, -1, 5, Lsn(50)};
  PG2I_ASSERT_OK(coord_->ClaimSnapshotChunk({File("t", 5, 50)}, c2).status());
  EXPECT_EQ(*coord_->SnapshotChunks("t"), (std::vector<SnapshotChunk>{c1, c2}));
  EXPECT_EQ(*coord_->NextOffset("t"), 15);
  EXPECT_EQ(*coord_->DeferredFiles("t"), 2);
  PG2I_ASSERT_OK(coord_->CompleteSnapshot("t", Lsn(50)));
  EXPECT_EQ(*coord_->DeferredFiles("t"), 0);
  PG2I_ASSERT_OK_AND_ASSIGN(auto log, coord_->ReadLog("t", 0, 100));
  ASSERT_EQ(log.size(), 4u);
  // Each entry says what it holds, whatever its name (these names say nothing).
  EXPECT_EQ(log[0].kind, io::StagedKind::kSnapshot);
  EXPECT_EQ(log[1].kind, io::StagedKind::kSnapshot);
  EXPECT_EQ(log[2].kind, io::StagedKind::kChanges);
  EXPECT_EQ(log[3].kind, io::StagedKind::kChanges);
  EXPECT_EQ(log[2].start_offset, 15);
  EXPECT_EQ(log[2].min_commit_lsn, Lsn(900));  // the first deferred file comes first
  EXPECT_EQ(log[3].start_offset, 19);
  EXPECT_EQ(log[3].min_commit_lsn, Lsn(950));
  PG2I_ASSERT_OK_AND_ASSIGN(std::optional<TableState> st, coord_->GetTable("t"));
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(st->snapshot_complete);
  EXPECT_EQ(st->snapshot_lsn, Lsn(50));
  // Once complete, CDC files get offsets directly.
  PG2I_ASSERT_OK_AND_ASSIGN(auto after, coord_->ClaimOffsets({File("t", 1, 990)}));
  EXPECT_EQ(after[0].start_offset, 22);
  EXPECT_TRUE(coord_->SnapshotChunks("none")->empty());
  PG2I_ASSERT_OK(coord_->ForgetSnapshotProgress("t"));
  EXPECT_TRUE(coord_->SnapshotChunks("t")->empty());
}

// A copy started over (DDL changed the rows it read): the changes that waited behind it predate
// the new copy, so they go into the log before the new resync offset, which the new copy's
// first batch replaces; its finished chunks are forgotten.
TEST_P(CoordinatorTest, ARestartedCopyPutsTheWaitingChangesBeforeTheNewCopy) {
  PG2I_ASSERT_OK(coord_->PutTable({"t", 1, false, Lsn()}));
  PG2I_ASSERT_OK(coord_->ClaimSnapshotChunk({File("t", 10, 50)}, {"t", 0, 0, -1, 10}).status());
  PG2I_ASSERT_OK(coord_->ClaimOffsets({File("t", 4, 900), File("t", 2, 950)}).status());
  EXPECT_EQ(*coord_->DeferredFiles("t"), 2);
  PG2I_ASSERT_OK_AND_ASSIGN(int64_t at, coord_->RestartCopy("t"));
  EXPECT_EQ(at, 16);
  EXPECT_EQ(*coord_->GetMeta("resync_offset:t"), std::optional<std::string>("16"));
  EXPECT_EQ(*coord_->DeferredFiles("t"), 0);
  EXPECT_TRUE(coord_->SnapshotChunks("t")->empty());
  PG2I_ASSERT_OK_AND_ASSIGN(auto log, coord_->ReadLog("t", 0, 100));
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0].kind, io::StagedKind::kSnapshot);
  EXPECT_EQ(log[1].kind, io::StagedKind::kChanges);  // released, still changes
  EXPECT_EQ(log[2].kind, io::StagedKind::kChanges);
  EXPECT_EQ(log[1].start_offset, 10);
  EXPECT_EQ(log[1].min_commit_lsn, Lsn(900));
  EXPECT_EQ(log[2].start_offset, 14);
  // Still incomplete: later changes wait behind the new copy.
  EXPECT_EQ(coord_->ClaimOffsets({File("t", 1, 990)})->at(0).start_offset, -1);
  EXPECT_FALSE(coord_->GetTable("t")->value().snapshot_complete);
}

// Commit turns (liveness for a table's committers): one holder at a time per table and schema;
// a turn that does not come within the wait is refused, and comes once the holder ends it or
// its session ends.
TEST_P(CoordinatorTest, CommitTurnsAreTakenOneAtATimePerTable) {
  if (GetParam() != "postgres") return;
  std::unique_ptr<Coordinator> other = backend_->Make();
  PG2I_ASSERT_OK_AND_ASSIGN(bool mine, coord_->TakeCommitTurn("db.t", std::chrono::seconds(1)));
  EXPECT_TRUE(mine);
  PG2I_ASSERT_OK_AND_ASSIGN(bool refused,
                            other->TakeCommitTurn("db.t", std::chrono::milliseconds(100)));
  EXPECT_FALSE(refused);
  PG2I_ASSERT_OK_AND_ASSIGN(bool elsewhere,
                            other->TakeCommitTurn("db.u", std::chrono::milliseconds(100)));
  EXPECT_TRUE(elsewhere);  // another table's turn
  PG2I_ASSERT_OK(other->EndCommitTurn("db.u"));
  PG2I_ASSERT_OK(coord_->EndCommitTurn("db.t"));
  PG2I_ASSERT_OK_AND_ASSIGN(bool theirs, other->TakeCommitTurn("db.t", std::chrono::seconds(1)));
  EXPECT_TRUE(theirs);
  other.reset();  // a holder that goes away (a killed process) gives the turn up
  PG2I_ASSERT_OK_AND_ASSIGN(bool again, coord_->TakeCommitTurn("db.t", std::chrono::seconds(5)));
  EXPECT_TRUE(again);
  PG2I_ASSERT_OK(coord_->EndCommitTurn("db.t"));
}

// Entries registered before the kind was recorded (kind NULL): the file's name says it.
TEST(PgCoordinatorTest, AnEntryWithoutAKindIsKnownByItsName) {
  PG2I_ASSERT_OK_AND_ASSIGN(auto pg, fixtures::PgCluster::Start());
  auto conn = pg::Connection::Connect(pg->ConnString(), "t");
  ASSERT_TRUE(conn.ok());
  PgCoordinator c(std::move(*conn), "_pg2iceberg");
  PG2I_ASSERT_OK(c.Migrate());
  PG2I_ASSERT_OK(pg->Exec(
      "INSERT INTO _pg2iceberg.log_index (table_name, start_offset, end_offset, uri, rows, bytes) "
      "VALUES ('t', 0, 5, 's3://b/staging/t/snapshot-1.parquet', 5, 50), "
      "('t', 5, 7, 's3://b/staging/t/2.parquet', 2, 20)"));
  PG2I_ASSERT_OK_AND_ASSIGN(auto log, c.ReadLog("t", 0, 10));
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].kind, io::StagedKind::kSnapshot);
  EXPECT_EQ(log[1].kind, io::StagedKind::kChanges);
}

TEST(PgCoordinatorTest, AFailedClaimRegistersNothing) {
  PG2I_ASSERT_OK_AND_ASSIGN(auto pg, fixtures::PgCluster::Start());
  auto conn = pg::Connection::Connect(pg->ConnString(), "t");
  ASSERT_TRUE(conn.ok());
  PgCoordinator c(std::move(*conn), "_pg2iceberg");
  PG2I_ASSERT_OK(c.Migrate());
  PG2I_ASSERT_OK(c.ClaimOffsets({{"t", "ok-1", 3, 1, Lsn(1), Lsn(2)}}).status());
  // Make the second insert of the next claim fail inside the transaction.
  PG2I_ASSERT_OK(pg->Exec("ALTER TABLE _pg2iceberg.log_index ADD CONSTRAINT no_bad "
                          "CHECK (uri <> 'bad')"));
  auto r = c.ClaimOffsets({{"t", "ok-2", 4, 1, Lsn(3), Lsn(4)}, {"t", "bad", 2, 1, Lsn(5), Lsn(6)}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(*c.NextOffset("t"), 3);  // the reservation rolled back with the inserts
  EXPECT_EQ(c.ReadLog("t", 0, 10)->size(), 1u);
  PG2I_ASSERT_OK_AND_ASSIGN(auto again, c.ClaimOffsets({{"t", "ok-2", 4, 1, Lsn(3), Lsn(4)}}));
  EXPECT_EQ(again[0].start_offset, 3);
}

// A marker is pending per copied table at the table's next offset, recorded once (a replay
// changes nothing; the same id at another LSN is reported, not recorded again), and emitted
// with the snapshot that holds what came before it.
TEST_P(CoordinatorTest, MarkersArePendingPerCopiedTableAtItsNextOffsetUntilEmitted) {
  PG2I_ASSERT_OK(coord_->PutTable({"t1", 1, true, Lsn(1)}));
  PG2I_ASSERT_OK(coord_->PutTable({"t2", 2, true, Lsn(1)}));
  PG2I_ASSERT_OK(coord_->PutTable({"copying", 3, false, Lsn()}));
  PG2I_ASSERT_OK(coord_->ClaimOffsets({File("t1", 5)}).status());
  EXPECT_EQ(*coord_->RecordMarker("m1", Lsn(0x100), {"t1", "t2", "copying"}), Lsn(0x100));
  PG2I_ASSERT_OK(coord_->ClaimOffsets({File("t1", 2)}).status());
  // A replay after a crash before the marker's transaction was confirmed: nothing moves.
  EXPECT_EQ(*coord_->RecordMarker("m1", Lsn(0x100), {"t1", "t2", "copying"}), Lsn(0x100));
  // The id used again later: the first one stands.
  EXPECT_EQ(*coord_->RecordMarker("m1", Lsn(0x200), {"t1", "t2"}), Lsn(0x100));
  EXPECT_EQ(*coord_->RecordMarker("m2", Lsn(0x300), {"t1", "t2"}), Lsn(0x300));
  PG2I_ASSERT_OK_AND_ASSIGN(auto t1, coord_->PendingMarkers("t1"));
  ASSERT_EQ(t1.size(), 2u);
  EXPECT_EQ(t1[0], (MarkerEmission{"m1", Lsn(0x100), "t1", 5, -1, false}));
  EXPECT_EQ(t1[1], (MarkerEmission{"m2", Lsn(0x300), "t1", 7, -1, false}));
  PG2I_ASSERT_OK_AND_ASSIGN(auto t2, coord_->PendingMarkers("t2"));
  ASSERT_EQ(t2.size(), 2u);
  EXPECT_EQ(t2[0].log_offset, 0);
  EXPECT_TRUE(coord_->PendingMarkers("copying")->empty());  // its copy is not complete
  PG2I_ASSERT_OK(coord_->EmitMarker("m1", "t1", 42));
  PG2I_ASSERT_OK(coord_->EmitMarker("m1", "t2", -1));
  EXPECT_EQ(coord_->PendingMarkers("t1")->size(), 1u);
  PG2I_ASSERT_OK_AND_ASSIGN(auto all, backend_->Make()->Markers(10));
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].marker_id, "m2");  // newest first
  EXPECT_EQ(all[2], (MarkerEmission{"m1", Lsn(0x100), "t1", 5, 42, true}));
  EXPECT_EQ(all[3], (MarkerEmission{"m1", Lsn(0x100), "t2", 0, -1, true}));
  EXPECT_EQ(coord_->Markers(1)->size(), 2u);
  // Appended to the meta table: emitted rows until marked recorded.
  PG2I_ASSERT_OK_AND_ASSIGN(auto unrecorded, coord_->UnrecordedMarkers(10));
  ASSERT_EQ(unrecorded.size(), 2u);
  EXPECT_EQ(unrecorded[0].table, "t1");
  EXPECT_EQ(unrecorded[1].table, "t2");
  PG2I_ASSERT_OK(coord_->MarkersRecorded({unrecorded[0]}));
  PG2I_ASSERT_OK_AND_ASSIGN(auto left, backend_->Make()->UnrecordedMarkers(10));
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].table, "t2");
  EXPECT_TRUE(left[0].emitted && !left[0].recorded);
  PG2I_ASSERT_OK(coord_->MarkersRecorded(left));
  EXPECT_TRUE(coord_->UnrecordedMarkers(10)->empty());
}

INSTANTIATE_TEST_SUITE_P(Backends, CoordinatorTest, ::testing::Values("memory", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace pg2iceberg::coord
