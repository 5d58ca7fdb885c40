// Discovery, publication management, slot health and set-up errors against PostgreSQL 15.
#include "pg/catalog.h"

#include <gtest/gtest.h>

#include "fixtures/gtest_support.h"
#include "fixtures/pg_cluster.h"
#include "pg/replication.h"

namespace pg2iceberg::pg {
namespace {

using fixtures::PgCluster;

class CatalogTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fixtures::PgClusterOptions o;
    o.settings = {{"max_slot_wal_keep_size", "1MB"}, {"wal_keep_size", "0"}};
    fixtures::StartForSuite(pg_, PgCluster::Start(o), "PostgreSQL");
  }
  static void TearDownTestSuite() { pg_.reset(); }
  void SetUp() override {
    ASSERT_NE(pg_, nullptr) << "suite setup failed, see above";
    auto c = Connection::Connect(pg_->ConnString(), "test");
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    conn_ = std::move(*c);
  }
  static inline std::unique_ptr<PgCluster> pg_;
  std::unique_ptr<Connection> conn_;
};

TEST_F(CatalogTest, DiscoversColumnsTypesKeysWithAnyIdentifier) {
  PG2I_ASSERT_OK(conn_->Exec(R"sql(
    CREATE SCHEMA "Odd ""Schema""";
    CREATE DOMAIN positive_amount AS numeric(12,3) CHECK (VALUE > 0);
    CREATE DOMAIN pa2 AS positive_amount;
    CREATE TABLE "Odd ""Schema"""."Täble.Name" (
      "B key" text NOT NULL,
      "A" int NOT NULL,
      "MixedCase" varchar(20),
      amount pa2,
      gen int GENERATED ALWAYS AS ("A" * 2) STORED,
      dropped int,
      PRIMARY KEY ("B key", "A"));
    ALTER TABLE "Odd ""Schema"""."Täble.Name" DROP COLUMN dropped;
  )sql"));
  config::TableName name{"Odd \"Schema\"", "Täble.Name"};
  PG2I_ASSERT_OK_AND_ASSIGN(TableInfo t, DiscoverTable(*conn_, name));
  EXPECT_EQ(t.relkind, 'r');
  EXPECT_EQ(t.replica_identity, 'd');
  ASSERT_EQ(t.columns.size(), 4u);  // generated and dropped columns are not replicated
  EXPECT_EQ(t.columns[0].name, "B key");
  EXPECT_FALSE(t.columns[0].nullable);
  EXPECT_EQ(t.columns[2].name, "MixedCase");
  EXPECT_TRUE(t.columns[2].nullable);
  EXPECT_EQ(t.columns[2].type_name, "character varying(20)");
  EXPECT_EQ(t.columns[3].base_type_oid, 1700u);  // two domains deep → numeric
  EXPECT_EQ(t.columns[3].typmod, ((12 << 16) | 3) + 4);
  EXPECT_NE(t.columns[3].type_oid, 1700u);
  EXPECT_EQ(t.primary_key, (std::vector<std::string>{"B key", "A"}));  // key order
  auto missing = DiscoverTable(*conn_, config::TableName{"public", "nope"});
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("tables[].name"), std::string::npos);
}

