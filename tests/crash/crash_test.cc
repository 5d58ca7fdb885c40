// Crash tests of the durability protocol, against the real binary, PostgreSQL 15 and the
// embedded SQL catalog: SIGKILL at each named point (PG2I_CRASH_AT) and at random moments
// under a mixed insert/update/delete workload on three tables. After a restart and catch-up,
// `verify` must find no difference and no key live twice.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <random>
#include <thread>

#include "fixtures/binary_suite.h"
#include "fixtures/gtest_support.h"
#include "fixtures/pg_cluster.h"
#include "fixtures/readers.h"
#include "fixtures/subprocess.h"
#include "fixtures/temp_dir.h"

namespace pg2iceberg {
namespace {

using namespace std::chrono_literals;
using fixtures::ExitStatus;
using fixtures::Subprocess;

class CrashTest : public fixtures::BinarySuite {
 protected:
  CrashTest() : BinarySuite("pg2i-crash-", PG2I_BINARY) {}

  // Three tables with names unique to this scenario, and a config replicating them.
  std::string Setup(const std::string& tag, const std::string& sink_extra = "") {
    tables_.clear();
    for (const char* t : {"a", "b", "c"}) tables_.push_back("crash_" + tag + "_" + t);
    for (const auto& t : tables_) {
      Status s = pg_->Exec("CREATE TABLE " + t + " (id int PRIMARY KEY, v text, n bigint, "
                           "big text); ALTER TABLE " + t + " ALTER COLUMN big SET STORAGE EXTERNAL");
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
    const std::string path = dir_->str() + "/" + tag + ".yaml";
    std::ofstream f(path);
    f << "source:\n  postgres: {host: 127.0.0.1, port: " << pg_->port()
      << ", database: postgres, user: postgres}\n"
      << "  logical: {slot_name: slot_" << tag << ", publication_name: pub_" << tag << "}\n"
      << "state: {coordinator_schema: _coord_" << tag << "}\n"
      << "sink:\n  warehouse: file://" << dir_->str() << "/wh_" << tag << "\n"
      << "  flush_interval: 300ms\n  flush_rows: 50\n  materializer_interval: 300ms\n"
      << "  index_dir: " << dir_->str() << "/index_" << tag << "\n"
      << sink_extra << "metrics_addr: \"\"\ntables:\n";
    for (const auto& t : tables_) f << "  - name: public." << t << "\n";
    return path;
  }

  Result<std::unique_ptr<Subprocess>> Start(const std::string& config, const std::string& crash_at,
                                            const std::string& log) {
    fixtures::SubprocessOptions o;
    o.argv = {PG2I_BINARY, "--config", config, "--log-format", "text", "run"};
    if (!crash_at.empty()) o.env = {{"PG2I_CRASH_AT", crash_at}};
    o.log_path = dir_->str() + "/" + log;
    return Subprocess::Start(o);
  }

  // One round of mixed changes on every table: inserts, updates (some leave the TOASTed
  // column alone), deletes, in several transactions.
  void Workload(std::mt19937& rng, int round) {
    for (const auto& t : tables_) {
      const int base = round * 40;
      std::string sql = "BEGIN;";
      sql += "INSERT INTO " + t + " SELECT g, 'r" + std::to_string(round) +
             "', g, repeat('t', 3000) FROM generate_series(" + std::to_string(base) + ", " +
             std::to_string(base + 39) + ") g ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v;";
      sql += "COMMIT;";
      const int lo = std::uniform_int_distribution<int>(0, base + 30)(rng);
      sql += "UPDATE " + t + " SET n = n + 1, v = 'u" + std::to_string(round) + "' WHERE id BETWEEN " +
             std::to_string(lo) + " AND " + std::to_string(lo + 7) + ";";
      sql += "DELETE FROM " + t + " WHERE id % 13 = " + std::to_string(round % 13) + ";";
      sql += "UPDATE " + t + " SET id = id + 100000 WHERE id = " + std::to_string(base + 3) + ";";
      Status s = pg_->Exec(sql);
      ASSERT_TRUE(s.ok()) << s.ToString();
    }
  }

  void CatchUpAndVerify(const std::string& config) {
    auto run = Start(config, "", "final.log");
    ASSERT_TRUE(run.ok()) << run.status().ToString();
    std::string out;
    ExitStatus w = RunCommand(config, {"status", "--wait", "--timeout", "120s"}, &out);
    ASSERT_TRUE(w.success()) << out << "\n" << (*run)->LogTail();
    ExitStatus v = RunCommand(config, {"verify"}, &out);
    EXPECT_TRUE(v.success()) << out << "\nthe final run's log ends with:\n" << (*run)->LogTail();
    for (const auto& t : tables_) {
      EXPECT_NE(out.find("table=public." + t + " "), std::string::npos) << out;
    }
    EXPECT_EQ(out.find("DIFF"), std::string::npos) << out;
    auto stopped = (*run)->Terminate(30s);
    ASSERT_TRUE(stopped.ok());
    EXPECT_TRUE(stopped->success()) << stopped->ToString() << "\n" << (*run)->LogTail();
  }

  // Runs until the process kills itself at `point` under the workload, changes more while it
  // is down, then catches up and verifies.
  void KillAtPointThenRecover(const std::string& config, const std::string& point, uint32_t seed) {
    std::mt19937 rng(seed);
    auto run = Start(config, point, "crash.log");
    ASSERT_TRUE(run.ok()) << run.status().ToString();
    std::this_thread::sleep_for(1500ms);  // slot created, streaming
    for (int round = 0; round < 3 && !(*run)->HasExited(); ++round) {
      Workload(rng, round);
      std::this_thread::sleep_for(300ms);
    }
    auto st = (*run)->Wait(60s);
    ASSERT_TRUE(st.ok()) << "the process did not reach crash point " << point << "\n"
                         << (*run)->LogTail();
    EXPECT_TRUE(st->signaled && st->code == SIGKILL) << st->ToString() << (*run)->LogTail();
    // More changes while it is down: they wait in the slot.
    Workload(rng, 3);
    CatchUpAndVerify(config);
  }

  // `kills` starts, each SIGKILLed after a random 0.8–2.5 s, under a writer of up to
  // `max_rounds` workload rounds; then catches up and verifies. Returns the rounds written.
  int RandomKillsThenRecover(const std::string& config, uint32_t seed, int kills, int max_rounds) {
    std::mt19937 rng(seed);
    std::atomic<bool> stop{false};
    int round = 0;
    std::thread writer([&] {
      while (!stop && round < max_rounds) {
        Workload(rng, round++);
        std::this_thread::sleep_for(100ms);
      }
    });
    for (int i = 0; i < kills; ++i) {
      auto run = Start(config, "", "random" + std::to_string(i) + ".log");
      EXPECT_TRUE(run.ok());
      if (!run.ok()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(
          std::uniform_int_distribution<int>(800, 2500)(rng)));
      EXPECT_TRUE((*run)->Signal(SIGKILL).ok());
      (void)(*run)->Wait(10s);
    }
    stop = true;
    writer.join();
    CatchUpAndVerify(config);
    return round;
  }

  std::vector<std::string> tables_;
};

class NamedPointTest : public CrashTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(NamedPointTest, KillAtPointThenRecover) {
  KillAtPointThenRecover(Setup(GetParam()), GetParam(), 42);
}

INSTANTIATE_TEST_SUITE_P(Points, NamedPointTest,
                         ::testing::Values("after_staging_upload", "after_offset_claim",
                                           "after_flushed_lsn", "after_standby_ack",
                                           "after_iceberg_commit", "after_cursor_advance",
                                           "before_key_index_update"));

// DDL that changes existing rows out of logical replication's sight (a column added with a
// default): killed after the resync was recorded and before the DDL's transaction was confirmed.
// The next start reads the DDL again and copies the table again, from a clean start.
TEST_F(CrashTest, KillAfterARewriteWasReportedThenRecover) {
  const std::string config = Setup("rewrite");
  std::mt19937 rng(11);
  auto run = Start(config, "after_rewrite_reported", "crash.log");
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  std::this_thread::sleep_for(1500ms);  // slot created, streaming
  Workload(rng, 0);
  PG2I_ASSERT_OK(pg_->Exec("ALTER TABLE " + tables_[0] + " ADD COLUMN flag int NOT NULL DEFAULT 7; "
                           "UPDATE " + tables_[0] + " SET v = 'after' WHERE id < 5"));
  auto st = (*run)->Wait(60s);
  ASSERT_TRUE(st.ok()) << "the process did not reach the crash point\n" << (*run)->LogTail();
  EXPECT_TRUE(st->signaled && st->code == SIGKILL) << st->ToString() << (*run)->LogTail();
  Workload(rng, 1);
  CatchUpAndVerify(config);
}

// Background compaction killed after writing its files and after its commit, while the
// materializer commits the workload: after recovery verify is clean (nothing resurrected or
// lost), and `maintain` removes what the killed compaction left, so that a second look finds
// no orphan older than the grace.
class CompactionPointTest : public CrashTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(CompactionPointTest, KillDuringBackgroundCompactionThenRecover) {
  const std::string point = GetParam();
  const std::string config =
      Setup(point, "  compaction_interval: 1s\n  compaction_data_files: 2\n"
                   "  compaction_delete_files: 2\n  maintenance_grace: 2s\n");
  std::mt19937 rng(5);
  auto run = Start(config, point, "crash.log");
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  std::this_thread::sleep_for(1500ms);
  int round = 0;
  for (; round < 30 && !(*run)->HasExited(); ++round) {
    Workload(rng, round);
    std::this_thread::sleep_for(400ms);
  }
  auto st = (*run)->Wait(60s);
  ASSERT_TRUE(st.ok()) << "the process did not reach crash point " << point << "\n"
                       << (*run)->LogTail();
  EXPECT_TRUE(st->signaled && st->code == SIGKILL) << st->ToString() << (*run)->LogTail();
  Workload(rng, round);
  CatchUpAndVerify(config);
  std::this_thread::sleep_for(2500ms);
  std::string out;
  ASSERT_TRUE(RunCommand(config, {"maintain"}, &out).success()) << out;
  ASSERT_TRUE(RunCommand(config, {"maintain", "--dry-run"}, &out).success()) << out;
  for (const auto& t : tables_) {
    EXPECT_NE(out.find("table=public." + t + " would_delete_orphans=0 "), std::string::npos) << out;
  }
}

INSTANTIATE_TEST_SUITE_P(Points, CompactionPointTest,
                         ::testing::Values("after_compaction_write", "after_compaction_commit"));

// Markers (issue 16): killed after a marker was recorded as pending (its transaction not yet
// confirmed), after the commit that ends at it (not yet emitted), and after it was emitted.
// After recovery the marker names, for every table, a snapshot whose rows are exactly
// PostgreSQL's right after the marker committed (read by Iceberg Java), and verify is clean.
class MarkerPointTest : public CrashTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(MarkerPointTest, KillAroundAMarkerThenRecover) {
  const std::string point = GetParam();
  const std::string config = Setup(point, "  meta_namespace: meta_" + point + "\n");
  {
    std::ifstream in(config);
    std::stringstream text;
    text << in.rdbuf();
    std::string yaml = text.str();
    const std::string pub = "publication_name: pub_" + point + "}";
    yaml.replace(yaml.find(pub), pub.size(),
                 "publication_name: pub_" + point + ", markers_table: public.crash_markers}");
    std::ofstream(config) << yaml;
  }
  std::mt19937 rng(3);
  auto run = Start(config, point, "crash.log");
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  std::this_thread::sleep_for(1500ms);
  Workload(rng, 0);
  const std::string marker = "k-" + point;
  PG2I_ASSERT_OK(pg_->Exec("BEGIN; UPDATE " + tables_[0] + " SET v = 'marked' WHERE id < 3; "
                           "INSERT INTO crash_markers (id) VALUES ('" + marker + "'); COMMIT"));
  std::map<std::string, std::set<std::string>> expected;
  for (const auto& t : tables_) {
    auto rows = pg_->QueryScalar("SELECT string_agg(id || E'\\t' || v || E'\\t' || n, E'\\n') FROM " + t);
    ASSERT_TRUE(rows.ok()) << rows.status().ToString();
    std::stringstream in(*rows);
    for (std::string line; std::getline(in, line);) expected[t].insert(line);
  }
  Workload(rng, 1);
  auto st = (*run)->Wait(60s);
  ASSERT_TRUE(st.ok()) << "the process did not reach crash point " << point << "\n"
                       << (*run)->LogTail();
  EXPECT_TRUE(st->signaled && st->code == SIGKILL) << st->ToString() << (*run)->LogTail();
  Workload(rng, 2);
  CatchUpAndVerify(config);

