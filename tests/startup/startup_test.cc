// Start-up validation (DESIGN.md §4) against the real binary and PostgreSQL 15: each unsafe
// situation is refused with exit code 1 (2 for a configuration error) and a message that says what happened and what to do,
// and the recovery the message describes works where it is ours to do.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "fixtures/binary_suite.h"
#include "fixtures/gtest_support.h"
#include "fixtures/pg_cluster.h"
#include "fixtures/subprocess.h"
#include "fixtures/temp_dir.h"

namespace pg2iceberg {
namespace {

using namespace std::chrono_literals;
using fixtures::ExitStatus;
using fixtures::Subprocess;

class StartupTest : public fixtures::BinarySuite {
 protected:
  StartupTest() : BinarySuite("pg2i-startup-", PG2I_BINARY) {}

  // A table `tag`_t with a few rows and a config replicating it; every tag has its own slot,
  // publication, coordinator schema and catalog schema.
  std::string Setup(const std::string& tag, bool with_key = true) {
    tag_ = tag;
    table_ = tag + "_t";
    Status s = pg_->Exec("CREATE TABLE " + table_ + " (id int" +
                         (with_key ? " PRIMARY KEY" : "") + ", v text); INSERT INTO " + table_ +
                         " SELECT g, 'v' || g FROM generate_series(1, 50) g");
    EXPECT_TRUE(s.ok()) << s.ToString();
    const std::string path = dir_->str() + "/" + tag + ".yaml";
    std::ofstream f(path);
    f << "source:\n  postgres: {host: 127.0.0.1, port: " << pg_->port()
      << ", database: postgres, user: postgres}\n"
      << "  logical: {slot_name: slot_" << tag << ", publication_name: pub_" << tag << "}\n"
      << "state: {coordinator_schema: _coord_" << tag << "}\n"
      << "sink:\n  warehouse: file://" << dir_->str() << "/wh\n  catalog_schema: cat_" << tag
      << "\n  flush_interval: 300ms\n  materializer_interval: 300ms\n"
      << "metrics_addr: \"\"\ntables:\n  - name: public." << table_ << "\n";
    return path;
  }

  // Runs the pipeline until the table is in Iceberg (plus `writes` applied), then stops it.
  void RunOnce(const std::string& config, const std::string& writes = "") {
    fixtures::SubprocessOptions o;
    o.log_path = dir_->str() + "/run" + std::to_string(counter_++) + ".log";
    o.argv = {PG2I_BINARY, "--config", config, "--log-format", "text", "run"};
    auto run = Subprocess::Start(o);
    ASSERT_TRUE(run.ok());
    // Streaming (the slot is in use) before anything else.
    for (int i = 0; i < 600; ++i) {
      auto active = pg_->QueryScalar("SELECT count(*) FROM pg_replication_slots WHERE active "
                                     "AND slot_name = 'slot_" + tag_ + "'");
      if (active.ok() && *active == "1") break;
      ASSERT_FALSE((*run)->HasExited()) << (*run)->LogTail();
      std::this_thread::sleep_for(100ms);
    }
    if (!writes.empty()) {
      std::this_thread::sleep_for(1s);
      PG2I_ASSERT_OK(pg_->Exec(writes));
    }
    std::string out;
    ExitStatus w = RunCommand(config, {"status", "--wait", "--timeout", "120s"}, &out);
    ASSERT_TRUE(w.success()) << out << (*run)->LogTail();
    auto stopped = (*run)->Terminate(30s);
    ASSERT_TRUE(stopped.ok());
    ASSERT_TRUE(stopped->success()) << (*run)->LogTail();
  }

  // `run` must refuse: exit code `code` (1 for an unsafe state, 2 for a configuration error)
  // and `expected` in its output.
  void ExpectRefused(const std::string& config, const std::string& expected, int code = 1) {
    std::string out;
    ExitStatus st = RunCommand(config, {"run"}, &out);
    EXPECT_FALSE(st.signaled) << out;
    EXPECT_EQ(st.code, code) << out;
    EXPECT_NE(out.find(expected), std::string::npos) << out;
  }

  void ExpectVerifies(const std::string& config) {
    std::string out;
    EXPECT_TRUE(RunCommand(config, {"verify"}, &out).success()) << out;
    EXPECT_EQ(out.find("DIFF"), std::string::npos) << out;
  }

