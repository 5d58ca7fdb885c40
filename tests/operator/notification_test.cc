// Commit notifications against the real binary and PostgreSQL 15 (docs/notifications.md): a
// webhook receiver and a LISTEN session get one event per Iceberg snapshot of the table, with
// the snapshot's sequence number, operation, rows and LSN range; a webhook receiver that is down
// for 30 s delays nothing (replication and NOTIFY go on) and gets every event once it is back.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "fixtures/binary_suite.h"
#include "fixtures/net.h"
#include "fixtures/pg_cluster.h"
#include "fixtures/readers.h"
#include "fixtures/subprocess.h"
#include "fixtures/warehouse.h"

namespace pg2iceberg {
namespace {

using namespace std::chrono_literals;
using fixtures::Subprocess;

class NotificationTest : public fixtures::BinarySuite {
 protected:
  NotificationTest() : BinarySuite("pg2i-notify-", PG2I_BINARY) {}

  std::unique_ptr<Subprocess> Start(const std::string& name, std::vector<std::string> argv) {
    fixtures::SubprocessOptions o;
    o.log_path = dir_->str() + "/" + name + std::to_string(started_++) + ".log";
    o.argv = std::move(argv);
    auto p = Subprocess::Start(o);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? std::move(*p) : nullptr;
  }

  std::unique_ptr<Subprocess> StartReceiver(const std::string& mode,
                                            std::vector<std::string> args) {
    std::vector<std::string> argv = fixtures::PythonToolArgv("commit_receiver.py");
    argv.push_back(mode);
    argv.insert(argv.end(), args.begin(), args.end());
    auto p = Start(mode, argv);
    if (p) PG2I_EXPECT_OK(p->WaitForLog("listening"));
    return p;
  }

  // The events received so far (one JSON object per line).
  std::vector<nlohmann::json> Received(const std::string& file) {
    std::vector<nlohmann::json> out;
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_discarded()) out.push_back(std::move(j));
    }
    return out;
  }

  // snapshot id → its metadata entry, of the table now.
  std::map<int64_t, nlohmann::json> Snapshots() {
    std::map<int64_t, nlohmann::json> out;
    const nlohmann::json m = fixtures::LatestMetadata(dir_->str() + "/wh", "public.notify_t");
    for (const auto& s : m["snapshots"]) {
      out[s["snapshot-id"].get<int64_t>()] = s;
    }
    return out;
  }

  int64_t IcebergRows() {
    const nlohmann::json m = fixtures::LatestMetadata(dir_->str() + "/wh", "public.notify_t");
    for (const auto& s : m["snapshots"]) {
      if (s["snapshot-id"] == m["current-snapshot-id"]) {
        return std::stoll(s["summary"].value("total-records", "0"));
      }
    }
    return 0;
  }

  // Waits (at most `limit`) until every snapshot of the table arrived through `file`.
  bool AllArrived(const std::string& file, std::chrono::seconds limit) {
    for (auto until = std::chrono::steady_clock::now() + limit;
         std::chrono::steady_clock::now() < until; std::this_thread::sleep_for(200ms)) {
      std::set<int64_t> got;
      for (const auto& r : Received(file)) got.insert(r["event"]["snapshot_id"].get<int64_t>());
      std::set<int64_t> want;
      for (const auto& [id, s] : Snapshots()) want.insert(id);
      if (!want.empty() && got == want) return true;
    }
    return false;
  }

  void Insert(int from, int to) {
    PG2I_EXPECT_OK(pg_->Exec("INSERT INTO notify_t SELECT g, 'v' || g FROM generate_series(" +
                             std::to_string(from) + ", " + std::to_string(to) + ") g"));
  }

  int started_ = 0;
};

