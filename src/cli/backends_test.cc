// The backends a configuration opens, against a real PostgreSQL 15.
#include "cli/backends.h"

#include <gtest/gtest.h>

#include "fixtures/gtest_support.h"
#include "fixtures/pg_cluster.h"

namespace pg2iceberg::cli {
namespace {

config::Config ConfigFor(const fixtures::PgCluster& pg) {
  config::Config cfg;
  cfg.source.postgres.host = pg.host();
  cfg.source.postgres.port = pg.port();
  cfg.source.postgres.database = "postgres";
  cfg.source.postgres.user = pg.user();
  return cfg;
}

// A server (or role) that defaults to synchronous_commit = off must not make coordinator
// commits vanish in a crash: the coordinator's sessions commit durably.
TEST(BackendsTest, CoordinatorConnectionsCommitDurablyOnAServerThatDefaultsToOff) {
  fixtures::PgClusterOptions o;
  o.settings = {{"synchronous_commit", "off"}};
  auto pg = fixtures::PgCluster::Start(o);
  ASSERT_TRUE(pg.ok()) << pg.status().ToString();
  ASSERT_EQ(*(*pg)->QueryScalar("SHOW synchronous_commit"), "off");
  const config::Config cfg = ConfigFor(**pg);
  PG2I_ASSERT_OK_AND_ASSIGN(auto coord_db, ConnectCoordinatorDatabase(cfg));
  EXPECT_EQ(*coord_db->QueryScalar("SHOW synchronous_commit"), "on");
  PG2I_ASSERT_OK_AND_ASSIGN(auto coord, ConnectCoordinator(cfg));
  EXPECT_EQ(*coord->connection().QueryScalar("SHOW synchronous_commit"), "on");
  // The source connection is left as the server has it (it only reads).
  PG2I_ASSERT_OK_AND_ASSIGN(auto src, ConnectSource(cfg));
  EXPECT_EQ(*src->QueryScalar("SHOW synchronous_commit"), "off");
}

}  // namespace
}  // namespace pg2iceberg::cli