  std::string tag_;
  std::string table_;
  int counter_ = 0;
};

TEST_F(StartupTest, TableWithoutPrimaryKeyIsRefused) {
  const std::string config = Setup("nokey", false);
  ExpectRefused(config, "has no primary key", 2);
  // Nothing was created for it: no slot.
  EXPECT_EQ(*pg_->QueryScalar("SELECT count(*) FROM pg_replication_slots WHERE slot_name = "
                              "'slot_nokey'"),
            "0");
}

TEST_F(StartupTest, MetricsAddressInUseIsRefusedBeforeAnythingIsCreated) {
  std::string config = Setup("metricsbusy");
  // Something else listens on the port.
  const int busy = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(busy, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(busy, 1), 0);
  socklen_t len = sizeof a;
  getsockname(busy, reinterpret_cast<sockaddr*>(&a), &len);
  const std::string addr = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  std::ifstream in(config);
  std::stringstream text;
  text << in.rdbuf();
  std::string yaml = text.str();
  yaml.replace(yaml.find("metrics_addr: \"\""), 16, "metrics_addr: \"" + addr + "\"");
  std::ofstream(config) << yaml;
  ExpectRefused(config, "cannot serve metrics on " + addr);
  ExpectRefused(config, "set metrics_addr to a free host:port, or to \"\" to turn the endpoint off");
  close(busy);
  EXPECT_EQ(*pg_->QueryScalar("SELECT count(*) FROM pg_replication_slots WHERE slot_name = "
                              "'slot_metricsbusy'"),
            "0");
}

TEST_F(StartupTest, AnotherClusterIsRefused) {
  const std::string config = Setup("sysid");
  RunOnce(config);
  PG2I_ASSERT_OK(pg_->Exec("UPDATE _coord_sysid.pipeline_meta SET value = '7000000000000000001' "
                           "WHERE key = 'system_identifier'"));
  ExpectRefused(config, "is not the one the coordinator was set up for");
}

TEST_F(StartupTest, SlotAdvancedBySomeoneElseIsRefused) {
  const std::string config = Setup("advanced");
  RunOnce(config);
  PG2I_ASSERT_OK(pg_->Exec("INSERT INTO advanced_t VALUES (1000, 'while stopped')"));
  PG2I_ASSERT_OK(pg_->QueryScalar("SELECT pg_replication_slot_advance('slot_advanced', "
                                  "pg_current_wal_lsn())::text")
                     .status());
  ExpectRefused(config, "by someone else");
}

TEST_F(StartupTest, LostSlotIsRefused) {
  const std::string config = Setup("lost");
  RunOnce(config);
  PG2I_ASSERT_OK(pg_->QueryScalar("SELECT pg_drop_replication_slot('slot_lost')::text").status());
  ExpectRefused(config, "is gone although pg2iceberg used it before");
}

// A table dropped and re-created while pg2iceberg was stopped is a different table: the next
// start copies it again, and the copy replaces the Iceberg content (rows of the old table do not
// survive).
TEST_F(StartupTest, RecreatedTableIsCopiedAgainOnTheNextStart) {
  const std::string config = Setup("recreated");
  RunOnce(config);
  PG2I_ASSERT_OK(pg_->Exec("DROP TABLE recreated_t; CREATE TABLE recreated_t (id int PRIMARY "
                           "KEY, v text); INSERT INTO recreated_t VALUES (7, 'new')"));
  RunOnce(config, "INSERT INTO recreated_t VALUES (8, 'after')");
  ExpectVerifies(config);
  std::string out;
  ASSERT_TRUE(RunCommand(config, {"verify"}, &out).success()) << out;
  EXPECT_NE(out.find("pg_rows=2 iceberg_rows=2 missing=0 extra=0"), std::string::npos) << out;
}

TEST_F(StartupTest, TableThatLeftThePublicationIsRefusedThenRecopied) {
  const std::string config = Setup("leftpub");
  RunOnce(config);
  PG2I_ASSERT_OK(pg_->Exec("ALTER PUBLICATION pub_leftpub DROP TABLE leftpub_t; "
                           "DELETE FROM leftpub_t WHERE id <= 10; "
                           "UPDATE leftpub_t SET v = 'missed' WHERE id = 20"));
  ExpectRefused(config, "left publication pub_leftpub");
  ExpectRefused(config, "left publication pub_leftpub");  // still refused: nothing re-added it
  // The recovery the message gives: drop the Iceberg table, forget the copy, start again.
  PG2I_ASSERT_OK(pg_->Exec("DELETE FROM cat_leftpub.iceberg_tables WHERE table_name = 'leftpub_t'; "
                           "DELETE FROM _coord_leftpub.tables WHERE table_name = 'public.leftpub_t'"));
  RunOnce(config, "UPDATE leftpub_t SET v = 'after' WHERE id = 30");
  ExpectVerifies(config);
}

}  // namespace
}  // namespace pg2iceberg
