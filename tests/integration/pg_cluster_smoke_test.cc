// PgCluster starts a PostgreSQL 15 that can do logical replication, and several at once.
#include <libpq-fe.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "fixtures/gtest_support.h"
#include "fixtures/pg_cluster.h"

namespace pg2iceberg::fixtures {
namespace {

class PgClusterSmokeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { StartForSuite(pg_, PgCluster::Start(), "PostgreSQL"); }
  static void TearDownTestSuite() { pg_.reset(); }
  void SetUp() override { ASSERT_NE(pg_, nullptr) << "suite setup failed, see above"; }

  static inline std::unique_ptr<PgCluster> pg_;
};

TEST_F(PgClusterSmokeTest, WalLevelIsLogical) {
  PG2I_ASSERT_OK_AND_ASSIGN(std::string wal_level, pg_->QueryScalar("SHOW wal_level"));
  EXPECT_EQ(wal_level, "logical");
}

TEST_F(PgClusterSmokeTest, HasRoomForSlotsAndSenders) {
  PG2I_ASSERT_OK_AND_ASSIGN(std::string slots, pg_->QueryScalar("SHOW max_replication_slots"));
  PG2I_ASSERT_OK_AND_ASSIGN(std::string senders, pg_->QueryScalar("SHOW max_wal_senders"));
  EXPECT_GE(std::atoi(slots.c_str()), 20);
  EXPECT_GE(std::atoi(senders.c_str()), 20);
}

TEST_F(PgClusterSmokeTest, ServerVersionIs15) {
  PG2I_ASSERT_OK_AND_ASSIGN(std::string version,
                            pg_->QueryScalar("SHOW server_version_num"));
  EXPECT_EQ(version.substr(0, 2), "15") << version;
}

TEST_F(PgClusterSmokeTest, ListensOnItsLoopbackPortOnly) {
  EXPECT_EQ(pg_->host(), "127.0.0.1");
  PG2I_ASSERT_OK_AND_ASSIGN(std::string port, pg_->QueryScalar("SHOW port"));
  EXPECT_EQ(port, std::to_string(pg_->port()));
  PG2I_ASSERT_OK_AND_ASSIGN(std::string listen, pg_->QueryScalar("SHOW listen_addresses"));
  EXPECT_EQ(listen, "127.0.0.1");
  EXPECT_NE(pg_->ConnString("db1").find("dbname=db1"), std::string::npos);
}

TEST_F(PgClusterSmokeTest, CreatesAndDropsPgoutputSlot) {
  PG2I_ASSERT_OK(pg_->Exec("CREATE TABLE smoke (id int PRIMARY KEY, v text);"
                           "CREATE PUBLICATION smoke_pub FOR TABLE smoke"));
  PG2I_ASSERT_OK_AND_ASSIGN(
      std::string slot,
      pg_->QueryScalar("SELECT slot_name FROM "
                       "pg_create_logical_replication_slot('smoke_slot', 'pgoutput')"));
  EXPECT_EQ(slot, "smoke_slot");
  PG2I_ASSERT_OK_AND_ASSIGN(
      std::string plugin,
      pg_->QueryScalar("SELECT plugin || '/' || slot_type FROM pg_replication_slots "
                       "WHERE slot_name = 'smoke_slot'"));
  EXPECT_EQ(plugin, "pgoutput/logical");

  // The slot decodes a committed change (binary pgoutput, read through the SQL interface).
  PG2I_ASSERT_OK(pg_->Exec("INSERT INTO smoke VALUES (1, 'one')"));
  PG2I_ASSERT_OK_AND_ASSIGN(
      std::string changes,
      pg_->QueryScalar("SELECT count(*) FROM pg_logical_slot_peek_binary_changes("
                       "'smoke_slot', NULL, NULL, 'proto_version', '1', "
                       "'publication_names', 'smoke_pub')"));
  EXPECT_GE(std::atoi(changes.c_str()), 3) << "expected BEGIN, INSERT, COMMIT at least";

  PG2I_ASSERT_OK(pg_->Exec("SELECT pg_drop_replication_slot('smoke_slot')"));
  PG2I_ASSERT_OK_AND_ASSIGN(
      std::string remaining,
      pg_->QueryScalar("SELECT count(*) FROM pg_replication_slots"));
  EXPECT_EQ(remaining, "0");
  PG2I_ASSERT_OK(pg_->Exec("DROP PUBLICATION smoke_pub; DROP TABLE smoke"));
}

TEST_F(PgClusterSmokeTest, AcceptsReplicationConnections) {
  std::string conninfo = pg_->ConnString() + " replication=database";
  PGconn* conn = PQconnectdb(conninfo.c_str());
  ASSERT_EQ(PQstatus(conn), CONNECTION_OK) << PQerrorMessage(conn);
  PGresult* result = PQexec(conn, "IDENTIFY_SYSTEM");
  EXPECT_EQ(PQresultStatus(result), PGRES_TUPLES_OK) << PQresultErrorMessage(result);
  EXPECT_EQ(PQntuples(result), 1);
  PQclear(result);
  PQfinish(conn);
}

TEST_F(PgClusterSmokeTest, SqlErrorsAreValues) {
  auto missing = pg_->QueryScalar("SELECT * FROM no_such_table");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("42P01"), std::string::npos)
      << missing.status().ToString();
  auto no_rows = pg_->QueryScalar("SELECT 1 WHERE false");
  EXPECT_TRUE(IsNotFound(no_rows.status())) << no_rows.status().ToString();
}

