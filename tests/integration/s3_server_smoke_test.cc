// S3Server (versitygw): an object round-trips through Arrow's S3 filesystem, and requests
// signed with the wrong secret are refused.
#include <arrow/buffer.h>
#include <arrow/filesystem/s3fs.h>
#include <arrow/io/interfaces.h>

#include <memory>
#include <string>

#include "fixtures/arrow_status.h"
#include "fixtures/gtest_support.h"
#include "fixtures/net.h"
#include "fixtures/s3_server.h"

PG2I_REGISTER_ARROW_S3_ENVIRONMENT();

namespace pg2iceberg::fixtures {
namespace {

Status WriteObject(arrow::fs::FileSystem& fs, const std::string& path,
                   const std::string& contents) {
  auto stream = fs.OpenOutputStream(path);
  if (!stream.ok()) return FromArrow(stream.status(), "open " + path);
  PG2I_RETURN_IF_ERROR(FromArrow((*stream)->Write(contents), "write " + path));
  return FromArrow((*stream)->Close(), "close " + path);
}

Result<std::string> ReadObject(arrow::fs::FileSystem& fs, const std::string& path) {
  auto file = fs.OpenInputFile(path);
  if (!file.ok()) return FromArrow(file.status(), "open " + path);
  auto size = (*file)->GetSize();
  if (!size.ok()) return FromArrow(size.status(), "size of " + path);
  auto buffer = (*file)->Read(*size);
  if (!buffer.ok()) return FromArrow(buffer.status(), "read " + path);
  return (*buffer)->ToString();
}

class S3ServerSmokeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    StartForSuite(s3_, S3Server::Start(), "versitygw");
    if (s3_) {
      Status bucket = s3_->CreateBucket("smoke");
      ASSERT_TRUE(bucket.ok()) << bucket.ToString() << "\nlog:\n" << s3_->LogTail();
    }
  }
  static void TearDownTestSuite() { s3_.reset(); }
  void SetUp() override { ASSERT_NE(s3_, nullptr) << "suite setup failed, see above"; }

  static inline std::unique_ptr<S3Server> s3_;
};

TEST_F(S3ServerSmokeTest, ObjectRoundTripsThroughArrowS3FileSystem) {
  PG2I_ASSERT_OK_AND_ASSIGN(auto fs, s3_->MakeFileSystem());
  const std::string contents =
      "pg2iceberg says hello to versitygw\n" + std::string(1 << 16, 'x');
  PG2I_ASSERT_OK(WriteObject(*fs, "smoke/dir/object.bin", contents));

  auto info = fs->GetFileInfo("smoke/dir/object.bin");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->type(), arrow::fs::FileType::File);
  EXPECT_EQ(info->size(), static_cast<int64_t>(contents.size()));

  PG2I_ASSERT_OK_AND_ASSIGN(std::string read_back, ReadObject(*fs, "smoke/dir/object.bin"));
  EXPECT_EQ(read_back, contents);

  // The POSIX backend stores it as a plain file below the bucket directory.
  EXPECT_EQ(std::filesystem::file_size(s3_->root_dir() / "smoke" / "dir" / "object.bin"),
            contents.size());

  auto missing = fs->GetFileInfo("smoke/dir/missing.bin");
  ASSERT_TRUE(missing.ok()) << missing.status().ToString();
  EXPECT_EQ(missing->type(), arrow::fs::FileType::NotFound);

  PG2I_ASSERT_OK(FromArrow(fs->DeleteFile("smoke/dir/object.bin")));
  auto deleted = fs->GetFileInfo("smoke/dir/object.bin");
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  EXPECT_EQ(deleted->type(), arrow::fs::FileType::NotFound);
}

TEST_F(S3ServerSmokeTest, BucketIsListed) {
  PG2I_ASSERT_OK_AND_ASSIGN(auto fs, s3_->MakeFileSystem());
  arrow::fs::FileSelector root;
  root.base_dir = "";
  auto buckets = fs->GetFileInfo(root);
  ASSERT_TRUE(buckets.ok()) << buckets.status().ToString();
  bool found = false;
  for (const auto& bucket : *buckets) found = found || bucket.path() == "smoke";
  EXPECT_TRUE(found);
}

TEST_F(S3ServerSmokeTest, WrongSecretIsRefused) {
  arrow::fs::S3Options options = s3_->MakeS3Options();
  options.ConfigureAccessKey(s3_->access_key(), s3_->secret_key() + "wrong");
  PG2I_ASSERT_OK_AND_ASSIGN(auto fs, s3_->MakeFileSystem(options));

  Status write = WriteObject(*fs, "smoke/forged.txt", "should not land");
  ASSERT_FALSE(write.ok()) << "a PUT signed with the wrong secret succeeded";
  EXPECT_NE(write.message().find("SIGNATURE_DOES_NOT_MATCH"), std::string::npos)
      << write.ToString();
  // A HEAD has no error body; the SDK reports the 403 as ACCESS_DENIED.
  auto head = fs->GetFileInfo("smoke/dir");
  ASSERT_FALSE(head.ok()) << "a HEAD signed with the wrong secret succeeded";
  EXPECT_NE(head.status().ToString().find("ACCESS_DENIED"), std::string::npos)
      << head.status().ToString();
  EXPECT_FALSE(std::filesystem::exists(s3_->root_dir() / "smoke" / "forged.txt"));

  // An unsigned request is refused too.
  PG2I_ASSERT_OK_AND_ASSIGN(HttpResponse anonymous, HttpGet(s3_->endpoint() + "/smoke"));
  EXPECT_EQ(anonymous.status, 403) << anonymous.body;
}

TEST_F(S3ServerSmokeTest, KeysAreRandomPerServer) {
  PG2I_ASSERT_OK_AND_ASSIGN(auto other, S3Server::Start());
  EXPECT_NE(other->port(), s3_->port());
  EXPECT_NE(other->access_key(), s3_->access_key());
  EXPECT_NE(other->secret_key(), s3_->secret_key());
  EXPECT_EQ(s3_->endpoint(), "http://127.0.0.1:" + std::to_string(s3_->port()));
  EXPECT_EQ(s3_->region(), "us-east-1");
}

}  // namespace
}  // namespace pg2iceberg::fixtures
