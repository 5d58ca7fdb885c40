// Faults under a live workload against the real binary (issue 14): connections terminated, a
// fast PostgreSQL restart, PostgreSQL crashes (SIGKILL of the postmaster) at
// synchronous_commit = off, a REST catalog outage and a full warehouse disk. For each transient
// fault the same `run` process recovers by itself (/ready says why it is not ready meanwhile),
// and once the workload stops and the pipeline has caught up, `verify` finds no difference and
// no key live twice.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "fixtures/binary_suite.h"
#include "fixtures/gtest_support.h"
#include "fixtures/net.h"
#include "fixtures/pg_cluster.h"
#include "fixtures/rest_catalog_server.h"
#include "fixtures/s3_server.h"
#include "fixtures/subprocess.h"

namespace pg2iceberg {
namespace {

PG2I_REGISTER_ARROW_S3_ENVIRONMENT();

using namespace std::chrono_literals;
using fixtures::ExitStatus;
using fixtures::Subprocess;
using ::testing::HasSubstr;
using ::testing::Not;

class FaultTest : public fixtures::BinarySuite {
 protected:
  FaultTest() : BinarySuite("pg2i-fault-", PG2I_BINARY) {}

  void TearDown() override {
    StopWorkload();
    if (run_) (void)run_->Terminate(30s);
    // Leave the shared server as the next test expects it.
    if (pg_->QueryScalar("SELECT 1").ok()) {
      (void)pg_->Exec("ALTER SYSTEM RESET synchronous_commit");
      (void)pg_->Exec("ALTER SYSTEM RESET wal_writer_delay");
      (void)pg_->Exec("SELECT pg_reload_conf()");
    }
  }

  // Two tables (one with TOASTed values) and a config replicating them; `sink` is appended to
  // the sink section (catalog settings), `warehouse` defaults to dir/wh.
  std::string Setup(const std::string& tag, const std::string& sink = "",
                    std::string warehouse = "") {
    tag_ = tag;
    tables_ = {tag + "_a", tag + "_b"};
    for (const auto& t : tables_) {
      PG2I_EXPECT_OK(pg_->Exec("CREATE TABLE " + t + " (id int PRIMARY KEY, v text, n bigint, "
                               "big text); ALTER TABLE " + t +
                               " ALTER COLUMN big SET STORAGE EXTERNAL"));
    }
    auto port = fixtures::FreeLoopbackPort();
    EXPECT_TRUE(port.ok());
    metrics_port_ = port.ok() ? *port : 0;
    if (warehouse.empty()) warehouse = "file://" + dir_->str() + "/wh";
    const std::string path = dir_->str() + "/" + tag + ".yaml";
    std::ofstream f(path);
    f << "source:\n  postgres: {host: 127.0.0.1, port: " << pg_->port()
      << ", database: postgres, user: postgres}\n"
      << "  logical: {slot_name: slot_" << tag << ", publication_name: pub_" << tag << "}\n"
      << "state: {coordinator_schema: _coord_" << tag << "}\n"
      << "sink:\n  warehouse: " << warehouse << "\n  catalog_schema: cat_" << tag
      << "\n  flush_interval: 300ms\n  flush_rows: 50\n  materializer_interval: 300ms\n"
      << "  maintenance_grace: 2s\n" << sink
      << "metrics_addr: 127.0.0.1:" << metrics_port_ << "\ntables:\n";
    for (const auto& t : tables_) f << "  - name: public." << t << "\n";
    return path;
  }

  void StartRun(const std::string& config) {
    fixtures::SubprocessOptions o;
    o.log_path = dir_->str() + "/run.log";
    o.argv = {PG2I_BINARY, "--config", config, "--log-format", "text", "run"};
    auto run = Subprocess::Start(o);
    ASSERT_TRUE(run.ok()) << run.status().ToString();
    run_ = std::move(*run);
    ASSERT_TRUE(WaitReady(120s)) << run_->LogTail();
  }

