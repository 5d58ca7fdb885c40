// Against a real PostgreSQL 15 with logical_decoding_work_mem = 64kB, so a large transaction
// arrives streamed (proto v2) long before its commit: one transaction of a million rows goes
// through the WAL writer with an 8 MB spill threshold. Every row must be registered in the
// coordinator, and the process's peak RSS must grow far less than buffering it would need.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <string>

#include "coord/memory_coordinator.h"
#include "fixtures/gtest_support.h"
#include "fixtures/pg_cluster.h"
#include "fixtures/temp_dir.h"
#include "io/arrow_file_io.h"
#include "pg/replication.h"
#include "stage/staged_file.h"
#include "stage/wal_writer.h"

namespace pg2iceberg::stage {
namespace {

using fixtures::PgCluster;
using namespace std::chrono_literals;

constexpr int64_t kRows = 1'000'000;

// Peak resident set size of this process in KiB (VmHWM), or -1.
int64_t PeakRssKib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

// Resets VmHWM to the current RSS (Linux: "5" > /proc/self/clear_refs); false if refused.
bool ResetPeakRss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

class WalWriterIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fixtures::PgClusterOptions o;
    o.settings = {{"logical_decoding_work_mem", "64kB"}};
    fixtures::StartForSuite(pg_, PgCluster::Start(o), "PostgreSQL");
  }
  static void TearDownTestSuite() { pg_.reset(); }
  void SetUp() override { ASSERT_NE(pg_, nullptr) << "suite setup failed, see above"; }

  struct Outcome {
    int64_t peak_growth_kib = 0;
    int64_t spill_files = 0;
    double seconds = 0;
  };

  // Streams one transaction of kRows rows of `table` through a WalWriter spilling at
  // `spill_bytes`, and checks that every row is registered in the coordinator.
  static void RunOne(const std::string& table, int64_t spill_bytes, Outcome* out) {
    PG2I_ASSERT_OK(pg_->Exec("CREATE TABLE " + table + " (id int PRIMARY KEY, pad text);" +
                             "CREATE PUBLICATION " + table + "_pub FOR TABLE " + table));
    PG2I_ASSERT_OK_AND_ASSIGN(auto conn, pg::ReplicationConnection::Connect(
                                             pg_->ConnString(), "test cluster"));
    PG2I_ASSERT_OK_AND_ASSIGN(pg::CreatedSlot created, conn->CreateSlot(table + "_slot", false));
    pg::StreamOptions so;
    so.publications = {table + "_pub"};
    PG2I_ASSERT_OK(conn->StartReplication(table + "_slot", created.consistent_point, so));
    auto stream = std::make_unique<pg::ReplicationStream>(std::move(conn),
                                                          created.consistent_point,
                                                          pg::ReplicationStream::Options{});

    PG2I_ASSERT_OK_AND_ASSIGN(fixtures::TempDir dir, fixtures::TempDir::Create("pg2i-spill-"));
    coord::MemoryCoordinator coord(Clock::Real());
    StagedRelation rel;
    rel.table = "public." + table;
    rel.columns = {{"id", 23, -1, Type{TypeId::kInt}, false},
                   {"pad", 25, -1, Type{TypeId::kString}, true}};
    rel.key = {0};
    WalWriterOptions wo;
    wo.slot = table + "_slot";
    wo.staging_uri = "file://" + (dir.path() / "_staging").string();
    wo.spill_bytes = spill_bytes;
    std::shared_ptr<io::FileIO> fio = io::ArrowFileIO::MakeLocal();
    WalWriter writer(
        std::move(stream), &coord, fio, {{rel.table, rel}},
        [rel](const std::string& t) -> Result<StagedRelation> {
          if (t != rel.table) return FailedPrecondition("unexpected rediscovery of " + t);
          return rel;
        },
        wo);

    PG2I_ASSERT_OK(pg_->Exec("INSERT INTO " + table + " SELECT g, repeat('p', 100) FROM " +
                             "generate_series(1, " + std::to_string(kRows) + ") g"));
    PG2I_ASSERT_OK_AND_ASSIGN(std::string until_text,
                              pg_->QueryScalar("SELECT pg_current_wal_lsn()"));
    const Lsn until = *Lsn::Parse(until_text);

    const bool reset = ResetPeakRss();
    const int64_t before = PeakRssKib();
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + 180s;
    while (writer.confirmed() < until && std::chrono::steady_clock::now() < deadline) {
      PG2I_ASSERT_OK(writer.Step(200ms));
    }
    out->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const int64_t after = PeakRssKib();
    out->peak_growth_kib = after - before;
    out->spill_files = writer.spill_files_written();
    std::cout << table << ": spill_bytes=" << spill_bytes << " peak RSS " << before << " → "
              << after << " KiB (growth " << out->peak_growth_kib / 1024 << " MiB, VmHWM reset "
              << (reset ? "ok" : "refused") << "), " << out->spill_files << " spilled files, "
              << out->seconds << " s\n";
    ASSERT_GE(writer.confirmed(), until) << "the transaction was not confirmed in time";

    // Every row registered, offsets contiguous, all at the one commit LSN.
    EXPECT_EQ(writer.rows_staged(), kRows);
    PG2I_ASSERT_OK_AND_ASSIGN(auto entries, coord.ReadLog(rel.table, -1, 1'000'000));
    int64_t next = 0;
    for (const auto& e : entries) {
      EXPECT_EQ(e.start_offset, next);
      next = e.end_offset;
      EXPECT_EQ(e.min_commit_lsn, entries.front().max_commit_lsn);
      EXPECT_EQ(e.max_commit_lsn, entries.front().max_commit_lsn);
    }
    EXPECT_EQ(next, kRows);
    // The files hold exactly ids 1..kRows, in order (one file at a time: bounded memory).
    int64_t expect_id = 1;
    for (const auto& e : entries) {
      PG2I_ASSERT_OK_AND_ASSIGN(DecodedStagedFile d, DecodeStagedFile(fio, e.uri));
      ASSERT_EQ(static_cast<int64_t>(d.changes.size()), e.rows);
      for (const auto& c : d.changes) {
        ASSERT_EQ(std::get<int32_t>(c.change.values[0]), expect_id) << e.uri;
        ++expect_id;
      }
    }
    EXPECT_EQ(expect_id, kRows + 1);
  }

  static inline std::unique_ptr<PgCluster> pg_;
};

TEST_F(WalWriterIntegrationTest, MillionRowStreamedTransactionSpillsWithBoundedMemory) {
  Outcome o;
  RunOne("bulk_spill", int64_t{8} << 20, &o);
  EXPECT_GT(o.spill_files, 10);
  // Buffered whole, this transaction raises the peak by several hundred MB (see the disabled
  // test below); spilled at 8 MB it stays within a few tens.
  EXPECT_LT(o.peak_growth_kib, 150 * 1024) << "KiB";
}

// The comparison behind the bound above; slow and memory-hungry, so run by hand:
//   wal_writer_integration_test --gtest_also_run_disabled_tests --gtest_filter='*Buffered*'
TEST_F(WalWriterIntegrationTest, DISABLED_MillionRowStreamedTransactionBufferedInMemory) {
  Outcome o;
  RunOne("bulk_buffered", int64_t{1} << 40, &o);
  EXPECT_EQ(o.spill_files, 0);
}

}  // namespace
}  // namespace pg2iceberg::stage
