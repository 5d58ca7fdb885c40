// Query mode (source.mode: query) end to end, against the real binary and a PostgreSQL 15 at
// wal_level=replica, where logical replication is not available: rows sharing one watermark
// beyond a page, a transaction that commits late with an older watermark, SIGKILLs under a
// writer, a custom query, and a watermark column that cannot order rows. `verify` checks the
// Iceberg table against PostgreSQL (the writers here never delete: query mode cannot see it).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "fixtures/binary_suite.h"
#include "fixtures/gtest_support.h"
#include "fixtures/pg_cluster.h"
#include "fixtures/subprocess.h"
#include "pg/connection.h"

namespace pg2iceberg {
namespace {

using namespace std::chrono_literals;
using fixtures::ExitStatus;
using fixtures::Subprocess;
using ::testing::HasSubstr;
using ::testing::Not;

class QueryModeTest : public fixtures::BinarySuite {
 protected:
  QueryModeTest() : BinarySuite("pg2i-query-", PG2I_BINARY) {}

  static void SetUpTestSuite() {
    fixtures::PgClusterOptions o;
    o.settings = {{"wal_level", "replica"}};
    fixtures::StartForSuite(pg_, fixtures::PgCluster::Start(o), "PostgreSQL");
  }

  // A config polling `tables` (YAML list items) with coordinator and catalog schemas of `tag`.
  std::string WriteConfig(const std::string& tag, const std::string& tables,
                          const std::string& query = "") {
    const std::string path = dir_->str() + "/" + tag + ".yaml";
    std::ofstream f(path);
    f << "source:\n  mode: query\n  postgres: {host: 127.0.0.1, port: " << pg_->port()
      << ", database: postgres, user: postgres}\n"
      << "  query: {poll_interval: 200ms" << (query.empty() ? "" : ", " + query) << "}\n"
      << "state: {coordinator_schema: _coord_" << tag << "}\n"
      << "sink:\n  warehouse: file://" << dir_->str() << "/wh\n  catalog_schema: cat_" << tag
      << "\n  materializer_interval: 300ms\n"
      << "metrics_addr: \"\"\ntables:\n" << tables;
    return path;
  }

  std::unique_ptr<Subprocess> StartRun(const std::string& config) {
    fixtures::SubprocessOptions o;
    o.log_path = dir_->str() + "/run" + std::to_string(runs_++) + ".log";
    o.argv = {PG2I_BINARY, "--config", config, "--log-format", "text", "run"};
    auto run = Subprocess::Start(o);
    EXPECT_TRUE(run.ok());
    return run.ok() ? std::move(*run) : nullptr;
  }

  // `verify` until it is clean (at most `limit`); the last output.
  std::string VerifyUntilClean(const std::string& config, Subprocess* run,
                               std::chrono::seconds limit = 60s) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (RunCommand(config, {"verify"}, &out).success()) return out;
      if (run != nullptr && run->HasExited()) {
        ADD_FAILURE() << "run exited: " << run->LogTail();
        return out;
      }
      std::this_thread::sleep_for(500ms);
    }
    ADD_FAILURE() << "verify never clean: " << out << (run ? run->LogTail() : "");
    return out;
  }

  int runs_ = 0;
};

