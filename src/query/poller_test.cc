// The query-mode poller against a real PostgreSQL 15 at wal_level=replica (no logical
// replication), with the coordinator in the same server: exact paging over ties, progress
// registered with the rows it covers, late commits through the lookback, a custom query.
#include "query/poller.h"
#include "query/query_service.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>

#include "coord/pg_coordinator.h"
#include "fixtures/gtest_support.h"
#include "fixtures/pg_cluster.h"
#include "fixtures/temp_dir.h"
#include "io/arrow_file_io.h"
#include "io/fault_injection.h"
#include "pg/catalog.h"
#include "pg/values.h"

namespace pg2iceberg::query {
namespace {

using fixtures::PgCluster;

class PollerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fixtures::PgClusterOptions o;
    o.settings = {{"wal_level", "replica"}};
    fixtures::StartForSuite(pg_, PgCluster::Start(o), "PostgreSQL");
  }
  static void TearDownTestSuite() { pg_.reset(); }

  void SetUp() override {
    ASSERT_NE(pg_, nullptr) << "suite setup failed, see above";
    ASSERT_EQ(*pg_->QueryScalar("SHOW wal_level"), "replica");
    PG2I_ASSERT_OK_AND_ASSIGN(auto dir, fixtures::TempDir::Create("pg2i-poller-"));
    dir_ = std::make_unique<fixtures::TempDir>(std::move(dir));
    PG2I_ASSERT_OK(pg_->Exec("SET client_min_messages = warning; DROP TABLE IF EXISTS t; "
                             "DROP SCHEMA IF EXISTS coord CASCADE; "
                             "CREATE TABLE t (id int PRIMARY KEY, wm bigint, v text)"));
    PG2I_ASSERT_OK_AND_ASSIGN(auto conn, pg::Connection::Connect(pg_->ConnString(), "test"));
    coord_ = std::make_unique<coord::PgCoordinator>(std::move(conn), "coord");
    PG2I_ASSERT_OK(coord_->Migrate());
    PG2I_ASSERT_OK(coord_->PutTable({"public.t", 0, true, Lsn()}));
    PG2I_ASSERT_OK_AND_ASSIGN(source_, pg::Connection::Connect(pg_->ConnString(), "source"));
    io_ = io::ArrowFileIO::MakeLocal();
  }

  Result<PolledTable> Table() {
    const config::TableName name{"public", "t"};
    PG2I_ASSIGN_OR_RETURN(pg::TableInfo info, pg::DiscoverTable(*source_, name));
    PolledTable t;
    t.name = "public.t";
    t.quoted = "public.t";
    t.relation.table = t.name;
    t.relation.oid = info.oid;
    for (const auto& c : info.columns) {
      t.relation.columns.push_back(stage::StagedColumn{
          c.name, c.base_type_oid, c.typmod, pg::MapType(c.base_type_oid, c.typmod).type,
          c.nullable, c.attnum});
      t.sql_types.push_back(c.name == "id" ? "integer" : c.name == "wm" ? "bigint" : "text");
    }
    t.relation.key = {0};
    t.watermark = 1;
    return t;
  }

  PollerOptions Options(int batch) {
    PollerOptions o;
    o.staging_uri = "file://" + dir_->str() + "/staging";
    o.batch_size = batch;
    o.clock = &clock_;
    o.lookback = std::chrono::minutes(5);
    return o;
  }

  Result<std::unique_ptr<TablePoller>> Poller(PollerOptions o,
                                              std::shared_ptr<io::FileIO> io = nullptr) {
    PG2I_ASSIGN_OR_RETURN(PolledTable t, Table());
    auto p = std::make_unique<TablePoller>(std::move(t), std::move(o), coord_.get(),
                                           io ? io : io_);
    PG2I_RETURN_IF_ERROR(p->Load());
    return p;
  }