TEST(PgClusterTest, TwoClustersAtOnce) {
  PG2I_ASSERT_OK_AND_ASSIGN(auto first, PgCluster::Start());
  PG2I_ASSERT_OK_AND_ASSIGN(auto second, PgCluster::Start());
  EXPECT_NE(first->port(), second->port());
  EXPECT_NE(first->data_dir(), second->data_dir());

  // Each is its own cluster: a table made in one is absent from the other.
  PG2I_ASSERT_OK(first->Exec("CREATE TABLE only_in_first (id int)"));
  PG2I_ASSERT_OK_AND_ASSIGN(
      std::string in_first,
      first->QueryScalar("SELECT count(*) FROM pg_class WHERE relname = 'only_in_first'"));
  PG2I_ASSERT_OK_AND_ASSIGN(
      std::string in_second,
      second->QueryScalar("SELECT count(*) FROM pg_class WHERE relname = 'only_in_first'"));
  EXPECT_EQ(in_first, "1");
  EXPECT_EQ(in_second, "0");

  PG2I_ASSERT_OK_AND_ASSIGN(std::string system_first,
                            first->QueryScalar("SELECT system_identifier FROM "
                                               "pg_control_system()"));
  PG2I_ASSERT_OK_AND_ASSIGN(std::string system_second,
                            second->QueryScalar("SELECT system_identifier FROM "
                                                "pg_control_system()"));
  EXPECT_NE(system_first, system_second);
}

TEST(PgClusterTest, StopRemovesEverything) {
  std::filesystem::path data_dir;
  int port = 0;
  {
    PG2I_ASSERT_OK_AND_ASSIGN(auto pg, PgCluster::Start());
    data_dir = pg->data_dir();
    port = pg->port();
    ASSERT_TRUE(std::filesystem::exists(data_dir / "PG_VERSION"));
  }
  EXPECT_FALSE(std::filesystem::exists(data_dir.parent_path()));
  std::string conninfo = "host=127.0.0.1 port=" + std::to_string(port) +
                         " user=postgres dbname=postgres connect_timeout=2";
  EXPECT_EQ(PQping(conninfo.c_str()), PQPING_NO_RESPONSE);
}

}  // namespace
}  // namespace pg2iceberg::fixtures