  // /ready's answer: "200 ready: streaming", "503 not ready: recovering: …", or "" when the
  // endpoint does not answer.
  std::string Ready() {
    auto r = fixtures::HttpGet("http://127.0.0.1:" + std::to_string(metrics_port_) + "/ready", 2s);
    if (!r.ok()) return "";
    return std::to_string(r->status) + " " + r->body;
  }
  bool WaitReady(std::chrono::seconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      if (Ready().rfind("200 ", 0) == 0) return true;
      if (run_ && run_->HasExited()) return false;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }
  // Until the pipeline has worked again since its last fault (gauge pg2iceberg_recovering 0):
  // a fault before that counts as the same outage, with a longer pause.
  bool WaitHealthy(std::chrono::seconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      auto r = fixtures::HttpGet("http://127.0.0.1:" + std::to_string(metrics_port_) + "/metrics", 2s);
      if (r.ok() && r->body.find("\npg2iceberg_recovering 0\n") != std::string::npos) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }
  // Waits until /ready reports a recovery; returns what it said.
  std::string WaitRecovering(std::chrono::seconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    std::string last;
    while (std::chrono::steady_clock::now() < until) {
      last = Ready();
      if (last.find("recovering") != std::string::npos) return last;
      std::this_thread::sleep_for(100ms);
    }
    return "no recovery seen; last /ready: " + last;
  }

  // Mixed changes on every table until StopWorkload(): inserts, updates that leave the TOASTed
  // column alone, deletes and key changes. Failures while the server is away are expected.
  void StartWorkload() {
    workload_ = std::thread([this] {
      std::mt19937 rng(11);
      for (int round = 0; !stop_workload_; ++round) {
        for (const auto& t : tables_) {
          const int base = round * 20;
          const int lo = std::uniform_int_distribution<int>(0, base + 10)(rng);
          const std::string sql =
              "BEGIN; INSERT INTO " + t + " SELECT g, 'r" + std::to_string(round) +
              "', g, repeat('t', 3000) FROM generate_series(" + std::to_string(base) + ", " +
              std::to_string(base + 19) + ") g ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v; "
              "COMMIT; UPDATE " + t + " SET n = n + 1 WHERE id BETWEEN " + std::to_string(lo) +
              " AND " + std::to_string(lo + 5) + "; DELETE FROM " + t + " WHERE id % 11 = " +
              std::to_string(round % 11) + "; UPDATE " + t + " SET id = id + 1000000 WHERE id = " +
              std::to_string(base + 3) + ";";
          if (pg_->Exec(sql).ok()) ++rounds_ok_;
        }
        std::this_thread::sleep_for(50ms);
      }
    });
  }
  void StopWorkload() {
    stop_workload_ = true;
    if (workload_.joinable()) workload_.join();
  }

  // Staged files under the pipeline's staging directory that the coordinator does not
  // reference (only for file:// warehouses under dir_).
  std::vector<std::string> Orphans(const std::string& warehouse_dir) {
    std::vector<std::string> out;
    const std::string staging = warehouse_dir + "/_pg2iceberg_staging/_coord_" + tag_;
    if (!std::filesystem::exists(staging)) return out;
    std::set<std::string> referenced;
    for (const char* t : {"log_index", "log_deferred"}) {
      auto uris = pg_->QueryScalar("SELECT coalesce(string_agg(uri, ' '), '') FROM _coord_" +
                                   tag_ + "." + t);
      EXPECT_TRUE(uris.ok()) << uris.status().ToString();
      std::istringstream in(uris.ok() ? *uris : "");
      for (std::string u; in >> u;) referenced.insert(u.rfind("file://", 0) == 0 ? u.substr(7) : u);
    }
    for (const auto& e : std::filesystem::recursive_directory_iterator(staging)) {
      if (e.is_regular_file() && !referenced.count(e.path().string())) {
        out.push_back(e.path().string());
      }
    }
    return out;
  }
  // Orphans() is empty within `timeout` (the grace is 2 s).
  void ExpectNoOrphans(const std::string& warehouse_dir, std::chrono::seconds timeout = 20s) {
    std::vector<std::string> left;
    const auto until = std::chrono::steady_clock::now() + timeout;
    do {
      left = Orphans(warehouse_dir);
      if (left.empty()) return;
      std::this_thread::sleep_for(500ms);
    } while (std::chrono::steady_clock::now() < until);
    ADD_FAILURE() << left.size() << " unreferenced staged files remain, e.g. " << left.front();
  }