TEST_F(QueryModeTest, AThousandRowsSharingOneWatermarkArriveWithTenRowPagesAndNoSlot) {
  ASSERT_EQ(*pg_->QueryScalar("SHOW wal_level"), "replica");
  PG2I_ASSERT_OK(pg_->Exec("CREATE TABLE ties (id int PRIMARY KEY, wm bigint NOT NULL, v text); "
                           "INSERT INTO ties SELECT g, 42, 'v' || g FROM generate_series(1, 1000) g"));
  const std::string config =
      WriteConfig("ties", "  - {name: public.ties, watermark_column: wm, batch_size: 10}\n");
  auto run = StartRun(config);
  ASSERT_NE(run, nullptr);
  VerifyUntilClean(config, run.get());
  // Changes while it runs: updates move the watermark, inserts share the newest one.
  PG2I_ASSERT_OK(pg_->Exec("UPDATE ties SET wm = 43, v = 'updated' WHERE id % 7 = 0; "
                           "INSERT INTO ties SELECT g, 43, 'new' FROM generate_series(1001, 1100) g"));
  const std::string out = VerifyUntilClean(config, run.get());
  EXPECT_THAT(out, HasSubstr("pg_rows=1100 iceberg_rows=1100 missing=0 extra=0"));
  EXPECT_EQ(*pg_->QueryScalar("SELECT count(*) FROM pg_replication_slots"), "0");
  EXPECT_EQ(*pg_->QueryScalar("SELECT count(*) FROM pg_publication"), "0");
  // A delete is not seen: verify reports the row and says why, without failing.
  PG2I_ASSERT_OK(pg_->Exec("DELETE FROM ties WHERE id = 1100"));
  std::string verified;
  EXPECT_TRUE(RunCommand(config, {"verify"}, &verified).success()) << verified;
  EXPECT_THAT(verified, HasSubstr("pg_rows=1099 iceberg_rows=1100 missing=0 extra=1 different=0 "
                                  "duplicates=0 OK (expected; extra rows: query mode cannot see "
                                  "deletes)"));
  std::string status;
  EXPECT_TRUE(RunCommand(config, {"status"}, &status).success()) << status;
  EXPECT_THAT(status, HasSubstr("source: mode=query (polling; no slot)"));
  EXPECT_THAT(status, HasSubstr("polled_through=43"));
  auto st = run->Terminate();
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->success()) << run->LogTail();
  // cleanup, then run: a new pipeline copies the table again.
  std::string out2;
  EXPECT_TRUE(RunCommand(config, {"cleanup"}, &out2).success()) << out2;
  auto again = StartRun(config);
  ASSERT_NE(again, nullptr);
  for (int i = 0; i < 300; ++i) {  // polling has started: its progress is recorded
    auto n = pg_->QueryScalar("SELECT count(*) FROM pg_namespace n JOIN pg_class c ON "
                              "c.relnamespace = n.oid WHERE n.nspname = '_coord_ties' AND "
                              "c.relname = 'pipeline_meta'");
    if (n.ok() && *n == "1") {
      auto k = pg_->QueryScalar("SELECT count(*) FROM _coord_ties.pipeline_meta WHERE key LIKE "
                                "'query_cursor:%'");
      if (k.ok() && *k == "1") break;
    }
    std::this_thread::sleep_for(100ms);
  }
  std::string waited;
  EXPECT_TRUE(RunCommand(config, {"status", "--wait", "--timeout", "120s"}, &waited).success())
      << waited << again->LogTail();
  // The new pipeline's copy replaced the earlier one's rows: the deleted row is gone.
  EXPECT_THAT(VerifyUntilClean(config, again.get()),
              HasSubstr("pg_rows=1099 iceberg_rows=1099 missing=0 extra=0"));
  ASSERT_TRUE(again->Terminate().ok());
}

TEST_F(QueryModeTest, ARowOfATransactionHeldOpenWithAnOlderWatermarkArrives) {
  PG2I_ASSERT_OK(pg_->Exec("CREATE TABLE held (id int PRIMARY KEY, ts timestamptz NOT NULL "
                           "DEFAULT now(), v text); INSERT INTO held (id, v) SELECT g, 'a' FROM "
                           "generate_series(1, 20) g"));
  const std::string config = WriteConfig(
      "held", "  - {name: public.held, watermark_column: ts}\n", "lookback: 25s");
  auto run = StartRun(config);
  ASSERT_NE(run, nullptr);
  VerifyUntilClean(config, run.get());
  PG2I_ASSERT_OK_AND_ASSIGN(auto held, pg::Connection::Connect(pg_->ConnString(), "held"));
  // now() is the transaction's start: its row's watermark is older than every row committed
  // by the writers below, which the poller reads (and moves past) before it commits.
  PG2I_ASSERT_OK(held->Exec("BEGIN; INSERT INTO held (id, v) VALUES (0, 'held open')"));
  for (int i = 0; i < 20; ++i) {
    PG2I_ASSERT_OK(pg_->Exec("INSERT INTO held (id, v) VALUES (" + std::to_string(100 + i) +
                             ", 'writer')"));
    std::this_thread::sleep_for(1s);
  }
  PG2I_ASSERT_OK(held->Exec("COMMIT"));
  const std::string out = VerifyUntilClean(config, run.get(), 90s);
  EXPECT_THAT(out, HasSubstr("pg_rows=41 iceberg_rows=41 missing=0 extra=0"));
  EXPECT_THAT(run->LogTail(), HasSubstr("late rows re-read"));
  ASSERT_TRUE(run->Terminate().ok());
}