  // Every staged row of public.t in log order: id → times staged, and the v of its last image.
  struct Staged {
    std::map<int32_t, int> times;
    std::map<int32_t, std::string> last_v;
    int64_t rows = 0;
  };
  Result<Staged> StagedRows() {
    PG2I_ASSIGN_OR_RETURN(auto entries, coord_->ReadLog("public.t", -1, 100000));
    Staged out;
    for (const auto& e : entries) {
      PG2I_ASSIGN_OR_RETURN(auto f, stage::DecodeStagedFile(io_, e.uri));
      for (const auto& sc : f.changes) {
        const int32_t id = std::get<int32_t>(sc.change.values[0]);
        ++out.times[id];
        out.last_v[id] = std::get<std::string>(sc.change.values[2]);
        ++out.rows;
      }
    }
    return out;
  }

  static std::unique_ptr<PgCluster> pg_;
  std::unique_ptr<fixtures::TempDir> dir_;
  std::unique_ptr<coord::PgCoordinator> coord_;
  std::unique_ptr<pg::Connection> source_;
  std::shared_ptr<io::FileIO> io_;
  FakeClock clock_;
};

std::unique_ptr<PgCluster> PollerTest::pg_;

TEST_F(PollerTest, RowsSharingOneWatermarkBeyondAPageAllArrive) {
  PG2I_ASSERT_OK(pg_->Exec("INSERT INTO t SELECT g, 7, 'v' || g FROM generate_series(1, 1000) g"));
  PG2I_ASSERT_OK_AND_ASSIGN(auto p, Poller(Options(10)));
  int64_t total = 0;
  for (int i = 0; i < 20 && total < 1000; ++i) {
    PG2I_ASSERT_OK_AND_ASSIGN(int64_t n, p->Poll(*source_));
    total += n;
  }
  EXPECT_EQ(total, 1000);
  PG2I_ASSERT_OK_AND_ASSIGN(Staged s, StagedRows());
  EXPECT_EQ(s.times.size(), 1000u);
  EXPECT_EQ(s.rows, 1000);
  // Caught up: nothing more, and a new row after the tie arrives.
  PG2I_ASSERT_OK_AND_ASSIGN(int64_t again, p->Poll(*source_));
  EXPECT_EQ(again, 0);
  PG2I_ASSERT_OK(pg_->Exec("INSERT INTO t VALUES (0, 7, 'zero'), (2000, 8, 'x')"));
  PG2I_ASSERT_OK_AND_ASSIGN(int64_t two, p->Poll(*source_));
  EXPECT_EQ(two, 1);
  // id 0 shares the watermark 7 but sorts before the cursor's key, as a row committed late
  // would: the lookback's re-read finds it, and only it.
  clock_.Advance(std::chrono::minutes(6));
  PG2I_ASSERT_OK_AND_ASSIGN(int64_t late, p->Poll(*source_));
  EXPECT_EQ(late, 1);
  PG2I_ASSERT_OK_AND_ASSIGN(Staged after, StagedRows());
  EXPECT_EQ(after.times.size(), 1002u);
  EXPECT_EQ(after.rows, 1002);
}

