// ArrowFileIO against a real S3 server (versitygw): the conformance suite, and how S3
// failures map to our error codes.
#include <gtest/gtest.h>

#include "fixtures/gtest_support.h"
#include "fixtures/net.h"
#include "fixtures/s3_server.h"
#include "io/arrow_file_io.h"
#include "io/file_io_conformance.h"

namespace pg2iceberg::io {
namespace {

using fixtures::S3Server;
using testing::FileIOBackend;
using testing::FileIOConformanceTest;
using testing::FileIOUnderTest;

PG2I_REGISTER_ARROW_S3_ENVIRONMENT();

constexpr char kBucket[] = "warehouse";

// One server for the whole binary, started on first use (tests run on the main thread) and
// stopped after the last test.
std::unique_ptr<S3Server>& ServerSlot() {
  static std::unique_ptr<S3Server> server;
  return server;
}

S3Server* Server() {
  static bool tried = false;
  if (!tried) {
    tried = true;
    auto started = S3Server::Start();
    if (!started.ok()) {
      ADD_FAILURE() << "versitygw did not start: " << started.status().ToString();
      return nullptr;
    }
    Status bucket = (*started)->CreateBucket(kBucket);
    if (!bucket.ok()) {
      ADD_FAILURE() << "create bucket: " << bucket.ToString();
      return nullptr;
    }
    ServerSlot() = std::move(started).value();
  }
  return ServerSlot().get();
}

class StopServer : public ::testing::Environment {
 public:
  void TearDown() override { ServerSlot().reset(); }
};
[[maybe_unused]] ::testing::Environment* const kStopServer =
    ::testing::AddGlobalTestEnvironment(new StopServer);

S3Settings SettingsFor(const S3Server& server) {
  S3Settings settings;
  settings.endpoint = server.endpoint();
  settings.region = server.region();
  settings.path_style = true;
  settings.access_key = server.access_key();
  settings.secret_key = server.secret_key();
  return settings;
}

INSTANTIATE_TEST_SUITE_P(
    S3, FileIOConformanceTest,
    ::testing::Values(FileIOBackend{"Versitygw",
                                    []() -> FileIOUnderTest {
                                      S3Server* server = Server();
                                      if (server == nullptr) return {};
                                      auto io = MakeFileIO(
                                          std::string("s3://") + kBucket + "/wh",
                                          SettingsFor(*server));
                                      EXPECT_TRUE(io.ok()) << io.status().ToString();
                                      if (!io.ok()) return {};
                                      return FileIOUnderTest{
                                          *io, std::string("s3://") + kBucket + "/wh/" +
                                                   NewUniqueName()};
                                    }}),
    testing::BackendName);

class S3ErrorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = Server();
    ASSERT_NE(server_, nullptr);
  }
  S3Server* server_ = nullptr;
};

TEST_F(S3ErrorsTest, WrongSecretIsFailedPrecondition) {
  S3Settings settings = SettingsFor(*server_);
  settings.secret_key = "not-the-secret";
  PG2I_ASSERT_OK_AND_ASSIGN(auto io, MakeFileIO("s3://warehouse/wh", settings));
  Status write = io->WriteAll("s3://warehouse/wh/denied", "x");
  EXPECT_EQ(write.code(), StatusCode::kFailedPrecondition) << write.ToString();
  EXPECT_EQ(write.message().find("not-the-secret"), std::string::npos);
  Status read = io->ReadAll("s3://warehouse/wh/denied").status();
  EXPECT_EQ(read.code(), StatusCode::kFailedPrecondition) << read.ToString();
  Status list = io->List("s3://warehouse/wh").status();
  EXPECT_EQ(list.code(), StatusCode::kFailedPrecondition) << list.ToString();
}

TEST_F(S3ErrorsTest, UnknownAccessKeyIsFailedPrecondition) {
  S3Settings settings = SettingsFor(*server_);
  settings.access_key = "AKIANOBODY";
  PG2I_ASSERT_OK_AND_ASSIGN(auto io, MakeFileIO("s3://warehouse/wh", settings));
  Status status = io->Size("s3://warehouse/wh/x").status();
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition) << status.ToString();
}

TEST_F(S3ErrorsTest, MissingBucketIsFailedPrecondition) {
  PG2I_ASSERT_OK_AND_ASSIGN(auto io, MakeFileIO("s3://nobucket/wh", SettingsFor(*server_)));
  Status write = io->WriteAll("s3://nobucket/wh/x", "x");
  EXPECT_EQ(write.code(), StatusCode::kFailedPrecondition) << write.ToString();
  Status read = io->ReadAll("s3://nobucket/wh/x").status();
  EXPECT_TRUE(read.code() == StatusCode::kFailedPrecondition || IsNotFound(read))
      << read.ToString();
}

TEST_F(S3ErrorsTest, UnreachableEndpointIsUnavailable) {
  S3Settings settings = SettingsFor(*server_);
  settings.endpoint = "http://127.0.0.1:" + std::to_string(*fixtures::FreeLoopbackPort());
  settings.connect_timeout = 1;
  settings.request_timeout = 1;
  PG2I_ASSERT_OK_AND_ASSIGN(auto io, MakeFileIO("s3://warehouse/wh", settings));
  Status status = io->WriteAll("s3://warehouse/wh/x", "x");
  EXPECT_EQ(status.code(), StatusCode::kUnavailable) << status.ToString();
}

TEST_F(S3ErrorsTest, BucketRootAndMalformedUris) {
  PG2I_ASSERT_OK_AND_ASSIGN(auto io, MakeFileIO("s3://warehouse/wh", SettingsFor(*server_)));
  EXPECT_EQ(io->ReadAll("s3://warehouse").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(io->ReadAll("s3:///key").status().code(), StatusCode::kInvalidArgument);
  // Local files stay reachable from an S3 FileIO (tables may reference either).
  PG2I_ASSERT_OK_AND_ASSIGN(bool exists, io->Exists("file:///nonexistent/pg2i"));
  EXPECT_FALSE(exists);
}

TEST_F(S3ErrorsTest, HadoopSchemesReadTheSameObjects) {
  PG2I_ASSERT_OK_AND_ASSIGN(auto io, MakeFileIO("s3://warehouse/wh", SettingsFor(*server_)));
  const std::string key = "warehouse/wh/" + NewUniqueName();
  PG2I_ASSERT_OK(io->WriteAll("s3://" + key, "same"));
  PG2I_ASSERT_OK_AND_ASSIGN(std::string a, io->ReadAll("s3a://" + key));
  PG2I_ASSERT_OK_AND_ASSIGN(std::string n, io->ReadAll("s3n://" + key));
  EXPECT_EQ(a, "same");
  EXPECT_EQ(n, "same");
}

}  // namespace
}  // namespace pg2iceberg::io