  auto emitted = pg_->QueryScalar(
      "SELECT string_agg(table_name || '=' || coalesce(snapshot_id::text, 'none'), ',' ORDER BY "
      "table_name) FROM _coord_" + point + ".marker_emissions WHERE marker_id = '" + marker +
      "' AND emitted");
  ASSERT_TRUE(emitted.ok()) << emitted.status().ToString();
  std::map<std::string, std::string> snapshot_of;
  std::stringstream list(*emitted);
  for (std::string item; std::getline(list, item, ',');) {
    snapshot_of[item.substr(0, item.find('='))] = item.substr(item.find('=') + 1);
  }
  ASSERT_EQ(snapshot_of.size(), tables_.size()) << *emitted;
  for (const auto& t : tables_) {
    SCOPED_TRACE(t);
    const std::string snapshot = snapshot_of["public." + t];
    ASSERT_NE(snapshot, "none");
    auto java = fixtures::RunJavaReader(
        {"--jdbc-uri", "jdbc:postgresql://127.0.0.1:" + std::to_string(pg_->port()) + "/postgres",
         "--jdbc-user", "postgres", "--jdbc-schema", "iceberg", "--catalog-name", "pg2iceberg",
         "--warehouse", "file://" + dir_->str() + "/wh_" + point, "--table", "default." + t,
         "--snapshot-id", snapshot, "--no-file-column"});
    ASSERT_TRUE(java.ok()) << java.status().ToString();
    std::stringstream in(*java);
    std::string line;
    std::getline(in, line);
    ASSERT_EQ(line, "id\tv\tn\tbig");
    std::set<std::string> got;
    while (std::getline(in, line)) got.insert(line.substr(0, line.rfind('\t')));
    EXPECT_EQ(got, expected[t]);
  }
  // The meta table `markers` has the marker for every table, also when the process was killed
  // before it was appended (the next start appends what the coordinator has).
  auto meta = fixtures::RunJavaReader(
      {"--jdbc-uri", "jdbc:postgresql://127.0.0.1:" + std::to_string(pg_->port()) + "/postgres",
       "--jdbc-user", "postgres", "--jdbc-schema", "iceberg", "--catalog-name", "pg2iceberg",
       "--warehouse", "file://" + dir_->str() + "/wh_" + point, "--table",
       "meta_" + point + ".markers", "--no-file-column"});
  ASSERT_TRUE(meta.ok()) << meta.status().ToString();
  for (const auto& t : tables_) {
    EXPECT_NE(meta->find(marker + "\t"), std::string::npos) << *meta;
    EXPECT_NE(meta->find("\tpublic." + t + "\tdefault." + t + "\t" + snapshot_of["public." + t]),
              std::string::npos)
        << *meta;
  }
}

INSTANTIATE_TEST_SUITE_P(Points, MarkerPointTest,
                         ::testing::Values("after_marker_recorded", "before_marker_emitted",
                                           "after_marker_emitted"));

// Killed after a flush's claim, before the slot heard of it: PostgreSQL sends the claimed
// transactions again. They hold a key change that leaves a TOASTed value alone (sent as
// unchanged), then a new row under the old key. Staged twice, the second copy would be applied
// after the first one reached the table (a long flush interval makes sure of that), and the
// moved row would take its unchanged value from the new row under the old key: NULL. The
// deterministic simulation found this (tests/sim).
class ReplayTest : public CrashTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(ReplayTest, TransactionsSentAgainAfterAKillBetweenClaimAndConfirmKeepTheirToastedValues) {
  std::string config = Setup("replay_" + GetParam(), "  delete_mode: " + GetParam() + "\n");
  {
    std::ifstream in(config);
    std::stringstream text;
    text << in.rdbuf();
    std::string yaml = text.str();
    yaml.replace(yaml.find("flush_interval: 300ms"), 21, "flush_interval: 3s");
    std::ofstream(config) << yaml;
  }
  const std::string& t = tables_[0];
  PG2I_ASSERT_OK(pg_->Exec("INSERT INTO " + t + " VALUES (1, 'a', 1, repeat('x', 3000))"));
  {
    auto run = Start(config, "", "first.log");
    ASSERT_TRUE(run.ok()) << run.status().ToString();
    std::this_thread::sleep_for(1500ms);  // slot created, copied
    std::string out;
    ExitStatus w = RunCommand(config, {"status", "--wait", "--timeout", "120s"}, &out);
    ASSERT_TRUE(w.success()) << out << "\n" << (*run)->LogTail();
    ASSERT_TRUE((*run)->Terminate(30s).ok());
  }
  auto run = Start(config, "after_offset_claim", "crash.log");
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  std::this_thread::sleep_for(1500ms);  // streaming
  PG2I_ASSERT_OK(pg_->Exec("UPDATE " + t + " SET id = 2 WHERE id = 1"));
  PG2I_ASSERT_OK(pg_->Exec("INSERT INTO " + t + " VALUES (1, 'b', 2, NULL)"));
  PG2I_ASSERT_OK(pg_->Exec("UPDATE " + t + " SET id = 3, v = 'c' WHERE id = 2"));
  auto st = (*run)->Wait(60s);
  ASSERT_TRUE(st.ok()) << "the process did not reach the crash point\n" << (*run)->LogTail();
  EXPECT_TRUE(st->signaled && st->code == SIGKILL) << st->ToString() << (*run)->LogTail();
  CatchUpAndVerify(config);
}

INSTANTIATE_TEST_SUITE_P(Modes, ReplayTest, ::testing::Values("position", "equality"));

TEST_F(CrashTest, RandomKillsUnderMixedWorkload) {
  const int rounds = RandomKillsThenRecover(Setup("random"), 7, 6, 40);
  RecordProperty("kills", 6);
  RecordProperty("rounds", rounds);
}

// Equality delete mode (upstream's; position is the default the tests above run in).
TEST_F(CrashTest, RandomKillsInEqualityMode) {
  RandomKillsThenRecover(Setup("erandom", "  delete_mode: equality\n"), 9, 5, 30);
}

// Deletion vectors (format v3 tables): random kills, and a kill after a commit that replaced
// vectors, before the key index learned of it.
TEST_F(CrashTest, RandomKillsInDvMode) {
  RandomKillsThenRecover(Setup("dvrandom", "  delete_mode: dv\n"), 11, 5, 30);
}

TEST_F(CrashTest, DvModeKilledBeforeTheKeyIndexUpdateThenRecover) {
  KillAtPointThenRecover(Setup("dvpoint", "  delete_mode: dv\n"), "before_key_index_update", 43);
}

// History tables (tables[].iceberg.mode both): under a mixed workload with TOASTed values,
// key changes and truncates, on a table with REPLICA IDENTITY FULL and two with DEFAULT, the
// process is SIGKILLed 10 times; then every history table holds each committed change
// exactly once, in commit order, with the old row PostgreSQL sent, as an audit trigger on
// the source recorded them — read through Iceberg Java and DuckDB alike — and the mirrors
// stay verify-clean.
class HistoryCrashTest : public CrashTest {
 protected:
  // A history or audit row: its operation, its columns (id, v, n, big; "\\N" for NULL) and
  // its old row (nullopt: none).
  struct Change {
    std::string op;
    std::map<std::string, std::string> values;
    std::optional<std::map<std::string, std::string>> before;
    bool operator==(const Change&) const = default;
    friend void PrintTo(const Change& c, std::ostream* os) {
      *os << c.op;
      for (const auto& [k, v] : c.values) *os << " " << k << "=" << v.substr(0, 12);
      if (c.before) {
        *os << " before:";
        for (const auto& [k, v] : *c.before) *os << " " << k << "=" << v.substr(0, 12);
      }
    }
  };
  static std::string Text(const nlohmann::json& v) {
    if (v.is_null()) return "\\N";
    if (v.is_string()) return v.get<std::string>();
    return v.dump();
  }
  static std::map<std::string, std::string> Columns(const nlohmann::json& row, bool key_only) {
    std::map<std::string, std::string> out;
    for (const char* c : {"id", "v", "n", "big"}) {
      out[c] = key_only && std::string(c) != "id" ? "\\N" : Text(row.value(c, nlohmann::json()));
    }
    return out;
  }
  // What the history of `table` must hold, from the audit trigger's rows in commit order.
  std::vector<Change> Expected(const std::string& table, bool full) {
    auto text = pg_->QueryScalar(
        "SELECT coalesce(string_agg(json_build_object('op', op, 'new', new, 'old', old)::text, "
        "E'\\n' ORDER BY seq), '') FROM hist_audit WHERE tbl = '" + table + "'");
    EXPECT_TRUE(text.ok()) << text.status().ToString();
    std::vector<Change> out;
    std::stringstream in(text.ok() ? *text : "");
    for (std::string line; std::getline(in, line);) {
      const nlohmann::json j = nlohmann::json::parse(line);
      Change c;
      c.op = j["op"].get<std::string>();
      if (c.op == "T") {
        c.values = Columns(nlohmann::json::object(), false);
      } else if (c.op == "I") {
        c.values = Columns(j["new"], false);
      } else if (c.op == "U") {
        c.values = Columns(j["new"], false);
        if (full) c.before = Columns(j["old"], false);
        else if (j["old"]["id"] != j["new"]["id"]) c.before = Columns(j["old"], true);
      } else {
        c.before = Columns(j["old"], !full);
        c.values = *c.before;
      }
      out.push_back(std::move(c));
    }
    return out;
  }
  // Setup's three tables in `mode` (both or history), the first with REPLICA IDENTITY FULL, each with an
  // audit trigger recording its changes in commit order (one writer at a time).
  std::string ConfigureHistory(const std::string& tag, const std::string& mode = "both") {
    const std::string config = Setup(tag);
    std::ifstream in(config);
    std::stringstream text;
    text << in.rdbuf();
    std::string yaml = text.str();
    for (const auto& t : tables_) {
      const std::string line = "  - name: public." + t + "\n";
      yaml.replace(yaml.find(line), line.size(), line + "    iceberg: {mode: " + mode + "}\n");
    }
    std::ofstream(config) << yaml;
    Status s = pg_->Exec(
        "ALTER TABLE " + tables_[0] + " REPLICA IDENTITY FULL;"
        "CREATE TABLE IF NOT EXISTS hist_audit (seq bigserial PRIMARY KEY, tbl text, op text, "
        "  new jsonb, old jsonb);"
        "CREATE OR REPLACE FUNCTION hist_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "  IF TG_OP = 'TRUNCATE' THEN INSERT INTO hist_audit (tbl, op) VALUES (TG_TABLE_NAME, 'T'); "
        "  ELSE INSERT INTO hist_audit (tbl, op, new, old) VALUES (TG_TABLE_NAME, left(TG_OP, 1), "
        "    CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END, "
        "    CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END); END IF; RETURN NULL; END $$;");
    EXPECT_TRUE(s.ok()) << s.ToString();
    for (const auto& t : tables_) {
      s = pg_->Exec("CREATE TRIGGER audit_rows AFTER INSERT OR UPDATE OR DELETE ON " + t +
                    " FOR EACH ROW EXECUTE FUNCTION hist_audit();"
                    "CREATE TRIGGER audit_truncate AFTER TRUNCATE ON " + t +
                    " FOR EACH STATEMENT EXECUTE FUNCTION hist_audit();");
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
    return config;
  }
  // Started and streaming before the first change, so the history holds changes, not a copy.
  Result<std::unique_ptr<Subprocess>> StartStreaming(const std::string& config,
                                                     const std::string& crash_at,
                                                     const std::string& log) {
    auto run = Start(config, crash_at, log);
    if (!run.ok()) return run;
    std::string out;
    for (int i = 0; i < 60; ++i) {  // the coordinator appears first
      std::this_thread::sleep_for(500ms);
      if (RunCommand(config, {"status", "--wait", "--timeout", "120s"}, &out).success()) return run;
    }
    return Internal("not streaming: " + out + "\n" + (*run)->LogTail());
  }
  // Workload's round, and every fifth a TRUNCATE of one table.
  void HistoryWorkload(std::mt19937& rng, int round) {
    Workload(rng, round);
    if (round % 5 == 4) {
      Status s = pg_->Exec("TRUNCATE " + tables_[static_cast<size_t>(round) % tables_.size()]);
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
    std::this_thread::sleep_for(100ms);
  }
  // Each table's history, read through Iceberg Java, holds what the audit trigger saw, in
  // order; DuckDB reads the same.
  // Rows of ids from `copied_from` on were copied, not changed: each is an I row without a
  // commit time, and is left out of the comparison with the audit.
  void VerifyHistories(const std::string& tag, int copied_from = 1 << 30) {
    for (size_t i = 0; i < tables_.size(); ++i) {
      const std::string& t = tables_[i];
      SCOPED_TRACE(t);
      auto java = fixtures::RunJavaReader(
          {"--jdbc-uri", "jdbc:postgresql://127.0.0.1:" + std::to_string(pg_->port()) + "/postgres",
           "--jdbc-user", "postgres", "--jdbc-schema", "iceberg", "--catalog-name", "pg2iceberg",
           "--warehouse", "file://" + dir_->str() + "/wh_" + tag, "--table",
           "default." + t + "_history", "--no-file-column"});
      ASSERT_TRUE(java.ok()) << java.status().ToString();
      const std::vector<Change> expected = Expected(t, /*full=*/i == 0);
      std::vector<Change> got = Parse(*java);
      const size_t before_copy = got.size();
      std::erase_if(got, [&](const Change& c) {
        return c.op == "I" && std::stoi(c.values.at("id")) >= copied_from;
      });
      if (copied_from < (1 << 30)) {
        EXPECT_EQ(before_copy - got.size(), 5u) << "the copied rows";
        EXPECT_EQ(std::count(java->begin(), java->end(), '\n') + 0,
                  static_cast<long>(before_copy) + 1);
      }
      EXPECT_GT(expected.size(), 40u);
      EXPECT_EQ(got.size(), expected.size());
      for (size_t k = 0; k < std::min(got.size(), expected.size()); ++k) {
        ASSERT_EQ(got[k], expected[k]) << "change #" << k << " of " << got.size() << ": "
                                       << got[k].op << " id " << got[k].values.at("id")
                                       << ", expected " << expected[k].op << " id "
                                       << expected[k].values.at("id");
      }
      auto location = pg_->QueryScalar(
          "SELECT metadata_location FROM iceberg.iceberg_tables WHERE table_name = '" + t +
          "_history'");
      ASSERT_TRUE(location.ok()) << location.status().ToString();
      auto duck = fixtures::RunDuckDbReader({"--metadata-file", location->substr(7),
                                             "--no-file-column"});
      ASSERT_TRUE(duck.ok()) << duck.status().ToString();
      EXPECT_TRUE(*duck == *java) << "DuckDB and Iceberg Java read the history differently";
    }
  }
  // The rows a reader printed (sorted TSV), in commit order: by _lsn, then _seq.
  static std::vector<Change> Parse(const std::string& tsv) {
    std::stringstream in(tsv);
    std::string line;
    std::getline(in, line);
    std::vector<std::string> header;
    {
      std::stringstream h(line);
      for (std::string col; std::getline(h, col, '\t');) header.push_back(col);
    }
    std::vector<std::tuple<int64_t, int64_t, Change>> rows;
    while (std::getline(in, line)) {
      std::map<std::string, std::string> cell;
      std::stringstream r(line);
      size_t i = 0;
      for (std::string v; std::getline(r, v, '\t') && i < header.size();) cell[header[i++]] = v;
      Change c;
      c.op = cell["_op"];
      for (const char* col : {"id", "v", "n", "big"}) c.values[col] = cell[col];
      if (cell["_before"] != "\\N") c.before = Columns(nlohmann::json::parse(cell["_before"]), false);
      rows.emplace_back(std::stoll(cell["_lsn"]), std::stoll(cell["_seq"]), std::move(c));
    }
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
      return std::tie(std::get<0>(a), std::get<1>(a)) < std::tie(std::get<0>(b), std::get<1>(b));
    });
    std::vector<Change> out;
    for (auto& r : rows) out.push_back(std::move(std::get<2>(r)));
    return out;
  }
};

TEST_F(HistoryCrashTest, EveryCommittedChangeOnceInOrderThroughTenKills) {
  const std::string config = ConfigureHistory("hist");
  auto run = StartStreaming(config, "", "hist0.log");
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  std::mt19937 rng(17);
  std::atomic<bool> stop{false};
  int round = 0;
  std::thread writer([&] {
    while (!stop && round < 40) HistoryWorkload(rng, round++);
  });
  for (int kill = 0; kill < 10; ++kill) {
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(800, 2500)(rng)));
    EXPECT_TRUE((*run)->Signal(SIGKILL).ok());
    (void)(*run)->Wait(10s);
    run = Start(config, "", "hist" + std::to_string(kill + 1) + ".log");
    ASSERT_TRUE(run.ok()) << run.status().ToString();
  }
  stop = true;
  writer.join();
  ASSERT_TRUE((*run)->Terminate(30s).ok());
  CatchUpAndVerify(config);
  RecordProperty("rounds", round);
  VerifyHistories("hist");
}

// Killed after the history commit of a batch, before the mirror's: the batch is replayed and
// its changes are not appended again.
TEST_F(HistoryCrashTest, KilledBetweenTheHistoryAndTheMirrorCommit) {
  const std::string config = ConfigureHistory("histpoint");
  {
    auto first = StartStreaming(config, "", "first.log");
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    ASSERT_TRUE((*first)->Terminate(30s).ok());
  }
  std::mt19937 rng(23);
  auto run = Start(config, "after_history_commit", "crash.log");
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  int round = 0;
  for (; round < 10 && !(*run)->HasExited(); ++round) HistoryWorkload(rng, round);
  auto st = (*run)->Wait(60s);
  ASSERT_TRUE(st.ok()) << "the process did not reach after_history_commit\n" << (*run)->LogTail();
  EXPECT_TRUE(st->signaled && st->code == SIGKILL) << st->ToString() << (*run)->LogTail();
  HistoryWorkload(rng, round);
  CatchUpAndVerify(config);
  VerifyHistories("histpoint");
}

// Mode history alone: no mirror is written; unchanged TOAST values of the tables without
// REPLICA IDENTITY FULL come from the history table itself.
TEST_F(HistoryCrashTest, HistoryOnlyWritesNoMirror) {
  const std::string config = ConfigureHistory("histonly", "history");
  // Rows there before the start are copied: I rows at the copy's LSN, no commit time.
  for (const auto& t : tables_) {
    PG2I_ASSERT_OK(pg_->Exec("INSERT INTO " + t + " SELECT g, 'copied', g, NULL FROM "
                             "generate_series(900000, 900004) g;"
                             "DELETE FROM hist_audit WHERE tbl = '" + t + "'"));
  }
  auto run = StartStreaming(config, "", "first.log");
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  std::mt19937 rng(29);
  for (int round = 0; round < 8; ++round) HistoryWorkload(rng, round);
  EXPECT_TRUE((*run)->Signal(SIGKILL).ok());
  (void)(*run)->Wait(10s);
  HistoryWorkload(rng, 8);
  auto again = Start(config, "", "second.log");
  ASSERT_TRUE(again.ok());
  std::string out;
  ExitStatus w = RunCommand(config, {"status", "--wait", "--timeout", "120s"}, &out);
  ASSERT_TRUE(w.success()) << out << "\n" << (*again)->LogTail();
  ExitStatus v = RunCommand(config, {"verify"}, &out);
  EXPECT_TRUE(v.success()) << out;
  EXPECT_NE(out.find("history only"), std::string::npos) << out;
  ASSERT_TRUE((*again)->Terminate(30s).ok());
  VerifyHistories("histonly", 900000);
  auto java = fixtures::RunJavaReader(
      {"--jdbc-uri", "jdbc:postgresql://127.0.0.1:" + std::to_string(pg_->port()) + "/postgres",
       "--jdbc-user", "postgres", "--jdbc-schema", "iceberg", "--catalog-name", "pg2iceberg",
       "--warehouse", "file://" + dir_->str() + "/wh_histonly", "--table",
       "default." + tables_[1] + "_history", "--no-file-column"});
  ASSERT_TRUE(java.ok()) << java.status().ToString();
  // Header: id v n big _op _commit_ts _lsn _xid _seq _before.
  EXPECT_NE(java->find("900002\tcopied\t900002\t\\N\tI\t\\N\t"), std::string::npos) << *java;
  for (const auto& t : tables_) {
    auto mirrors = pg_->QueryScalar("SELECT count(*) FROM iceberg.iceberg_tables WHERE "
                                    "table_name = '" + t + "'");
    ASSERT_TRUE(mirrors.ok());
    EXPECT_EQ(*mirrors, "0") << t;
  }
}

}  // namespace
}  // namespace pg2iceberg