TEST_F(PollerTest, ProgressIsRegisteredWithThePageSoARestartNeitherSkipsNorRepeats) {
  PG2I_ASSERT_OK(pg_->Exec("INSERT INTO t SELECT g, g / 3, 'v' || g FROM generate_series(1, 95) g"));
  PollerOptions o = Options(10);
  o.max_pages = 2;
  {
    PG2I_ASSERT_OK_AND_ASSIGN(auto p, Poller(o));
    PG2I_ASSERT_OK_AND_ASSIGN(int64_t n, p->Poll(*source_));
    EXPECT_EQ(n, 20);
  }
  // A failed upload: nothing registered, the cursor stays.
  auto faulty = std::make_shared<io::FaultInjectingFileIO>(io_);
  faulty->FailNth(io::FaultOp::kNewWriter, 1, Unavailable("injected"));
  faulty->FailNth(io::FaultOp::kWrite, 1, Unavailable("injected"));
  {
    PG2I_ASSERT_OK_AND_ASSIGN(auto p, Poller(o, faulty));
    EXPECT_FALSE(p->Poll(*source_).ok());
  }
  int64_t total = 20;
  for (int i = 0; i < 10 && total < 95; ++i) {
    PG2I_ASSERT_OK_AND_ASSIGN(auto p, Poller(o));  // a new process each time
    PG2I_ASSERT_OK_AND_ASSIGN(int64_t n, p->Poll(*source_));
    total += n;
  }
  EXPECT_EQ(total, 95);
  PG2I_ASSERT_OK_AND_ASSIGN(Staged s, StagedRows());
  EXPECT_EQ(s.times.size(), 95u);
  for (const auto& [id, times] : s.times) EXPECT_EQ(times, 1) << id;
}

TEST_F(PollerTest, ARowCommittedLateWithAnOlderWatermarkArrivesThroughTheLookback) {
  PG2I_ASSERT_OK(pg_->Exec("INSERT INTO t SELECT g, g, 'v' || g FROM generate_series(1, 10) g"));
  PollerOptions o = Options(100);
  o.lookback = std::chrono::seconds(30);
  PG2I_ASSERT_OK_AND_ASSIGN(auto p, Poller(o));
  PG2I_ASSERT_OK_AND_ASSIGN(auto late, pg::Connection::Connect(pg_->ConnString(), "late"));
  // A long transaction takes watermark 11 and commits after rows with 12..20 were read.
  PG2I_ASSERT_OK(late->Exec("BEGIN; INSERT INTO t VALUES (11, 11, 'late')"));
  PG2I_ASSERT_OK_AND_ASSIGN(int64_t first, p->Poll(*source_));
  EXPECT_EQ(first, 10);
  for (int i = 12; i <= 20; ++i) {
    PG2I_ASSERT_OK(pg_->Exec("INSERT INTO t VALUES (" + std::to_string(i) + ", " +
                             std::to_string(i) + ", 'v')"));
    clock_.Advance(std::chrono::seconds(2));
    PG2I_ASSERT_OK(p->Poll(*source_).status());
  }
  PG2I_ASSERT_OK(late->Exec("COMMIT"));
  {
    PG2I_ASSERT_OK_AND_ASSIGN(Staged s, StagedRows());
    EXPECT_EQ(s.times.count(11), 0u) << "the cursor passed 11 before it committed";
  }
  clock_.Advance(std::chrono::seconds(31));
  PG2I_ASSERT_OK_AND_ASSIGN(int64_t n, p->Poll(*source_));
  EXPECT_EQ(n, 1) << "only the late row is staged again, not the rows already staged";
  PG2I_ASSERT_OK_AND_ASSIGN(Staged s, StagedRows());
  EXPECT_EQ(s.times[11], 1);
  EXPECT_EQ(s.times.size(), 20u);
}

TEST_F(PollerTest, ACustomQueryGetsTheLastWatermarkAndThePageSize) {
  PG2I_ASSERT_OK(pg_->Exec("INSERT INTO t SELECT g, g % 5, 'v' || g FROM generate_series(1, 60) g; "
                           "INSERT INTO t VALUES (100, 1, 'hidden')"));
  PollerOptions o = Options(7);
  o.custom_query = "SELECT id, wm, v FROM t WHERE v <> 'hidden' AND ($1::bigint IS NULL OR "
                   "wm >= $1::bigint) ORDER BY wm LIMIT $2::int";
  PG2I_ASSERT_OK_AND_ASSIGN(auto p, Poller(o));
  int64_t total = 0;
  for (int i = 0; i < 20; ++i) {
    PG2I_ASSERT_OK_AND_ASSIGN(int64_t n, p->Poll(*source_));
    total += n;
  }
  EXPECT_EQ(total, 60);
  PG2I_ASSERT_OK_AND_ASSIGN(Staged s, StagedRows());
  EXPECT_EQ(s.times.size(), 60u);
  EXPECT_EQ(s.times.count(100), 0u);
}

