#include "iceberg/file_names.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pg2iceberg::iceberg {
namespace {

using ::testing::EndsWith;
using ::testing::StartsWith;

TEST(FileNamesTest, MetadataFilesCarryTheirVersion) {
  const std::string v0 = NewMetadataFileUri("s3://b/db/t/", 0);
  EXPECT_THAT(v0, StartsWith("s3://b/db/t/metadata/00000-"));
  EXPECT_THAT(v0, EndsWith(".metadata.json"));
  EXPECT_EQ(MetadataFileVersion(v0), 0);
  EXPECT_EQ(MetadataFileVersion(NewMetadataFileUri("s3://b/db/t", 42)), 42);
  EXPECT_EQ(MetadataFileVersion(NewMetadataFileUri("s3://b/db/t", 123456)), 123456);
  EXPECT_NE(NewMetadataFileUri("s3://b/t", 1), NewMetadataFileUri("s3://b/t", 1));
  // Names other writers chose.
  EXPECT_EQ(MetadataFileVersion("file:/w/t/metadata/v3.metadata.json"), -1);
  EXPECT_EQ(MetadataFileVersion("/w/t/metadata/-x.metadata.json"), -1);
  EXPECT_EQ(MetadataFileVersion("00012-abc.metadata.json"), 12);
}

TEST(FileNamesTest, ManifestsAndListsFollowJavasPatterns) {
  EXPECT_THAT(NewManifestListUri("mem://wh/t", 987), StartsWith("mem://wh/t/metadata/snap-987-1-"));
  EXPECT_THAT(NewManifestListUri("mem://wh/t", 987), EndsWith(".avro"));
  EXPECT_THAT(NewManifestUri("mem://wh/t/", ManifestOrigin::kNewFiles), EndsWith("-m0.avro"));
  EXPECT_THAT(NewManifestUri("mem://wh/t", ManifestOrigin::kRewritten), EndsWith("-m1.avro"));
  EXPECT_THAT(NewManifestUri("mem://wh/t", ManifestOrigin::kMerged),
              StartsWith("mem://wh/t/metadata/"));
}

TEST(FileNamesTest, DataAndDeleteFilesAreNewEveryCall) {
  auto data = NewDataFileUris("s3://b/t/data/p=1/", DataFileRole::kData);
  const std::string a = data(), b = data();
  EXPECT_NE(a, b);
  EXPECT_THAT(a, StartsWith("s3://b/t/data/p=1/"));
  EXPECT_THAT(a, EndsWith(".parquet"));
  EXPECT_THAT(NewDataFileUris("s3://b/t/data", DataFileRole::kEqualityDeletes)(),
              StartsWith("s3://b/t/data/eq-del-"));
  EXPECT_THAT(NewDataFileUris("s3://b/t/data", DataFileRole::kPositionDeletes)(),
              StartsWith("s3://b/t/data/pos-del-"));
  EXPECT_THAT(NewDeletionVectorUri("s3://b/t/"), StartsWith("s3://b/t/data/dv-"));
  EXPECT_THAT(NewDeletionVectorUri("s3://b/t/"), EndsWith(".puffin"));
  EXPECT_EQ(KeyIndexCheckpointPrefix("s3://b/t//"), "s3://b/t/metadata/pg2iceberg-key-index");
  EXPECT_EQ(TableSubdir("s3://b/t/", "data"), "s3://b/t/data");
}

}  // namespace
}  // namespace pg2iceberg::iceberg
