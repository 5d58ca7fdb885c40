#include "iceberg/manifest_cache.h"

#include <gtest/gtest.h>

#include "io/memory_file_io.h"

namespace pg2iceberg::iceberg {
namespace {

Schema OneColumn() {
  return Schema(0, {Field{1, "id", true, DataType::Primitive(Type{TypeId::kLong}), "", {}, {}}},
                {1});
}

ManifestEntry Added(const std::string& path) {
  ManifestEntry e;
  e.status = ManifestEntry::EntryStatus::kAdded;
  e.file.file_path = path;
  e.file.record_count = 1;
  e.file.file_size_in_bytes = 10;
  return e;
}

class ManifestCacheTest : public ::testing::Test {
 protected:
  // Writes a manifest of one added file under a fresh name; returns its list entry.
  ManifestFile Put(const std::string& name, const std::string& data_path) {
    auto w = WriteManifest(2, OneColumn(), PartitionSpec{0, {}}, ManifestContent::kData, 7,
                           {Added(data_path)});
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    ManifestFile mf = w->summary;
    mf.manifest_path = "mem://t/metadata/" + name;
    mf.manifest_length = static_cast<int64_t>(w->bytes.size());
    mf.added_snapshot_id = 7;
    mf.sequence_number = 3;
    auto out = io_.NewWriter(mf.manifest_path);
    EXPECT_TRUE(out.ok());
    EXPECT_TRUE((*out)->Write(w->bytes).ok());
    EXPECT_TRUE((*out)->Close().ok());
    return mf;
  }

  io::MemoryFileIO io_;
};

TEST_F(ManifestCacheTest, ASecondReadIsAnsweredWithoutFileIO) {
  const ManifestFile mf = Put("cache-a-m0.avro", "mem://t/data/a.parquet");
  auto first = LoadManifest(io_, mf);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ((*first)[0].sequence_number, 3);  // inherited from the list entry
  // Gone from storage: only the cache can answer now.
  ASSERT_TRUE(io_.Delete(mf.manifest_path).ok());
  auto second = LoadManifest(io_, mf);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(*second, *first);
  // Emptied, the cache no longer answers.
  ClearManifestCaches();
  EXPECT_FALSE(LoadManifest(io_, mf).ok());
}

TEST_F(ManifestCacheTest, AnotherInheritanceIsReadAgain) {
  ManifestFile mf = Put("cache-b-m0.avro", "mem://t/data/b.parquet");
  ASSERT_TRUE(LoadManifest(io_, mf).ok());
  // The same file seen through another list entry (another sequence number) is not answered
  // with the entries the first one inherited.
  mf.sequence_number = 9;
  auto again = LoadManifest(io_, mf);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ((*again)[0].sequence_number, 9);
  ASSERT_TRUE(io_.Delete(mf.manifest_path).ok());
  mf.added_snapshot_id = 8;
  EXPECT_FALSE(LoadManifest(io_, mf).ok());
}

TEST_F(ManifestCacheTest, ManifestListsAreCachedByName) {
  auto list = WriteManifestList(2, 7, std::nullopt, 3, {Put("cache-c-m0.avro", "mem://t/c")});
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  const std::string path = "mem://t/metadata/snap-7-1-cache.avro";
  auto out = io_.NewWriter(path);
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE((*out)->Write(*list).ok());
  ASSERT_TRUE((*out)->Close().ok());
  auto first = LoadManifestList(io_, path);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(first->size(), 1u);
  ASSERT_TRUE(io_.Delete(path).ok());
  auto second = LoadManifestList(io_, path);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(*second, *first);
  EXPECT_FALSE(LoadManifestList(io_, path + ".other").ok());
}

}  // namespace
}  // namespace pg2iceberg::iceberg