TEST_F(NotificationTest, EveryCommitReachesTheWebhookAndNotifyAndADownReceiverDelaysNothing) {
  PG2I_ASSERT_OK(pg_->Exec("CREATE TABLE notify_t (id int PRIMARY KEY, v text); "
                           "INSERT INTO notify_t SELECT g, 'v' || g FROM generate_series(1, 20) g"));
  PG2I_ASSERT_OK_AND_ASSIGN(int port, fixtures::FreeLoopbackPort());
  const std::string hook = dir_->str() + "/webhook.jsonl";
  const std::string notified = dir_->str() + "/notify.jsonl";
  auto receiver = StartReceiver("webhook", {"--port", std::to_string(port), "--out", hook});
  auto listener = StartReceiver("listen", {"--dsn", pg_->ConnString(), "--channel",
                                           "pg2i_commits", "--out", notified});
  const std::string config = dir_->str() + "/notify.yaml";
  std::ofstream(config)
      << "source:\n  postgres: {host: 127.0.0.1, port: " << pg_->port()
      << ", database: postgres, user: postgres}\n"
      << "  logical: {slot_name: slot_notify, publication_name: pub_notify}\n"
      << "state: {coordinator_schema: _coord_notify}\n"
      << "sink:\n  warehouse: file://" << dir_->str() << "/wh\n  catalog_schema: cat_notify\n"
      << "  flush_interval: 300ms\n  materializer_interval: 300ms\n"
      << "notifications:\n  webhook_url: http://127.0.0.1:" << port << "/hook?token=secret\n"
      << "  webhook_timeout: 2s\n  channel: pg2i_commits\n  poll_interval: 1s\n"
      << "metrics_addr: \"\"\ntables:\n  - name: public.notify_t\n";
  auto run = Start("run", {PG2I_BINARY, "--config", config, "--log-format", "text", "run"});

  // Commits while both receivers are up: each arrives.
  for (int i = 0; i < 4; ++i) {
    Insert(100 + 10 * i, 104 + 10 * i);
    std::this_thread::sleep_for(700ms);
  }
  EXPECT_TRUE(AllArrived(hook, 60s)) << run->LogTail();
  const size_t before_outage = Snapshots().size();
  EXPECT_GE(before_outage, 3u);

  // The webhook receiver is down for 30 s: replication goes on, NOTIFY too.
  PG2I_ASSERT_OK(receiver->Signal(SIGKILL));
  (void)receiver->Wait(10s);
  const auto down_at = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) {
    Insert(200 + 10 * i, 204 + 10 * i);
    std::this_thread::sleep_for(500ms);
  }
  bool replicated = false;
  for (int i = 0; i < 100 && !replicated; ++i) {
    replicated = IcebergRows() == 20 + 4 * 5 + 3 * 5;
    if (!replicated) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(replicated) << "rows in Iceberg: " << IcebergRows();
  EXPECT_LT(std::chrono::steady_clock::now() - down_at, 15s)
      << "replication waited for the webhook receiver";
  EXPECT_TRUE(AllArrived(notified, 20s)) << "NOTIFY waited for the webhook receiver";
  EXPECT_GT(Snapshots().size(), before_outage);

  std::this_thread::sleep_until(down_at + 30s);
  receiver = StartReceiver("webhook", {"--port", std::to_string(port), "--out", hook});
  EXPECT_TRUE(AllArrived(hook, 60s)) << run->LogTail();
  PG2I_ASSERT_OK(run->Signal(SIGTERM));
  PG2I_ASSERT_OK_AND_ASSIGN(fixtures::ExitStatus st, run->Wait(60s));
  EXPECT_TRUE(st.success()) << run->LogTail();

  const std::string log = run->LogTail(200000);
  EXPECT_NE(log.find("commit notification not delivered"), std::string::npos);
  EXPECT_EQ(log.find("token=secret"), std::string::npos) << "the webhook URL's token was logged";

  // Every snapshot once per sink (the webhook may have had one twice: at least once), in
  // commit order, matching the table's metadata.
  const std::map<int64_t, nlohmann::json> snapshots = Snapshots();
  for (const std::string& file : {hook, notified}) {
    SCOPED_TRACE(file);
    std::vector<int64_t> order;
    std::map<int64_t, nlohmann::json> by_id;
    for (const auto& r : Received(file)) {
      const nlohmann::json& e = r["event"];
      const int64_t id = e["snapshot_id"].get<int64_t>();
      if (r["via"] == "webhook") {
        EXPECT_EQ(r["idempotency_key"], std::to_string(id));
      }
      if (by_id.emplace(id, e).second) order.push_back(id);
    }
    ASSERT_EQ(by_id.size(), snapshots.size());
    int64_t last_seq = 0;
    bool lsn_seen = false;
    for (int64_t id : order) {
      ASSERT_TRUE(snapshots.count(id)) << id;
      const nlohmann::json& s = snapshots.at(id);
      const nlohmann::json& e = by_id.at(id);
      EXPECT_EQ(e["table"], "public.notify_t");
      EXPECT_EQ(e["sequence_number"], s["sequence-number"]);
      EXPECT_GT(e["sequence_number"].get<int64_t>(), last_seq) << "out of commit order";
      last_seq = e["sequence_number"].get<int64_t>();
      EXPECT_EQ(e["operation"], s["summary"]["operation"]);
      EXPECT_EQ(e["rows_added"], std::stoll(s["summary"].value("added-records", "0")));
      EXPECT_EQ(e["commit_time_ms"], s["timestamp-ms"]);
      if (s["summary"].contains("pg2iceberg.lsn-max")) {
        EXPECT_EQ(e["lsn_max"], s["summary"]["pg2iceberg.lsn-max"]);
        lsn_seen = true;
      }
    }
    EXPECT_TRUE(lsn_seen) << "no event carried an LSN range";
  }
}

}  // namespace
}  // namespace pg2iceberg