TEST_F(CatalogTest, PrimaryKeyRulesAndReplicaIdentity) {
  PG2I_ASSERT_OK(conn_->Exec("CREATE TABLE nokey (a int, b int);"
                             "CREATE TABLE ri (a int NOT NULL, b int);"
                             "CREATE UNIQUE INDEX ri_a ON ri (a);"
                             "ALTER TABLE ri REPLICA IDENTITY USING INDEX ri_a;"
                             "CREATE VIEW v AS SELECT 1 AS x;"));
  PG2I_ASSERT_OK_AND_ASSIGN(TableInfo nokey, DiscoverTable(*conn_, {"public", "nokey"}));
  config::TableConfig plain;
  auto refused = EffectivePrimaryKey(nokey, plain);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("has no primary key"), std::string::npos);
  EXPECT_NE(refused.status().message().find("tables[].primary_key"), std::string::npos);
  config::TableConfig with_key;
  with_key.primary_key = {"b", "a"};
  // A configured key on a table with no replica identity would make the application's own
  // UPDATE and DELETE fail once the table is published: refused, with the fix.
  auto harmful = EffectivePrimaryKey(nokey, with_key);
  ASSERT_FALSE(harmful.ok());
  EXPECT_EQ(harmful.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(harmful.status().message().find("ALTER TABLE \"public\".\"nokey\" REPLICA IDENTITY "
                                            "FULL;"),
            std::string::npos)
      << harmful.status().message();
  PG2I_ASSERT_OK(conn_->Exec("ALTER TABLE nokey REPLICA IDENTITY FULL"));
  PG2I_ASSERT_OK_AND_ASSIGN(nokey, DiscoverTable(*conn_, {"public", "nokey"}));
  EXPECT_EQ(*EffectivePrimaryKey(nokey, with_key), (std::vector<std::string>{"b", "a"}));
  with_key.primary_key = {"zz"};
  EXPECT_FALSE(EffectivePrimaryKey(nokey, with_key).ok());
  PG2I_ASSERT_OK_AND_ASSIGN(TableInfo ri, DiscoverTable(*conn_, {"public", "ri"}));
  EXPECT_EQ(ri.replica_identity, 'i');
  EXPECT_EQ(ri.replica_identity_columns, std::vector<std::string>{"a"});
  auto view = DiscoverTable(*conn_, {"public", "v"});
  EXPECT_EQ(view.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(view.status().message().find("a view"), std::string::npos);
}

TEST_F(CatalogTest, PublicationIsCreatedExtendedAndNeverShrunk) {
  PG2I_ASSERT_OK(conn_->Exec(R"sql(
    CREATE TABLE p1 (id int PRIMARY KEY);
    CREATE TABLE p2 (id int PRIMARY KEY);
    CREATE TABLE mine (id int PRIMARY KEY);
    CREATE TABLE parted (id int, ts date, PRIMARY KEY (id, ts)) PARTITION BY RANGE (ts);
    CREATE TABLE parted_2025 PARTITION OF parted FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
  )sql"));
  PG2I_ASSERT_OK_AND_ASSIGN(TableInfo p1, DiscoverTable(*conn_, {"public", "p1"}));
  PG2I_ASSERT_OK_AND_ASSIGN(TableInfo p2, DiscoverTable(*conn_, {"public", "p2"}));
  PG2I_ASSERT_OK_AND_ASSIGN(TableInfo parted, DiscoverTable(*conn_, {"public", "parted"}));
  EXPECT_EQ(parted.relkind, 'p');
  PG2I_ASSERT_OK_AND_ASSIGN(auto r1, EnsurePublication(*conn_, "my pub", {p1, parted}));
  EXPECT_TRUE(r1.created);
  EXPECT_EQ(*pg_->QueryScalar("SELECT pubviaroot FROM pg_publication WHERE pubname='my pub'"),
            "t");
  // The user adds a table by hand; we add p2; theirs stays.
  PG2I_ASSERT_OK(conn_->Exec("ALTER PUBLICATION \"my pub\" ADD TABLE mine"));
  PG2I_ASSERT_OK_AND_ASSIGN(auto r2, EnsurePublication(*conn_, "my pub", {p1, p2, parted}));
  EXPECT_FALSE(r2.created);
  EXPECT_EQ(r2.added, std::vector<std::string>{"public.p2"});
  EXPECT_EQ(*pg_->QueryScalar("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM "
                              "pg_publication_tables WHERE pubname = 'my pub'"),
            "mine,p1,p2,parted");
  PG2I_ASSERT_OK_AND_ASSIGN(auto r3, EnsurePublication(*conn_, "my pub", {p1}));
  EXPECT_TRUE(r3.added.empty());
  EXPECT_EQ(*pg_->QueryScalar("SELECT count(*) FROM pg_publication_tables WHERE pubname = "
                              "'my pub'"),
            "4");
  // An existing publication that would split a partitioned table per partition is refused.
  PG2I_ASSERT_OK(conn_->Exec("CREATE PUBLICATION leafy FOR TABLE p1"));
  auto leafy = EnsurePublication(*conn_, "leafy", {parted});
  EXPECT_EQ(leafy.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(leafy.status().message().find("publish_via_partition_root = true"),
            std::string::npos);
  PG2I_ASSERT_OK(conn_->Exec("CREATE PUBLICATION inserts_only FOR TABLE p1 WITH "
                             "(publish = 'insert')"));
  auto partial = EnsurePublication(*conn_, "inserts_only", {p1});
  EXPECT_NE(partial.status().message().find("update, delete, truncate"), std::string::npos);
}

TEST_F(CatalogTest, SlotHealthReportsLostSlots) {
  PG2I_ASSERT_OK(pg_->Exec("SELECT pg_create_logical_replication_slot('healthy', 'pgoutput');"
                           "SELECT pg_create_logical_replication_slot('doomed', 'pgoutput');"
                           "SELECT pg_create_physical_replication_slot('phys', true)"));
  PG2I_ASSERT_OK_AND_ASSIGN(auto healthy, ReadSlot(*conn_, "healthy"));
  ASSERT_TRUE(healthy.has_value());
  EXPECT_EQ(healthy->plugin, "pgoutput");
  EXPECT_TRUE(healthy->confirmed_flush_lsn.valid());
  PG2I_EXPECT_OK(CheckSlotHealth(*healthy, "postgres"));
  EXPECT_FALSE(CheckSlotHealth(*healthy, "otherdb").ok());
  PG2I_ASSERT_OK_AND_ASSIGN(auto none, ReadSlot(*conn_, "absent"));
  EXPECT_FALSE(none.has_value());
  PG2I_ASSERT_OK_AND_ASSIGN(auto phys, ReadSlot(*conn_, "phys"));
  EXPECT_NE(CheckSlotHealth(*phys, "").message().find("not a pgoutput logical slot"),
            std::string::npos);
  // Push far more WAL than max_slot_wal_keep_size (1MB) past the slots, then checkpoint:
  // PostgreSQL invalidates them.
  PG2I_ASSERT_OK(pg_->Exec("CREATE TABLE churn (v text)"));
  for (int i = 0; i < 6; ++i) {
    PG2I_ASSERT_OK(pg_->Exec("INSERT INTO churn SELECT repeat('w', 1000) FROM "
                             "generate_series(1, 2000); SELECT pg_switch_wal()"));
  }
  PG2I_ASSERT_OK(pg_->Exec("CHECKPOINT"));
  PG2I_ASSERT_OK_AND_ASSIGN(auto doomed, ReadSlot(*conn_, "doomed"));
  ASSERT_TRUE(doomed.has_value());
  EXPECT_EQ(doomed->wal_status, "lost");
  Status s = CheckSlotHealth(*doomed, "postgres");
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("wal_status=lost"), std::string::npos);
  EXPECT_NE(s.message().find("re-snapshots"), std::string::npos);
}

TEST_F(CatalogTest, SetupMistakesGetActionableErrors) {
  PG2I_ASSERT_OK(pg_->Exec("CREATE ROLE plain LOGIN; CREATE ROLE replicator LOGIN REPLICATION;"
                           "CREATE TABLE owned (id int PRIMARY KEY)"));
  // No REPLICATION privilege.
  auto no_priv = ReplicationConnection::Connect(pg_->ConnString() + " user=plain", "test");
  ASSERT_FALSE(no_priv.ok());
  EXPECT_NE(no_priv.status().message().find("ALTER ROLE \"plain\" REPLICATION"),
            std::string::npos)
      << no_priv.status().message();
  // Publication permissions: neither CREATE on the database nor table ownership.
  auto plain = Connection::Connect(pg_->ConnString() + " user=replicator", "test");
  ASSERT_TRUE(plain.ok());
  PG2I_ASSERT_OK_AND_ASSIGN(TableInfo owned, DiscoverTable(**plain, {"public", "owned"}));
  auto denied = EnsurePublication(**plain, "their_pub", {owned});
  ASSERT_FALSE(denied.ok());
  Status explained = ExplainSetupError(denied.status(), "replicator");
  EXPECT_NE(explained.message().find("GRANT CREATE ON DATABASE"), std::string::npos)
      << explained.message();
}

TEST(SetupErrorsTest, WalLevelSlotsAndSenders) {
  fixtures::PgClusterOptions o;
  o.settings = {{"wal_level", "replica"}, {"max_replication_slots", "1"},
                {"max_wal_senders", "1"}};
  PG2I_ASSERT_OK_AND_ASSIGN(auto pg, PgCluster::Start(o));
  PG2I_ASSERT_OK_AND_ASSIGN(auto conn, ReplicationConnection::Connect(pg->ConnString(), "t"));
  auto slot = conn->CreateSlot("s", false);
  ASSERT_FALSE(slot.ok());
  EXPECT_EQ(slot.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(slot.status().message().find("ALTER SYSTEM SET wal_level = logical"),
            std::string::npos)
      << slot.status().message();
  // The only sender is taken by `conn`.
  auto second = ReplicationConnection::Connect(pg->ConnString(), "t");
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("max_wal_senders"), std::string::npos)
      << second.status().message();
  // Slots exhausted (physical slots need no wal_level=logical).
  PG2I_ASSERT_OK(pg->Exec("SELECT pg_create_physical_replication_slot('one')"));
  auto full = pg->Exec("SELECT pg_create_physical_replication_slot('two')");
  ASSERT_FALSE(full.ok());
  Status s = ExplainSetupError(Status(StatusCode::kInternal, full.message()), "u");
  EXPECT_NE(s.message().find("raise max_replication_slots"), std::string::npos) << s.message();
}

TEST(ConnectRetryTest, RetriesUnavailableWithBackoffThenGivesUp) {
  FakeClock clock;
  auto start = clock.Monotonic();
  auto r = ConnectWithRetry("host=127.0.0.1 port=1 connect_timeout=2", "nowhere",
                            ConnectionOrigin::SourcePostgres(), 4, &clock);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  // 500 ms + 1 s + 2 s of backoff between four attempts.
  EXPECT_EQ(clock.Monotonic() - start, std::chrono::milliseconds(3500));
}

}  // namespace
}  // namespace pg2iceberg::pg