TEST_F(QueryModeTest, TenKillsDuringPollingUnderAWriterLoseAndDuplicateNothing) {
  PG2I_ASSERT_OK(pg_->Exec("CREATE TABLE killed (id int PRIMARY KEY, n bigint NOT NULL, v text); "
                           "CREATE SEQUENCE killed_n; "
                           "INSERT INTO killed SELECT g, nextval('killed_n'), 'v' FROM "
                           "generate_series(1, 2000) g"));
  const std::string config = WriteConfig(
      "killed", "  - {name: public.killed, watermark_column: n, batch_size: 100}\n");
  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  std::thread writer([&] {
    auto conn = pg::Connection::Connect(pg_->ConnString(), "writer");
    if (!conn.ok()) return;
    std::mt19937 rng(7);
    int next = 2001;
    while (!stop) {
      std::string sql = "BEGIN;";
      for (int i = 0; i < 20; ++i) {
        if (rng() % 2 == 0) {
          sql += "INSERT INTO killed VALUES (" + std::to_string(next++) +
                 ", nextval('killed_n'), 'new');";
        } else {
          sql += "UPDATE killed SET n = nextval('killed_n'), v = 'u" + std::to_string(rng() % 1000) +
                 "' WHERE id = " + std::to_string(1 + rng() % (next - 1)) + ";";
        }
      }
      if ((*conn)->Exec(sql + "COMMIT").ok()) ++written;
      std::this_thread::sleep_for(20ms);
    }
  });
  std::mt19937 rng(11);
  for (int k = 0; k < 10; ++k) {
    auto run = StartRun(config);
    ASSERT_NE(run, nullptr);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500 + rng() % 1500));
    ASSERT_FALSE(run->HasExited()) << run->LogTail();
    PG2I_ASSERT_OK(run->Signal(SIGKILL));
    (void)run->Wait(10s);
  }
  stop = true;
  writer.join();
  EXPECT_GT(written.load(), 20);
  auto run = StartRun(config);
  ASSERT_NE(run, nullptr);
  const std::string out = VerifyUntilClean(config, run.get(), 120s);
  EXPECT_THAT(out, HasSubstr("missing=0 extra=0"));
  ASSERT_TRUE(run->Terminate().ok());
}

TEST_F(QueryModeTest, ACustomQueryGetsTheLastWatermarkAndThePageSize) {
  PG2I_ASSERT_OK(pg_->Exec("CREATE TABLE custom (id int PRIMARY KEY, wm int NOT NULL, v text); "
                           "INSERT INTO custom SELECT g, g % 10, 'v' || g FROM "
                           "generate_series(1, 300) g"));
  const std::string config = WriteConfig(
      "custom",
      "  - name: public.custom\n    watermark_column: wm\n    batch_size: 7\n"
      "    custom_query: \"SELECT id, wm, v FROM public.custom WHERE $1::int IS NULL OR wm >= "
      "$1::int ORDER BY wm LIMIT $2::int\"\n");
  auto run = StartRun(config);
  ASSERT_NE(run, nullptr);
  PG2I_ASSERT_OK(pg_->Exec("INSERT INTO custom VALUES (1000, 20, 'after')"));
  const std::string out = VerifyUntilClean(config, run.get());
  EXPECT_THAT(out, HasSubstr("pg_rows=301 iceberg_rows=301 missing=0 extra=0"));
  ASSERT_TRUE(run->Terminate().ok());
}