  // The same process is still running, catches up, and Iceberg equals PostgreSQL.
  void ExpectCaughtUpAndExact(const std::string& config) {
    StopWorkload();
    ASSERT_FALSE(run_->HasExited()) << "the run process ended:\n" << run_->LogTail();
    const auto t0 = std::chrono::steady_clock::now();
    std::string out;
    ExitStatus w = RunCommand(config, {"status", "--wait", "--timeout", "180s"}, &out);
    ASSERT_TRUE(w.success()) << out << "\n" << run_->LogTail();
    RecordProperty("catch_up_ms", static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                       std::chrono::steady_clock::now() - t0)
                                                       .count()));
    RecordProperty("workload_transactions", rounds_ok_.load());
    EXPECT_FALSE(run_->HasExited());
    ExitStatus v = RunCommand(config, {"verify"}, &out);
    EXPECT_TRUE(v.success()) << out;
    for (const auto& t : tables_) EXPECT_THAT(out, HasSubstr("table=public." + t + " "));
    EXPECT_EQ(out.find("DIFF"), std::string::npos) << out;
    EXPECT_THAT(out, Not(HasSubstr("duplicates=1")));
    auto stopped = run_->Terminate(30s);
    ASSERT_TRUE(stopped.ok());
    EXPECT_TRUE(stopped->success()) << stopped->ToString() << "\n" << run_->LogTail();
    if (expect_recovery_) {
      EXPECT_THAT(run_->LogTail(100000), HasSubstr("transient fault: starting the pipeline again"));
    }
    run_.reset();
  }

  std::string tag_;
  std::vector<std::string> tables_;
  int metrics_port_ = 0;
  std::unique_ptr<Subprocess> run_;
  std::thread workload_;
  std::atomic<bool> stop_workload_{false};
  std::atomic<int> rounds_ok_{0};
  bool expect_recovery_ = true;
};

TEST_F(FaultTest, TerminatedConnectionsAreRetriedInTheSameProcess) {
  const std::string config = Setup("term");
  StartRun(config);
  StartWorkload();
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(1500ms);
    // Every pg2iceberg session (they name themselves): replication, coordinator, owner lease,
    // catalog, discovery.
    auto killed = pg_->QueryScalar("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                   "WHERE application_name = 'pg2iceberg'");
    ASSERT_TRUE(killed.ok()) << killed.status().ToString();
    EXPECT_GE(std::stoi(*killed), 5);
    EXPECT_THAT(WaitRecovering(20s), HasSubstr("503 not ready: recovering"));
    ASSERT_TRUE(WaitReady(60s)) << Ready() << run_->LogTail();
  }
  ExpectCaughtUpAndExact(config);
}

TEST_F(FaultTest, AFastPostgresRestartIsRetriedInTheSameProcess) {
  const std::string config = Setup("restart");
  StartRun(config);
  StartWorkload();
  std::this_thread::sleep_for(1500ms);
  PG2I_ASSERT_OK(pg_->Stop());
  EXPECT_THAT(WaitRecovering(20s), HasSubstr("503 not ready: recovering"));
  std::this_thread::sleep_for(2s);
  PG2I_ASSERT_OK(pg_->Restart());
  ASSERT_TRUE(WaitReady(120s)) << Ready() << run_->LogTail();
  std::this_thread::sleep_for(1s);
  ExpectCaughtUpAndExact(config);
}

