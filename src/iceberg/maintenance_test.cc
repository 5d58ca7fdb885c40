#include "iceberg/maintenance.h"

#include <algorithm>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/clock.h"
#include "iceberg/metadata_edit.h"
#include "iceberg/snapshot_producer.h"
#include "io/memory_file_io.h"
#include "fixtures/gtest_support.h"

namespace pg2iceberg::iceberg {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using namespace std::chrono_literals;

constexpr char kLoc[] = "file:///wh/db/t";

TEST(CanonicalLocationTest, OneSpellingPerObject) {
  EXPECT_EQ(CanonicalLocation("file:///wh/a.parquet"), "/wh/a.parquet");
  EXPECT_EQ(CanonicalLocation("file:/wh/a.parquet"), "/wh/a.parquet");
  EXPECT_EQ(CanonicalLocation("file://localhost/wh/a.parquet"), "/wh/a.parquet");
  EXPECT_EQ(CanonicalLocation("/wh//data/a.parquet"), "/wh/data/a.parquet");
  EXPECT_EQ(CanonicalLocation("s3a://b/wh/a"), "s3://b/wh/a");
  EXPECT_EQ(CanonicalLocation("s3://b//wh/a"), "s3://b/wh/a");
}

// A table on the in-memory FileIO whose commits go through SnapshotProducer and ApplyUpdates,
// with a fake clock for the objects' modification times and the snapshots' timestamps.
class MaintenanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Schema schema(0, {Field{1, "id", true, DataType::Primitive(Type{TypeId::kLong}), "", {}, {}}},
                  {1});
    auto m = NewTableMetadata(kLoc, schema, PartitionSpec{}, {}, "9d4b2c8e-6c1f-4f7a-8f0e-2b7d7e6c5a10",
                              NowMs());
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    meta_ = *m;
  }

  int64_t NowMs() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now().time_since_epoch())
        .count();
  }

  DataFile File(const std::string& name, FileContent content = FileContent::kData) {
    DataFile f;
    f.content = content;
    f.file_path = std::string(kLoc) + "/data/" + name;
    f.record_count = 1;
    f.file_size_in_bytes = 3;
    if (content == FileContent::kEqualityDeletes) f.equality_ids = {1};
    EXPECT_TRUE(io_.WriteAll(f.file_path, "abc").ok());
    return f;
  }

  void Commit(SnapshotChange change) {
    clock_.Advance(1s);
    SnapshotProducer p(&io_, &clock_, std::move(change));
    auto pending = p.Produce(meta_);
    ASSERT_TRUE(pending.ok()) << pending.status().ToString();
    ASSERT_TRUE(ApplyUpdates(&meta_, pending->updates, NowMs()).ok());
  }

  std::set<std::string> Listed() {
    std::set<std::string> out;
    auto listed = io_.List(kLoc);
    for (const auto& e : *listed) out.insert(CanonicalLocation(e.uri));
    return out;
  }

  FakeClock clock_;
  io::MemoryFileIO io_{&clock_};
  TableMetadata meta_;
};

TEST_F(MaintenanceTest, ExpiryDeletesWhatOnlyExpiredSnapshotsRead) {
  Commit({.added_data = {File("a.parquet")}});
  Commit({.added_data = {File("b.parquet")}, .added_deletes = {File("d.parquet", FileContent::kEqualityDeletes)}});
  SnapshotChange replace;
  replace.added_data = {File("c.parquet")};
  replace.remove_all = true;
  replace.operation = "replace";
  Commit(replace);
  Commit({.added_data = {File("e.parquet")}});
  ASSERT_EQ(meta_.snapshots.size(), 4u);

  // Every snapshot but the current one is older than now + 1 ms; keep the second one too.
  const int64_t second = meta_.snapshots[1].snapshot_id;
  auto plan = PlanExpiry(&io_, meta_, NowMs() + 1, 1, {second});
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->snapshot_ids.size(), 2u);
  std::set<std::string> gone;
  for (const auto& f : plan->files_to_delete) gone.insert(CanonicalLocation(f));
  // a is read by the kept second snapshot; the current snapshot's manifests list a, b and d
  // as deleted, which does not keep them.
  EXPECT_FALSE(gone.count("/wh/db/t/data/a.parquet"));
  EXPECT_FALSE(gone.count("/wh/db/t/data/c.parquet"));

  auto all = PlanExpiry(&io_, meta_, NowMs() + 1, 1);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->snapshot_ids.size(), 3u);
  std::set<std::string> all_gone;
  for (const auto& f : all->files_to_delete) all_gone.insert(CanonicalLocation(f));
  EXPECT_TRUE(all_gone.count("/wh/db/t/data/a.parquet"));
  EXPECT_TRUE(all_gone.count("/wh/db/t/data/b.parquet"));
  EXPECT_TRUE(all_gone.count("/wh/db/t/data/d.parquet"));
  EXPECT_FALSE(all_gone.count("/wh/db/t/data/c.parquet"));
  EXPECT_FALSE(all_gone.count("/wh/db/t/data/e.parquet"));

  // After the expiry, what is referenced is exactly what is left once its files are deleted.
  ASSERT_TRUE(ApplyUpdates(&meta_, all->updates, NowMs()).ok());
  ASSERT_TRUE(io_.DeleteMany(all->files_to_delete).ok());
  auto referenced = ReferencedFiles(&io_, meta_, std::string(kLoc) + "/metadata/v9.metadata.json");
  ASSERT_TRUE(referenced.ok()) << referenced.status().ToString();
  const OrphanPlan orphans = PlanOrphans(*io_.List(kLoc), *referenced, clock_.Now() + 1h);
  EXPECT_THAT(orphans.orphans, IsEmpty());
  for (const std::string& f : Listed()) EXPECT_TRUE(referenced->count(f)) << f;
}