TEST_F(QueryModeTest, SnakeCaseColumnNamesInIcebergAndCollisionsRefused) {
  PG2I_ASSERT_OK(pg_->Exec("CREATE TABLE \"Snake\" (\"CustomerID\" int PRIMARY KEY, "
                           "\"updatedAt\" bigint NOT NULL, \"Order Total\" numeric(10,2)); "
                           "INSERT INTO \"Snake\" SELECT g, g, g * 1.5 FROM generate_series(1, 30) g"));
  const std::string config = WriteConfig(
      "snake", "  - {name: public.Snake, watermark_column: updatedAt, "
               "iceberg: {column_names: snake_case}}\n");
  auto run = StartRun(config);
  ASSERT_NE(run, nullptr);
  EXPECT_THAT(VerifyUntilClean(config, run.get()),
              HasSubstr("pg_rows=30 iceberg_rows=30 missing=0 extra=0 different=0"));
  ASSERT_TRUE(run->Terminate().ok());
  // The Iceberg schema has the snake_case names.
  auto cols = pg_->QueryScalar("SELECT metadata_location FROM cat_snake.iceberg_tables WHERE "
                               "table_name = 'Snake'");
  ASSERT_TRUE(cols.ok()) << cols.status().ToString();
  std::ifstream meta(cols->substr(std::string("file://").size()));
  std::stringstream text;
  text << meta.rdbuf();
  EXPECT_THAT(text.str(), HasSubstr("\"customer_id\""));
  EXPECT_THAT(text.str(), HasSubstr("\"updated_at\""));
  EXPECT_THAT(text.str(), HasSubstr("\"order_total\""));
  EXPECT_THAT(text.str(), Not(HasSubstr("\"CustomerID\"")));
  // Two columns that would share a name are refused at start.
  PG2I_ASSERT_OK(pg_->Exec("CREATE TABLE clash (id int PRIMARY KEY, \"FooBar\" int, foo_bar int, "
                           "wm int)"));
  std::string out;
  ExitStatus st = RunCommand(
      WriteConfig("clash", "  - {name: public.clash, watermark_column: wm, "
                           "iceberg: {column_names: snake_case}}\n"),
      {"run"}, &out, 60s);
  EXPECT_EQ(st.code, 2) << out;
  EXPECT_THAT(out, HasSubstr("maps columns \"FooBar\" and \"foo_bar\""));
}

// DDL while polling: a page read after the table's columns changed is not staged (its rows
// would miss the new column's values); the pipeline starts again and describes the table anew,
// and copies it again when existing rows changed out of polling's sight (a column added with a
// default, a type change).
TEST_F(QueryModeTest, ColumnsAddedDroppedOrRetypedWhilePollingKeepTheTableExact) {
  PG2I_ASSERT_OK(pg_->Exec("CREATE SEQUENCE ddl_wm; CREATE TABLE ddl (id int PRIMARY KEY, wm bigint "
                           "NOT NULL DEFAULT nextval('ddl_wm'), v text); INSERT INTO ddl (id, v) "
                           "SELECT g, 'v' || g FROM generate_series(1, 50) g"));
  const std::string config =
      WriteConfig("ddl", "  - {name: public.ddl, watermark_column: wm}\n");
  auto run = StartRun(config);
  ASSERT_NE(run, nullptr);
  VerifyUntilClean(config, run.get());
  // Added without a default, and a row that sets it at once.
  PG2I_ASSERT_OK(pg_->Exec("ALTER TABLE ddl ADD COLUMN note text; "
                           "INSERT INTO ddl (id, v, note) VALUES (51, 'new', 'noted')"));
  EXPECT_THAT(VerifyUntilClean(config, run.get(), 90s),
              HasSubstr("pg_rows=51 iceberg_rows=51 missing=0 extra=0 different=0"));
  // Added with a default: every existing row reads it.
  PG2I_ASSERT_OK(pg_->Exec("ALTER TABLE ddl ADD COLUMN flag text NOT NULL DEFAULT 'on'"));
  EXPECT_THAT(VerifyUntilClean(config, run.get(), 90s),
              HasSubstr("pg_rows=51 iceberg_rows=51 missing=0 extra=0 different=0"));
  // A type change rewrites every row; a dropped column goes.
  PG2I_ASSERT_OK(pg_->Exec("ALTER TABLE ddl ALTER COLUMN id TYPE bigint; ALTER TABLE ddl DROP "
                           "COLUMN note; UPDATE ddl SET v = 'after' WHERE id = 3"));
  EXPECT_THAT(VerifyUntilClean(config, run.get(), 90s),
              HasSubstr("pg_rows=51 iceberg_rows=51 missing=0 extra=0 different=0"));
  EXPECT_FALSE(run->HasExited()) << run->LogTail();
  const std::string log = run->LogTail(200000);
  EXPECT_THAT(log, HasSubstr("the table's columns changed"));
  EXPECT_THAT(log, HasSubstr("the table is copied again"));
  ASSERT_TRUE(run->Terminate().ok());
}