// max_outage bounds an outage: past it the process exits 1 with the last error.
TEST_F(FaultTest, MaxOutageEndsTheProcessWithTheLastError) {
  const std::string config = Setup("maxout");
  std::ofstream(config, std::ios::app) << "max_outage: 3s\n";
  StartRun(config);
  PG2I_ASSERT_OK(pg_->Stop());
  auto ended = run_->Wait(60s);
  PG2I_ASSERT_OK(pg_->Restart());
  ASSERT_TRUE(ended.ok()) << "still running after max_outage: " << run_->LogTail();
  EXPECT_EQ(ended->code, 1) << ended->ToString();
  EXPECT_THAT(run_->LogTail(), HasSubstr("(gave up: max_outage (3 s) reached)"));
  run_.reset();
}

// DESIGN's durability contract at synchronous_commit = off: a crash of PostgreSQL may roll back
// commits it acknowledged, so pg2iceberg must not act (delete staged files, confirm the slot)
// on coordinator commits that were not durable.
TEST_F(FaultTest, PostgresCrashesAtSynchronousCommitOffLoseNothing) {
  // A long WAL writer delay widens the window in which acknowledged commits can be lost.
  PG2I_ASSERT_OK(pg_->Exec("ALTER SYSTEM SET synchronous_commit = off"));
  PG2I_ASSERT_OK(pg_->Exec("ALTER SYSTEM SET wal_writer_delay = '5s'"));
  PG2I_ASSERT_OK(pg_->Exec("SELECT pg_reload_conf()"));
  const std::string config = Setup("pgcrash");
  StartRun(config);
  StartWorkload();
  std::mt19937 rng(2026);
  constexpr int kCrashes = 20;
  for (int i = 0; i < kCrashes; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(
        std::uniform_int_distribution<int>(200, 2500)(rng)));
    PG2I_ASSERT_OK(pg_->Kill());
    PG2I_ASSERT_OK(pg_->Restart());
    ASSERT_TRUE(WaitReady(120s)) << "crash " << i << ": " << Ready() << run_->LogTail();
    ASSERT_TRUE(WaitHealthy(120s)) << "crash " << i << ": " << run_->LogTail();
    ASSERT_EQ(*pg_->QueryScalar("SHOW synchronous_commit"), "off");
  }
  RecordProperty("crashes", kCrashes);
  ExpectCaughtUpAndExact(config);
}

TEST_F(FaultTest, ARestCatalogOutageIsRetriedInTheSameProcess) {
  auto catalog = fixtures::RestCatalogServer::Start();
  ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
  const std::string config =
      Setup("restout", "  catalog_uri: " + (*catalog)->uri() + "\n", (*catalog)->warehouse());
  StartRun(config);
  StartWorkload();
  std::this_thread::sleep_for(1500ms);
  PG2I_ASSERT_OK((*catalog)->Stop());
  EXPECT_THAT(WaitRecovering(60s), HasSubstr("503 not ready: recovering"));
  // `status` shows the process running and what it is recovering from.
  std::string out;
  for (int i = 0; i < 60; ++i) {  // recorded once the failed attempt has wound down
    EXPECT_TRUE(RunCommand(config, {"status"}, &out).success()) << out;
    if (out.find("; recovering from: ") != std::string::npos) break;
    std::this_thread::sleep_for(500ms);
  }
  EXPECT_THAT(out, HasSubstr("; recovering from: "));
  EXPECT_THAT(out, HasSubstr("REST catalog"));
  std::this_thread::sleep_for(3s);
  PG2I_ASSERT_OK((*catalog)->Restart());
  ASSERT_TRUE(WaitReady(120s)) << Ready() << run_->LogTail();
  ExpectCaughtUpAndExact(config);
}