TEST_F(PollerTest, TheCopyIsFencedByItsSnapshotAndATransactionRunningAtItStillArrives) {
  PG2I_ASSERT_OK(pg_->Exec("INSERT INTO t SELECT g, g, 'v' || g FROM generate_series(1, 500) g"));
  PG2I_ASSERT_OK(coord_->PutTable({"public.t", 0, false, Lsn()}));
  // Running while the copy's snapshot is taken: watermark 3, committed after the copy.
  PG2I_ASSERT_OK_AND_ASSIGN(auto late, pg::Connection::Connect(pg_->ConnString(), "late"));
  PG2I_ASSERT_OK(late->Exec("BEGIN; INSERT INTO t VALUES (1001, 3, 'late')"));
  QueryServiceOptions so;
  const std::string conninfo = pg_->ConnString();
  so.connect = [conninfo]() { return pg::Connection::Connect(conninfo, "copy"); };
  so.coordinator = [conninfo]() -> Result<std::unique_ptr<coord::Coordinator>> {
    PG2I_ASSIGN_OR_RETURN(auto c, pg::Connection::Connect(conninfo, "coord"));
    return std::unique_ptr<coord::Coordinator>(
        std::make_unique<coord::PgCoordinator>(std::move(c), "coord"));
  };
  so.io = io_;
  so.staging_uri = "file://" + dir_->str() + "/staging";
  so.copy_chunk_pages = 1;
  PG2I_ASSERT_OK_AND_ASSIGN(PolledTable table, Table());
  QueryTable qt{table, Options(100), true};
  int beats = 0;  // the lane's liveness while a long copy runs
  PG2I_ASSERT_OK(CopyTable(so, qt, *coord_, nullptr, [&beats] { ++beats; }));
  EXPECT_GE(beats, 1);
  PG2I_ASSERT_OK(pg_->Exec("INSERT INTO t VALUES (600, 600, 'after')"));
  PG2I_ASSERT_OK_AND_ASSIGN(auto p, Poller(Options(100)));
  PG2I_ASSERT_OK_AND_ASSIGN(int64_t n, p->Poll(*source_));
  EXPECT_EQ(n, 1) << "only the row after the fence; the late one's transaction still runs";
  EXPECT_TRUE(p->progress().after_copy.has_value());
  PG2I_ASSERT_OK(late->Exec("COMMIT"));
  PG2I_ASSERT_OK_AND_ASSIGN(int64_t m, p->Poll(*source_));
  EXPECT_GE(m, 1);
  EXPECT_FALSE(p->progress().after_copy.has_value());
  PG2I_ASSERT_OK_AND_ASSIGN(Staged s, StagedRows());
  EXPECT_EQ(s.times.size(), 502u);
  EXPECT_EQ(s.times[1001], 1);
  EXPECT_EQ(s.times[600], 1);
  EXPECT_EQ(s.times[250], 1) << "copied once, not read again";
}

TEST_F(PollerTest, ProgressRoundTripsThroughJson) {
  Progress p;
  p.cursor = {std::string("2026-01-01 00:00:00+00"), {"a\"b", "7"}};
  p.history = {{5, Position{}}, {9, Position{std::string("1"), {}}}};
  p.last_sweep_ms = 42;
  p.after_copy = Progress::AfterCopy{"10:12:10", "13", Position{std::string("3"), {"1"}}};
  PG2I_ASSERT_OK_AND_ASSIGN(Progress back, DecodeProgress(EncodeProgress(p)));
  EXPECT_EQ(back, p);
  EXPECT_FALSE(DecodeProgress("{").ok());
}

}  // namespace
}  // namespace pg2iceberg::query