// The case query mode is for: a hot standby (read-only, in recovery, no logical decoding),
// with the coordinator and the SQL catalog on a writable server (state.postgres_url). The copy,
// polling, late rows and status work on the standby's own WAL position.
TEST_F(QueryModeTest, PollsAHotStandbyWithTheCoordinatorElsewhere) {
  PG2I_ASSERT_OK(pg_->Exec("CREATE TABLE replica_t (id int PRIMARY KEY, ts timestamptz NOT NULL "
                           "DEFAULT clock_timestamp(), v text); INSERT INTO replica_t (id, v) "
                           "SELECT g, 'v' || g FROM generate_series(1, 300) g"));
  fixtures::PgClusterOptions so;
  so.standby_of = pg_.get();
  // As read replicas are run: without feedback, cleanup the primary's autovacuum replays
  // waits for the poller's queries (max_standby_streaming_delay, 30 s) and the standby lags.
  so.settings = {{"wal_level", "replica"}, {"hot_standby_feedback", "on"}};
  auto standby = fixtures::PgCluster::Start(so);
  ASSERT_TRUE(standby.ok()) << standby.status().ToString();
  ASSERT_EQ(*(*standby)->QueryScalar("SELECT pg_is_in_recovery()"), "t");
  const std::string config = dir_->str() + "/replica.yaml";
  {
    std::ofstream f(config);
    f << "source:\n  mode: query\n  postgres: {host: 127.0.0.1, port: " << (*standby)->port()
      << ", database: postgres, user: postgres}\n  query: {poll_interval: 200ms}\n"
      << "state:\n  coordinator_schema: _coord_replica\n  postgres_url: postgresql://postgres@"
      << "127.0.0.1:" << pg_->port() << "/postgres\n"
      << "sink:\n  warehouse: file://" << dir_->str() << "/wh\n  catalog_schema: cat_replica\n"
      << "  materializer_interval: 300ms\nmetrics_addr: \"\"\ntables:\n"
      << "  - {name: public.replica_t, watermark_column: ts}\n";
  }
  auto run = StartRun(config);
  ASSERT_NE(run, nullptr);
  EXPECT_THAT(VerifyUntilClean(config, run.get(), 90s),
              HasSubstr("pg_rows=300 iceberg_rows=300 missing=0 extra=0 different=0"));
  // Changes on the primary reach the standby, then Iceberg.
  PG2I_ASSERT_OK(pg_->Exec("INSERT INTO replica_t (id, v) SELECT g, 'later' FROM "
                           "generate_series(301, 400) g; UPDATE replica_t SET v = 'changed', ts = "
                           "clock_timestamp() WHERE id <= 10"));
  EXPECT_THAT(VerifyUntilClean(config, run.get(), 90s),
              HasSubstr("pg_rows=400 iceberg_rows=400 missing=0 extra=0 different=0"));
  std::string status;
  EXPECT_TRUE(RunCommand(config, {"status"}, &status).success()) << status;
  EXPECT_THAT(status, HasSubstr("source: mode=query"));
  EXPECT_FALSE(run->HasExited()) << run->LogTail();
  ASSERT_TRUE(run->Terminate().ok());
}