// The object store (versitygw) stopped for seconds under a REST catalog with an S3 warehouse.
TEST_F(FaultTest, AnObjectStoreOutageIsRetriedInTheSameProcess) {
  auto s3 = fixtures::S3Server::Start();
  ASSERT_TRUE(s3.ok()) << s3.status().ToString();
  PG2I_ASSERT_OK((*s3)->CreateBucket("warehouse"));
  fixtures::RestCatalogServerOptions ro;
  ro.s3 = fixtures::S3Warehouse::On(**s3, "warehouse");
  auto catalog = fixtures::RestCatalogServer::Start(ro);
  ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
  const std::string config = Setup(
      "s3out",
      "  catalog_uri: " + (*catalog)->uri() + "\n  s3_endpoint: " + (*s3)->endpoint() +
          "\n  s3_access_key: " + (*s3)->access_key() + "\n  s3_secret_key: " +
          (*s3)->secret_key() + "\n  s3_region: " + (*s3)->region() + "\n",
      (*catalog)->warehouse());
  StartRun(config);
  StartWorkload();
  std::this_thread::sleep_for(1500ms);
  PG2I_ASSERT_OK((*s3)->Stop());
  EXPECT_THAT(WaitRecovering(60s), HasSubstr("503 not ready: recovering"));
  std::this_thread::sleep_for(3s);
  EXPECT_FALSE(run_->HasExited()) << run_->LogTail();
  PG2I_ASSERT_OK((*s3)->Restart());
  ASSERT_TRUE(WaitReady(120s)) << Ready() << run_->LogTail();
  ExpectCaughtUpAndExact(config);
}

// Upkeep on object storage under the REST catalog (the server writes the metadata files):
// background compaction, `compact --all` and `maintain --retention 0s` run while the workload
// commits; afterwards verify is exact and, once the grace has passed, maintain leaves no
// orphan in any table.
TEST_F(FaultTest, UpkeepOnAnObjectStoreUnderTheRestCatalogWhileWriting) {
  expect_recovery_ = false;  // no fault here: the upkeep runs next to a healthy pipeline
  auto s3 = fixtures::S3Server::Start();
  ASSERT_TRUE(s3.ok()) << s3.status().ToString();
  PG2I_ASSERT_OK((*s3)->CreateBucket("warehouse"));
  fixtures::RestCatalogServerOptions ro;
  ro.s3 = fixtures::S3Warehouse::On(**s3, "warehouse");
  auto catalog = fixtures::RestCatalogServer::Start(ro);
  ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
  const std::string config = Setup(
      "upkeep",
      "  catalog_uri: " + (*catalog)->uri() + "\n  s3_endpoint: " + (*s3)->endpoint() +
          "\n  s3_access_key: " + (*s3)->access_key() + "\n  s3_secret_key: " +
          (*s3)->secret_key() + "\n  s3_region: " + (*s3)->region() +
          "\n  compaction_interval: 1s\n  compaction_data_files: 2\n"
          "  compaction_delete_files: 2\n",
      (*catalog)->warehouse());
  StartRun(config);
  StartWorkload();
  std::this_thread::sleep_for(6s);
  std::string out;
  for (int i = 0; i < 2; ++i) {
    ExitStatus c = RunCommand(config, {"compact", "--all"}, &out);
    EXPECT_TRUE(c.success()) << out;
    ExitStatus m = RunCommand(config, {"maintain", "--retention", "0s"}, &out);
    EXPECT_TRUE(m.success()) << out;
    std::this_thread::sleep_for(1s);
  }
  EXPECT_THAT(run_->LogTail(1'000'000), HasSubstr("compacted table="));
  ExpectCaughtUpAndExact(config);
  std::this_thread::sleep_for(2500ms);  // the grace
  ASSERT_TRUE(RunCommand(config, {"maintain"}, &out).success()) << out;
  ExitStatus dry = RunCommand(config, {"maintain", "--dry-run"}, &out);
  ASSERT_TRUE(dry.success()) << out;
  for (const auto& t : tables_) {
    EXPECT_THAT(out, HasSubstr("table=public." + t + " would_delete_orphans=0 ")) << out;
  }
}

