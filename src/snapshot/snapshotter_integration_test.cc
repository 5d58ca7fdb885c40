// The snapshotter against a real PostgreSQL 15: a copy reads the columns that were discovered
// before its snapshot was taken, so DDL committed in between is caught under the snapshot.
#include <gtest/gtest.h>

#include <memory>

#include "coord/pg_coordinator.h"
#include "fixtures/gtest_support.h"
#include "fixtures/pg_cluster.h"
#include "fixtures/temp_dir.h"
#include "io/arrow_file_io.h"
#include "pg/catalog.h"
#include "pg/values.h"
#include "snapshot/snapshotter.h"

namespace pg2iceberg::snapshot {
namespace {

using fixtures::PgCluster;

class SnapshotterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { fixtures::StartForSuite(pg_, PgCluster::Start(), "PostgreSQL"); }
  static void TearDownTestSuite() { pg_.reset(); }

  void SetUp() override {
    ASSERT_NE(pg_, nullptr) << "suite setup failed, see above";
    PG2I_ASSERT_OK_AND_ASSIGN(auto dir, fixtures::TempDir::Create("pg2i-snapshotter-"));
    dir_ = std::make_unique<fixtures::TempDir>(std::move(dir));
    PG2I_ASSERT_OK(pg_->Exec("SET client_min_messages = warning; DROP TABLE IF EXISTS t; DROP SCHEMA IF EXISTS coord CASCADE; "
                             "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT "
                             "g, 'v' || g FROM generate_series(1, 100) g"));
    PG2I_ASSERT_OK_AND_ASSIGN(auto c, Coordinator());
    PG2I_ASSERT_OK(c->Migrate());
    PG2I_ASSERT_OK(c->PutTable({"public.t", 0, false, Lsn()}));
  }

  Result<std::unique_ptr<coord::Coordinator>> Coordinator() {
    PG2I_ASSIGN_OR_RETURN(auto conn, pg::Connection::Connect(pg_->ConnString(), "test"));
    return std::unique_ptr<coord::Coordinator>(
        std::make_unique<coord::PgCoordinator>(std::move(conn), "coord"));
  }

  // public.t as the pipeline discovers it before a copy.
  Result<SnapshotTable> Discovered() {
    PG2I_ASSIGN_OR_RETURN(auto conn, pg::Connection::Connect(pg_->ConnString(), "test"));
    const config::TableName name{"public", "t"};
    PG2I_ASSIGN_OR_RETURN(pg::TableInfo info, pg::DiscoverTable(*conn, name));
    SnapshotTable t{name, {}};
    t.relation.table = name.ToString();
    t.relation.oid = info.oid;
    for (const auto& c : info.columns) {
      t.relation.columns.push_back(stage::StagedColumn{
          c.name, c.base_type_oid, c.typmod, pg::MapType(c.base_type_oid, c.typmod).type,
          c.nullable, c.attnum});
    }
    t.relation.key = {0};
    return t;
  }

  SnapshotOptions Options() {
    SnapshotOptions o;
    const std::string conninfo = pg_->ConnString();
    o.connect = [conninfo]() { return pg::Connection::Connect(conninfo, "test"); };
    o.coordinator = [this]() { return Coordinator(); };
    o.io = io::ArrowFileIO::MakeLocal();
    o.staging_uri = "file://" + dir_->str() + "/staging";
    o.concurrency = 2;
    o.replication = [conninfo]() { return pg::ReplicationConnection::Connect(conninfo, "test"); };
    return o;
  }

  static std::unique_ptr<PgCluster> pg_;
  std::unique_ptr<fixtures::TempDir> dir_;
};

std::unique_ptr<PgCluster> SnapshotterTest::pg_;

TEST_F(SnapshotterTest, ACopyOfTheColumnsItWasGivenCompletes) {
  PG2I_ASSERT_OK_AND_ASSIGN(SnapshotTable t, Discovered());
  PG2I_ASSERT_OK_AND_ASSIGN(SnapshotResult r, RunSnapshot({t}, Options()));
  ASSERT_EQ(r.tables.size(), 1u);
  EXPECT_EQ(r.tables[0].rows_done, 100);
  PG2I_ASSERT_OK_AND_ASSIGN(auto c, Coordinator());
  PG2I_ASSERT_OK_AND_ASSIGN(auto st, c->GetTable("public.t"));
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(st->snapshot_complete);
}

// DDL between discovering the columns and taking the snapshot: the copy would read the rows
// without the added column (NULL in Iceberg for a column PostgreSQL gives 7), or fail on a
// dropped one. It stops with a retryable error instead, and nothing is recorded as copied.
TEST_F(SnapshotterTest, ColumnsChangedBeforeTheSnapshotEndTheCopyToBeStartedAgain) {
  PG2I_ASSERT_OK_AND_ASSIGN(SnapshotTable t, Discovered());
  PG2I_ASSERT_OK(pg_->Exec("ALTER TABLE t ADD COLUMN flag int NOT NULL DEFAULT 7"));
  auto r = RunSnapshot({t}, Options());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kAborted) << r.status().ToString();
  EXPECT_NE(r.status().message().find("the columns of public.t changed"), std::string::npos)
      << r.status().ToString();
  PG2I_ASSERT_OK_AND_ASSIGN(auto c, Coordinator());
  PG2I_ASSERT_OK_AND_ASSIGN(auto st, c->GetTable("public.t"));
  ASSERT_TRUE(st.has_value());
  EXPECT_FALSE(st->snapshot_complete);
  PG2I_ASSERT_OK_AND_ASSIGN(auto chunks, c->SnapshotChunks("public.t"));
  EXPECT_TRUE(chunks.empty());

  // Discovered again, it copies.
  PG2I_ASSERT_OK_AND_ASSIGN(SnapshotTable again, Discovered());
  PG2I_ASSERT_OK_AND_ASSIGN(SnapshotResult done, RunSnapshot({again}, Options()));
  EXPECT_EQ(done.tables[0].rows_done, 100);
  PG2I_ASSERT_OK(pg_->Exec("ALTER TABLE t DROP COLUMN v"));
  PG2I_ASSERT_OK(c->RestartCopy("public.t").status());
  PG2I_ASSERT_OK(c->PutTable({"public.t", 0, false, Lsn()}));
  auto dropped = RunSnapshot({again}, Options());
  ASSERT_FALSE(dropped.ok());
  EXPECT_EQ(dropped.status().code(), StatusCode::kAborted) << dropped.status().ToString();
}

}  // namespace
}  // namespace pg2iceberg::snapshot