// capture_operations in query mode: [insert] keeps rows as first polled, [update] changes only
// rows already in Iceberg; the key index tells them apart (position delete mode, the default).
TEST_F(QueryModeTest, CaptureOperationsTellInsertsFromUpdatesByTheKeyIndex) {
  PG2I_ASSERT_OK(pg_->Exec("CREATE SEQUENCE ops_wm; "
                           "CREATE TABLE ins_only (id int PRIMARY KEY, wm bigint NOT NULL DEFAULT "
                           "nextval('ops_wm'), v text); "
                           "CREATE TABLE upd_only (id int PRIMARY KEY, wm bigint NOT NULL DEFAULT "
                           "nextval('ops_wm'), v text); "
                           "INSERT INTO ins_only (id, v) SELECT g, 'first' FROM generate_series(1, 10) g; "
                           "INSERT INTO upd_only (id, v) SELECT g, 'first' FROM generate_series(1, 10) g"));
  const std::string config = WriteConfig(
      "ops", "  - {name: public.ins_only, watermark_column: wm, capture_operations: [insert]}\n"
             "  - {name: public.upd_only, watermark_column: wm, capture_operations: [update]}\n");
  auto run = StartRun(config);
  ASSERT_NE(run, nullptr);
  VerifyUntilClean(config, run.get());  // the copy loads every row of both
  PG2I_ASSERT_OK(pg_->Exec(
      "UPDATE ins_only SET v = 'second', wm = nextval('ops_wm') WHERE id <= 3; "
      "INSERT INTO ins_only (id, v) VALUES (11, 'new'); "
      "UPDATE upd_only SET v = 'second', wm = nextval('ops_wm') WHERE id <= 3; "
      "INSERT INTO upd_only (id, v) VALUES (11, 'new')"));
  std::string out;
  EXPECT_TRUE(RunCommand(config, {"status", "--wait", "--timeout", "60s"}, &out).success()) << out;
  EXPECT_TRUE(RunCommand(config, {"verify"}, &out).success()) << out;
  // ins_only: the new row arrived, the updates did not.
  EXPECT_THAT(out, HasSubstr("table=public.ins_only pg_rows=11 iceberg_rows=11 missing=0 extra=0 "
                             "different=3 duplicates=0 OK (expected; different rows: updates are "
                             "not captured)"));
  // upd_only: the updates arrived, the new row did not.
  EXPECT_THAT(out, HasSubstr("table=public.upd_only pg_rows=11 iceberg_rows=10 missing=1 extra=0 "
                             "different=0 duplicates=0 OK (expected; missing rows: inserts are not "
                             "captured)"));
  ASSERT_TRUE(run->Terminate().ok());
}

TEST_F(QueryModeTest, AWatermarkColumnThatCannotOrderRowsIsRefusedWithWhatToDo) {
  PG2I_ASSERT_OK(pg_->Exec("CREATE TABLE badwm (id int PRIMARY KEY, label text)"));
  std::string out;
  ExitStatus st = RunCommand(
      WriteConfig("badwm", "  - {name: public.badwm, watermark_column: label}\n"), {"run"}, &out,
      60s);
  EXPECT_EQ(st.code, 2) << out;
  EXPECT_THAT(out, HasSubstr("public.badwm.label is text, which cannot order changes"));
  ExitStatus missing = RunCommand(
      WriteConfig("badwm2", "  - {name: public.badwm, watermark_column: nope}\n"), {"run"}, &out,
      60s);
  EXPECT_EQ(missing.code, 2) << out;
  EXPECT_THAT(out, HasSubstr("has no column \"nope\""));
}

}  // namespace
}  // namespace pg2iceberg