TEST_F(MaintenanceTest, OrphansAreUnreferencedObjectsOlderThanTheCutoff) {
  Commit({.added_data = {File("a.parquet")}});
  const std::string meta_file = std::string(kLoc) + "/metadata/00001-x.metadata.json";
  ASSERT_TRUE(io_.WriteAll(meta_file, "{}").ok());
  const std::string old_meta = std::string(kLoc) + "/metadata/00000-old.metadata.json";
  ASSERT_TRUE(io_.WriteAll(old_meta, "{}").ok());
  meta_.metadata_log.push_back({NowMs(), "file:" + old_meta.substr(7)});  // another spelling
  ASSERT_TRUE(io_.WriteAll(std::string(kLoc) + "/data/orphan-old.parquet", "xyz").ok());
  ASSERT_TRUE(io_.WriteAll(std::string(kLoc) + "/metadata/stale.avro", "xy").ok());
  meta_.extra["statistics"] =
      R"([{"snapshot-id":1,"statistics-path":"file:///wh/db/t/metadata/s.stats","file-size-in-bytes":1}])";
  ASSERT_TRUE(io_.WriteAll(std::string(kLoc) + "/metadata/s.stats", "s").ok());
  const auto cutoff = clock_.Now() + 1ms;
  clock_.Advance(10s);
  ASSERT_TRUE(io_.WriteAll(std::string(kLoc) + "/data/in-flight.parquet", "new").ok());

  auto referenced = ReferencedFiles(&io_, meta_, meta_file);
  ASSERT_TRUE(referenced.ok()) << referenced.status().ToString();
  const OrphanPlan plan = PlanOrphans(*io_.List(kLoc), *referenced, cutoff);
  std::vector<std::string> names;
  for (const auto& f : plan.orphans) names.push_back(CanonicalLocation(f.uri));
  std::sort(names.begin(), names.end());
  EXPECT_THAT(names, ElementsAre("/wh/db/t/data/orphan-old.parquet", "/wh/db/t/metadata/stale.avro"));
  EXPECT_EQ(plan.orphan_bytes, 5);
  EXPECT_EQ(plan.young, 1);
}

TEST_F(MaintenanceTest, WhatCannotBeToldFromOrphansIsRefused) {
  Commit({.added_data = {File("a.parquet")}});
  // No metadata location: the current metadata file would look unreferenced.
  EXPECT_EQ(ReferencedFiles(&io_, meta_, "").status().code(), StatusCode::kFailedPrecondition);
  // A format-v1 snapshot with manifests inline instead of a manifest list.
  meta_.snapshots.front().manifest_list.clear();
  EXPECT_EQ(ReferencedFiles(&io_, meta_, "file:///wh/db/t/metadata/v1.metadata.json").status().code(),
            StatusCode::kFailedPrecondition);
}

TEST_F(MaintenanceTest, AMissingManifestIsAnErrorNotAnEmptyPlan) {
  Commit({.added_data = {File("a.parquet")}});
  auto list = io_.ReadAll(meta_.CurrentSnapshot()->manifest_list);
  ASSERT_TRUE(list.ok());
  auto mfs = ReadManifestList(*list);
  ASSERT_TRUE(mfs.ok());
  ASSERT_TRUE(io_.Delete(mfs->front().manifest_path).ok());
  auto referenced = ReferencedFiles(&io_, meta_, std::string(kLoc) + "/metadata/v1.metadata.json");
  EXPECT_FALSE(referenced.ok());
}

}  // namespace
}  // namespace pg2iceberg::iceberg
