// sink.include_metadata against the real binary and PostgreSQL 15: every mirror row carries the
// commit LSN (_lsn) and commit time (_commit_ts) of its last change, as Iceberg Java and DuckDB
// read them; copied rows carry the copy's LSN; `verify` stays clean.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "fixtures/binary_suite.h"
#include "fixtures/pg_cluster.h"
#include "fixtures/readers.h"
#include "fixtures/subprocess.h"

namespace pg2iceberg {
namespace {

using namespace std::chrono_literals;
using fixtures::Subprocess;

class MetadataTest : public fixtures::BinarySuite {
 protected:
  MetadataTest() : BinarySuite("pg2i-metadata-", PG2I_BINARY) {}

  // The WAL position now, as a number (bytes from 0/0).
  int64_t WalNow() {
    return std::stoll(*pg_->QueryScalar("SELECT (pg_current_wal_lsn() - '0/0')::bigint"));
  }
};

TEST_F(MetadataTest, EveryRowCarriesTheLsnAndCommitTimeOfItsLastChange) {
  PG2I_ASSERT_OK(pg_->Exec("CREATE TABLE meta_t (id int PRIMARY KEY, v text); "
                           "INSERT INTO meta_t SELECT g, 'v' || g FROM generate_series(1, 10) g"));
  const int64_t before_copy = WalNow();
  const std::string wh = dir_->str() + "/wh";
  const std::string config = dir_->str() + "/meta.yaml";
  std::ofstream(config) << "source:\n  postgres: {host: 127.0.0.1, port: " << pg_->port()
                        << ", database: postgres, user: postgres}\n"
                        << "  logical: {slot_name: slot_meta, publication_name: pub_meta}\n"
                        << "state: {coordinator_schema: _coord_meta}\n"
                        << "sink:\n  warehouse: file://" << wh << "\n  catalog_schema: cat_meta\n"
                        << "  flush_interval: 300ms\n  materializer_interval: 300ms\n"
                        << "  include_metadata: true\n"
                        << "metrics_addr: \"\"\ntables:\n  - name: public.meta_t\n";
  fixtures::SubprocessOptions o;
  o.log_path = dir_->str() + "/run.log";
  o.argv = {PG2I_BINARY, "--config", config, "--log-format", "text", "run"};
  PG2I_ASSERT_OK_AND_ASSIGN(auto run, Subprocess::Start(o));
  std::string out;
  bool copied = false;
  for (int i = 0; i < 60 && !copied; ++i) {
    copied = RunCommand(config, {"verify"}, &out).success();
    if (!copied) std::this_thread::sleep_for(500ms);
  }
  ASSERT_TRUE(copied) << out << run->LogTail();
  const int64_t a0 = WalNow();
  PG2I_ASSERT_OK(pg_->Exec("INSERT INTO meta_t SELECT g, 'v' || g FROM generate_series(11, 15) g"));
  const int64_t a1 = WalNow();
  PG2I_ASSERT_OK(pg_->Exec("UPDATE meta_t SET v = 'changed' WHERE id IN (1, 2, 11)"));
  const int64_t b1 = WalNow();
  bool verified = false;
  for (int i = 0; i < 60 && !verified; ++i) {
    verified = RunCommand(config, {"verify"}, &out).success() &&
               out.find("pg_rows=15 iceberg_rows=15") != std::string::npos &&
               out.find("different=0") != std::string::npos;
    if (!verified) std::this_thread::sleep_for(500ms);
  }
  ASSERT_TRUE(verified) << out << run->LogTail();
  PG2I_ASSERT_OK(run->Signal(SIGTERM));
  PG2I_ASSERT_OK_AND_ASSIGN(fixtures::ExitStatus st, run->Wait(60s));
  EXPECT_TRUE(st.success()) << run->LogTail();

  auto java = fixtures::RunJavaReader(
      {"--jdbc-uri", "jdbc:postgresql://127.0.0.1:" + std::to_string(pg_->port()) + "/postgres",
       "--jdbc-user", "postgres", "--jdbc-schema", "cat_meta", "--catalog-name", "pg2iceberg",
       "--warehouse", "file://" + wh, "--table", "default.meta_t", "--no-file-column"});
  ASSERT_TRUE(java.ok()) << java.status().ToString();
  std::istringstream lines(*java);
  std::string header;
  std::getline(lines, header);
  std::vector<std::string> names;
  for (std::istringstream h(header); std::getline(h, names.emplace_back(), '\t');) {
  }
  names.pop_back();
  auto col = [&](const std::string& n) {
    return static_cast<size_t>(std::find(names.begin(), names.end(), n) - names.begin());
  };
  const size_t id_c = col("id"), lsn_c = col("_lsn"), ts_c = col("_commit_ts");
  ASSERT_LT(lsn_c, names.size()) << header;
  ASSERT_LT(ts_c, names.size()) << header;
  std::map<int, std::pair<std::string, std::string>> meta;  // id → (_lsn, _commit_ts)
  for (std::string line; std::getline(lines, line);) {
    std::vector<std::string> cells;
    for (std::istringstream l(line); std::getline(l, cells.emplace_back(), '\t');) {
    }
    cells.pop_back();
    meta[std::stoi(cells[id_c])] = {cells[lsn_c], cells[ts_c]};
  }
  ASSERT_EQ(meta.size(), 15u) << *java;
  auto lsn_of = [&](int id) { return std::stoll(meta[id].first); };
  for (int id : {3, 4, 10}) {  // copied, never changed: the copy's LSN, no commit time
    EXPECT_GE(lsn_of(id), before_copy) << id;
    EXPECT_LE(lsn_of(id), a0) << id;
  }
  for (int id : {12, 13, 15}) {  // inserted in the first transaction
    EXPECT_GT(lsn_of(id), a0) << id;
    EXPECT_LE(lsn_of(id), a1) << id;
  }
  for (int id : {1, 2, 11}) {  // updated last in the second
    EXPECT_GT(lsn_of(id), a1) << id;
    EXPECT_LE(lsn_of(id), b1) << id;
    EXPECT_EQ(meta[id].first, meta[1].first) << "one transaction, one LSN";
  }
  EXPECT_NE(meta[12].second, meta[1].second) << "two transactions, one commit time";
  for (int id = 11; id <= 15; ++id) {
    EXPECT_NE(meta[id].second, "null") << id;
    EXPECT_FALSE(meta[id].second.empty()) << id;
  }
  // DuckDB reads the same.
  auto location = pg_->QueryScalar(
      "SELECT metadata_location FROM cat_meta.iceberg_tables WHERE table_name = 'meta_t'");
  ASSERT_TRUE(location.ok());
  auto duck = fixtures::RunDuckDbReader({"--metadata-file", location->substr(7),
                                         "--no-file-column"});
  ASSERT_TRUE(duck.ok()) << duck.status().ToString();
  EXPECT_NE(duck->find(meta[1].first), std::string::npos) << *duck;
}

}  // namespace
}  // namespace pg2iceberg
