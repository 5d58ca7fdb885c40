// Key-index build (issue 15): writes a table of N keys (bigint, random order) in F data files to
// a local directory, then, in the same run, (1) reads the key column of every live row through
// TableScan (the baseline: what any rebuild must read) and (2) rebuilds the key index from the
// table. Prints both times and their ratio, the index's size on disk, peak RSS, and the rate of
// random lookups.
//
//   key_index_bench [keys=10000000] [files=10]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <random>

#include "base/clock.h"
#include "fixtures/temp_dir.h"
#include "iceberg/metadata_edit.h"
#include "iceberg/partitioned_writer.h"
#include "iceberg/snapshot_producer.h"
#include "iceberg/table_scan.h"
#include "index/key_index.h"
#include "io/arrow_file_io.h"

namespace pg2iceberg {
namespace {

using SteadyClock = std::chrono::steady_clock;

double Seconds(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

int Fail(const Status& s) {
  std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
  return 1;
}

int64_t DirBytes(const std::filesystem::path& dir) {
  int64_t total = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) total += static_cast<int64_t>(e.file_size());
  }
  return total;
}

int Main(int64_t keys, int files) {
  auto tmp = fixtures::TempDir::Create("pg2i-index-bench-");
  if (!tmp.ok()) return Fail(tmp.status());
  std::shared_ptr<io::FileIO> io = io::ArrowFileIO::MakeLocal();
  const std::string location = "file://" + tmp->str() + "/t";
  iceberg::Schema schema(
      0,
      {iceberg::Field{1, "id", true, iceberg::DataType::Primitive(Type{TypeId::kLong}), "", {}, {}},
       iceberg::Field{2, "v", false, iceberg::DataType::Primitive(Type{TypeId::kLong}), "", {}, {}}},
      {1});
  auto m = iceberg::NewTableMetadata(location, schema, {}, {}, "9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f",
                                     Clock::Real()->NowMillis());
  if (!m.ok()) return Fail(m.status());
  iceberg::TableMetadata meta = *m;

  // The table: keys 0..N-1 in random order, one commit per file.
  std::vector<int64_t> ids(static_cast<size_t>(keys));
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), std::mt19937_64(1));
  const auto t_write = SteadyClock::now();
  const int64_t per_file = (keys + files - 1) / files;
  for (int64_t begin = 0; begin < keys; begin += per_file) {
    iceberg::ParquetWriteOptions o;
    o.target_file_size = int64_t{1} << 40;
    auto w = iceberg::PartitionedWriter::MakeData(io, meta, o);
    if (!w.ok()) return Fail(w.status());
    std::vector<std::vector<Value>> rows;
    for (int64_t i = begin; i < std::min(keys, begin + per_file); ++i) {
      rows.push_back({Value(ids[static_cast<size_t>(i)]), Value(i)});
      if (rows.size() == 100'000) {
        if (Status s = (*w)->Write(rows); !s.ok()) return Fail(s);
        rows.clear();
      }
    }
    if (Status s = (*w)->Write(rows); !s.ok()) return Fail(s);
    iceberg::SnapshotChange change;
    auto closed = (*w)->Close();
    if (!closed.ok()) return Fail(closed.status());
    change.added_data = *closed;
    iceberg::SnapshotProducer p(io.get(), Clock::Real(), change);
    auto pending = p.Produce(meta);
    if (!pending.ok()) return Fail(pending.status());
    if (Status s = iceberg::ApplyUpdates(&meta, pending->updates, Clock::Real()->NowMillis()); !s.ok()) return Fail(s);
  }
  std::vector<int64_t>().swap(ids);
  std::printf("table: %lld keys in %d files, written in %.1f s\n", static_cast<long long>(keys), files,
              Seconds(t_write));

  // Baseline: the key column of every live row, as any rebuild reads it.
  const auto t_scan = SteadyClock::now();
  auto scan = iceberg::TableScan::Plan(io, meta);
  if (!scan.ok()) return Fail(scan.status());
  int64_t scanned = 0;
  for (const auto& task : scan->tasks()) {
    std::vector<int64_t> positions;
    auto rows = scan->ReadLive(task, {schema.fields()[0]}, &positions);
    if (!rows.ok()) return Fail(rows.status());
    scanned += static_cast<int64_t>(rows->size());
  }
  const double scan_s = Seconds(t_scan);

  const std::filesystem::path dir = tmp->path() / "index";
  auto index = index::KeyIndex::Open(dir.string());
  if (!index.ok()) return Fail(index.status());
  const auto t_build = SteadyClock::now();
  auto stats = (*index)->Sync(io, meta, {1});
  if (!stats.ok()) return Fail(stats.status());
  const double build_s = Seconds(t_build);
  index->reset();  // flushed and closed: its size on disk is what a restart opens
  const int64_t bytes = DirBytes(dir);
  index = index::KeyIndex::Open(dir.string());
  if (!index.ok()) return Fail(index.status());

  std::mt19937_64 rng(2);
  std::vector<std::vector<Value>> probe;
  for (int i = 0; i < 100'000; ++i) {
    probe.push_back({Value(static_cast<int64_t>(rng() % static_cast<uint64_t>(keys)))});
  }
  const auto t_lookup = SteadyClock::now();
  auto found = (*index)->Lookup(probe);
  if (!found.ok()) return Fail(found.status());
  const double lookup_s = Seconds(t_lookup);
  for (const auto& f : *found) {
    if (!f) return Fail(Internal("a key of the table is not in the index"));
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("scan of the key column (baseline): %lld rows in %.1f s\n",
              static_cast<long long>(scanned), scan_s);
  std::printf("index build: %lld keys in %.1f s (%.2fx the scan); %.1f MiB on disk (%.1f bytes/key)\n",
              static_cast<long long>(stats->keys), build_s, build_s / scan_s, bytes / 1048576.0,
              static_cast<double>(bytes) / static_cast<double>(keys));
  std::printf("random lookups after reopening: %.0f keys/s\n", 100'000 / lookup_s);
  std::printf("peak RSS: %ld MiB\n", ru.ru_maxrss / 1024);
  return 0;
}

}  // namespace
}  // namespace pg2iceberg

int main(int argc, char** argv) {
  const int64_t keys = argc > 1 ? std::atoll(argv[1]) : 10'000'000;
  const int files = argc > 2 ? std::atoi(argv[2]) : 10;
  return pg2iceberg::Main(keys, files);
}