// A warehouse on a small tmpfs filled up while running (needs root to mount it).
TEST_F(FaultTest, AFullWarehouseDiskIsRetriedUntilThereIsSpace) {
  const std::string mnt = dir_->str() + "/small";
  std::filesystem::create_directories(mnt);
  if (geteuid() != 0 || mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=24m") != 0) {
    GTEST_SKIP() << "mounting a tmpfs needs root";
  }
  struct Unmount {
    std::string path;
    ~Unmount() { umount2(path.c_str(), MNT_DETACH); }
  } unmount{mnt};
  const std::string config = Setup("diskfull", "", "file://" + mnt + "/wh");
  StartRun(config);
  StartWorkload();
  std::this_thread::sleep_for(1500ms);
  // Fill the disk.
  {
    std::ofstream filler(mnt + "/filler", std::ios::binary);
    const std::string block(1 << 20, 'x');
    while (filler.write(block.data(), static_cast<std::streamsize>(block.size())) && filler.flush()) {
    }
  }
  EXPECT_THAT(WaitRecovering(60s), HasSubstr("503 not ready: recovering"));
  std::this_thread::sleep_for(3s);
  EXPECT_FALSE(run_->HasExited()) << run_->LogTail();
  std::filesystem::remove(mnt + "/filler");
  ASSERT_TRUE(WaitReady(120s)) << Ready() << run_->LogTail();
  ExpectCaughtUpAndExact(config);
  ExpectNoOrphans(mnt + "/wh");
}

// Flushes interrupted by SIGKILL (a staged file uploaded but not registered; spilled files of
// a streamed transaction still open) leave orphans that the next process deletes once they are
// older than sink.maintenance_grace.
TEST_F(FaultTest, FilesOfInterruptedFlushesAreDeletedAfterTheGrace) {
  PG2I_ASSERT_OK(pg_->Exec("ALTER SYSTEM SET logical_decoding_work_mem = '64kB'"));
  PG2I_ASSERT_OK(pg_->Exec("SELECT pg_reload_conf()"));
  const std::string config = Setup("orphans", "  flush_bytes: 20000\n");
  expect_recovery_ = false;
  // 1. Killed right after uploading a staged file, before registering it.
  {
    fixtures::SubprocessOptions o;
    o.log_path = dir_->str() + "/crash.log";
    o.argv = {PG2I_BINARY, "--config", config, "--log-format", "text", "run"};
    o.env = {{"PG2I_CRASH_AT", "after_staging_upload"}};
    auto run = Subprocess::Start(o);
    ASSERT_TRUE(run.ok());
    std::this_thread::sleep_for(1500ms);
    PG2I_ASSERT_OK(pg_->Exec("INSERT INTO orphans_a SELECT g, 'x', g, 'y' FROM generate_series(1, 20) g"));
    auto st = (*run)->Wait(60s);
    ASSERT_TRUE(st.ok() && st->signaled) << (*run)->LogTail();
  }
  // 2. Killed while a large streamed transaction is open and spilled.
  {
    fixtures::SubprocessOptions o;
    o.log_path = dir_->str() + "/spill.log";
    o.argv = {PG2I_BINARY, "--config", config, "--log-format", "text", "run"};
    auto run = Subprocess::Start(o);
    ASSERT_TRUE(run.ok());
    std::this_thread::sleep_for(1500ms);
    std::thread big([&] {
      (void)pg_->Exec("BEGIN; INSERT INTO orphans_b SELECT g, repeat('s', 200), g, 'z' FROM "
                      "generate_series(1, 3000) g; SELECT pg_sleep(3); INSERT INTO orphans_b "
                      "VALUES (-1, 'last', 0, 'z'); COMMIT;");
    });
    std::this_thread::sleep_for(2s);
    ASSERT_TRUE((*run)->Signal(SIGKILL).ok());
    (void)(*run)->Wait(10s);
    big.join();
    EXPECT_FALSE(Orphans(dir_->str() + "/wh").empty()) << "the scenario left no orphan to delete";
  }
  (void)pg_->Exec("ALTER SYSTEM RESET logical_decoding_work_mem");
  (void)pg_->Exec("SELECT pg_reload_conf()");
  StartRun(config);
  StartWorkload();
  std::this_thread::sleep_for(1s);
  ExpectCaughtUpAndExact(config);
  ExpectNoOrphans(dir_->str() + "/wh");
}

}  // namespace
}  // namespace pg2iceberg
