#include <arrow/io/file.h>
#include <arrow/util/io_util.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "base/clock.h"
#include "fixtures/temp_dir.h"
#include "io/arrow_file_io.h"
#include "io/arrow_util.h"
#include "io/fault_injection.h"
#include "io/file_io_conformance.h"
#include "io/memory_file_io.h"
#include "io/object_names.h"

namespace pg2iceberg::io {
namespace {

using fixtures::TempDir;
using testing::FileIOBackend;
using testing::FileIOConformanceTest;
using testing::FileIOUnderTest;

// One temp dir per process for the local backend; each test gets a fresh subdirectory.
const std::filesystem::path& LocalRoot() {
  static TempDir* dir = [] {
    auto created = TempDir::Create("pg2i-io-");
    if (!created.ok()) std::abort();
    return new TempDir(std::move(created).value());
  }();
  return dir->path();
}

INSTANTIATE_TEST_SUITE_P(
    Backends, FileIOConformanceTest,
    ::testing::Values(
        FileIOBackend{"Memory",
                      [] {
                        return FileIOUnderTest{std::make_shared<MemoryFileIO>(),
                                               "mem://bucket/" + NewUniqueName()};
                      }},
        FileIOBackend{"Local",
                      [] {
                        return FileIOUnderTest{
                            ArrowFileIO::MakeLocal(),
                            "file://" + (LocalRoot() / NewUniqueName()).string()};
                      }},
        FileIOBackend{"LocalHadoopSpelling",
                      [] {
                        return FileIOUnderTest{
                            ArrowFileIO::MakeLocal(),
                            "file:" + (LocalRoot() / NewUniqueName()).string()};
                      }},
        FileIOBackend{"FaultInjectingWithoutFaults",
                      [] {
                        return FileIOUnderTest{std::make_shared<FaultInjectingFileIO>(
                                                   std::make_shared<MemoryFileIO>()),
                                               "mem://bucket/" + NewUniqueName()};
                      }}),
    testing::BackendName);

TEST(NewUniqueNameTest, IsRandomVersion4Uuid) {
  const std::regex kUuid4(
      "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  std::set<std::string> seen;
  for (int i = 0; i < 10'000; ++i) {
    std::string name = NewUniqueName();
    ASSERT_TRUE(std::regex_match(name, kUuid4)) << name;
    seen.insert(std::move(name));
  }
  EXPECT_EQ(seen.size(), 10'000u);
}

TEST(ObjectNamesTest, StagedNamesSayTheirKindAndStayUnderTheirTable) {
  for (io::StagedKind kind : {io::StagedKind::kChanges, io::StagedKind::kSnapshot,
                              io::StagedKind::kSpill}) {
    const std::string uri = io::NewStagedUri("s3://b/staging/", "public.orders", kind);
    EXPECT_EQ(uri.rfind("s3://b/staging/public.orders/", 0), 0u) << uri;
    EXPECT_EQ(io::StagedKindOfName(uri), kind) << uri;
    EXPECT_NE(uri, io::NewStagedUri("s3://b/staging/", "public.orders", kind));
  }
  EXPECT_EQ(io::StagedTablePrefix("s3://b/staging", "../x"), "s3://b/staging/..%2Fx/");
  EXPECT_EQ(io::StagedKindOfName("s3://b/staging/t/snapshot-1/x.parquet"), io::StagedKind::kChanges);
}

TEST(PathSegmentTest, IdentifiersCannotLeaveTheirDirectory) {
  EXPECT_EQ(PathSegment("orders"), "orders");
  EXPECT_EQ(PathSegment("public.Orders_2-x"), "public.Orders_2-x");
  EXPECT_EQ(PathSegment(".."), "%2E%2E");
  EXPECT_EQ(PathSegment("."), "%2E");
  EXPECT_EQ(PathSegment("../../x"), "..%2F..%2Fx");
  EXPECT_EQ(PathSegment("a\\b"), "a%5Cb");
  EXPECT_EQ(PathSegment("100%"), "100%25");
  EXPECT_EQ(PathSegment("Bestellung ü"), "Bestellung%20%C3%BC");
  EXPECT_EQ(PathSegment(""), "%00");
  // No segment holds a separator or is a directory reference, and distinct names stay distinct.
  std::set<std::string> seen;
  for (const std::string id : {"a/b", "a%2Fb", "..", "%2E%2E", ".", "x", "X", "", "%00"}) {
    const std::string seg = PathSegment(id);
    EXPECT_EQ(seg.find('/'), std::string::npos) << id;
    EXPECT_NE(seg, "..");
    EXPECT_NE(seg, ".");
    EXPECT_TRUE(seen.insert(seg).second) << id << " -> " << seg;
  }
}

TEST(FromArrowTest, LocalErrnoDetails) {
  using arrow::internal::IOErrorFromErrno;
  EXPECT_EQ(FromArrow(IOErrorFromErrno(ENOENT, "open x")).code(), StatusCode::kNotFound);
  Status denied = FromArrow(IOErrorFromErrno(EACCES, "open x"), "write file:///w/x");
  EXPECT_EQ(denied.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(denied.message().find("write file:///w/x: "), std::string::npos);
  EXPECT_NE(denied.message().find("permission"), std::string::npos);
  Status full = FromArrow(IOErrorFromErrno(ENOSPC, "write x"));
  EXPECT_EQ(full.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(full.message().find("free space"), std::string::npos) << full.message();
  EXPECT_EQ(FromArrow(IOErrorFromErrno(EDQUOT, "write x")).code(),
            StatusCode::kResourceExhausted);
  EXPECT_EQ(FromArrow(IOErrorFromErrno(EIO, "read x")).code(), StatusCode::kUnavailable);
  EXPECT_TRUE(FromArrow(arrow::Status::OK()).ok());
}

// A real ENOSPC from the kernel: /dev/full fails every write with it.
TEST(FromArrowTest, RealFullDevice) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  auto out = arrow::io::FileOutputStream::Open("/dev/full");
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  std::string block(1 << 16, 'x');
  arrow::Status st = (*out)->Write(block.data(), static_cast<int64_t>(block.size()));
  if (st.ok()) st = (*out)->Flush();
  if (st.ok()) st = (*out)->Close();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(FromArrow(st).code(), StatusCode::kResourceExhausted) << st.ToString();
}

TEST(FromArrowTest, S3Messages) {
  auto io_error = [](const std::string& msg) { return FromArrow(arrow::Status::IOError(msg)); };
  EXPECT_EQ(
      io_error("AWS Error ACCESS_DENIED during PutObject operation: Access Denied").code(),
      StatusCode::kFailedPrecondition);
  Status bad_key = io_error(
      "AWS Error INVALID_ACCESS_KEY_ID during HeadObject operation: The key does not exist");
  EXPECT_EQ(bad_key.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(bad_key.message().find("sink.s3_access_key"), std::string::npos);
  EXPECT_EQ(io_error("When getting information for key 'k' in bucket 'b': AWS Error UNKNOWN "
                     "(HTTP status 403) during HeadObject operation: No response body.")
                .code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(io_error("AWS Error NO_SUCH_BUCKET during CreateMultipartUpload operation").code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(io_error("Path does not exist 'b/k'").code(), StatusCode::kNotFound);
  EXPECT_EQ(io_error("AWS Error NETWORK_CONNECTION during GetObject operation: curlCode: 7, "
                     "Couldn't connect to server")
                .code(),
            StatusCode::kUnavailable);
  EXPECT_EQ(io_error("AWS Error SLOW_DOWN during PutObject operation").code(),
            StatusCode::kUnavailable);
}

TEST(FromArrowTest, CarriedStatusKeepsItsCode) {
  Status original = ResourceExhausted("disk full on /w");
  Status back = FromArrow(ToArrow(original), "write parquet");
  EXPECT_EQ(back.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(back.message(), "write parquet: disk full on /w");
  EXPECT_TRUE(ToArrow(Status::Ok()).ok());
}

TEST(ArrowOutputAdapterTest, CloseMakesVisibleDropAbandons) {
  MemoryFileIO io;
  {
    PG2I_ASSERT_OK_AND_ASSIGN(auto out, io.NewWriter("mem://b/kept"));
    auto adapted = AdaptForArrow(std::move(out));
    ASSERT_TRUE(adapted->Write("abc", 3).ok());
    EXPECT_EQ(*adapted->Tell(), 3);
    ASSERT_TRUE(adapted->Close().ok());
    EXPECT_TRUE(adapted->closed());
  }
  {
    PG2I_ASSERT_OK_AND_ASSIGN(auto out, io.NewWriter("mem://b/dropped"));
    auto adapted = AdaptForArrow(std::move(out));
    ASSERT_TRUE(adapted->Write("abc", 3).ok());
  }
  EXPECT_EQ(io.Uris(), std::vector<std::string>{"mem://b/kept"});
}

TEST(MemoryFileIOTest, StampsObjectsWithItsClock) {
  FakeClock clock;
  MemoryFileIO io(&clock);
  PG2I_ASSERT_OK(io.WriteAll("mem://b/d/old", "1"));
  clock.Advance(std::chrono::hours(2));
  PG2I_ASSERT_OK(io.WriteAll("mem://b/d/new", "22"));
  PG2I_ASSERT_OK_AND_ASSIGN(auto listed, io.List("mem://b/d"));
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[1].uri, "mem://b/d/old");
  EXPECT_EQ(listed[0].mtime - listed[1].mtime, std::chrono::hours(2));
  EXPECT_EQ(io.TotalBytes(), 3);
}

TEST(FaultInjectionTest, FailsTheNthWriteAndLeavesNothing) {
  auto memory = std::make_shared<MemoryFileIO>();
  FaultInjectingFileIO io(memory);
  io.FailNth(FaultOp::kWrite, 3, ResourceExhausted("disk full"));
  PG2I_ASSERT_OK_AND_ASSIGN(auto out, io.NewWriter("mem://b/x"));
  PG2I_ASSERT_OK(out->Write("1"));
  PG2I_ASSERT_OK(out->Write("2"));
  Status third = out->Write("3");
  EXPECT_EQ(third.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(third.message().find("mem://b/x"), std::string::npos);
  PG2I_ASSERT_OK(out->Write("4"));  // the rule fired once
  out.reset();
  EXPECT_TRUE(memory->Uris().empty());
  EXPECT_EQ(io.count(FaultOp::kWrite), 4);
}

TEST(FaultInjectionTest, StickyFaultKeepsFailing) {
  FaultInjectingFileIO io(std::make_shared<MemoryFileIO>());
  io.FailNth(FaultOp::kNewWriter, 2, ResourceExhausted("disk full"), FaultTiming::kBefore,
             /*sticky=*/true);
  PG2I_EXPECT_OK(io.WriteAll("mem://b/1", "x"));
  EXPECT_EQ(io.WriteAll("mem://b/2", "x").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(io.WriteAll("mem://b/3", "x").code(), StatusCode::kResourceExhausted);
  io.Reset();
  PG2I_EXPECT_OK(io.WriteAll("mem://b/4", "x"));
}

TEST(FaultInjectionTest, CloseBeforeIsACrashCloseAfterIsALostReply) {
  auto memory = std::make_shared<MemoryFileIO>();
  FaultInjectingFileIO io(memory);
  io.FailNth(FaultOp::kClose, 1, Unavailable("crash before upload completed"));
  io.FailNth(FaultOp::kClose, 2, Unavailable("reply lost"), FaultTiming::kAfter);
  EXPECT_EQ(io.WriteAll("mem://b/crashed", "x").code(), StatusCode::kUnavailable);
  EXPECT_EQ(io.WriteAll("mem://b/lost-reply", "x").code(), StatusCode::kUnavailable);
  EXPECT_EQ(memory->Uris(), std::vector<std::string>{"mem://b/lost-reply"});
}

TEST(FaultInjectionTest, ReadsStatsDeletesAndLists) {
  auto memory = std::make_shared<MemoryFileIO>();
  PG2I_ASSERT_OK(memory->WriteAll("mem://b/x", "x"));
  FaultInjectingFileIO io(memory);
  io.FailNth(FaultOp::kRead, 2, Unavailable("flaky"));
  io.FailNth(FaultOp::kStat, 1, Unavailable("flaky"));
  io.FailNth(FaultOp::kList, 1, Unavailable("flaky"));
  io.FailNth(FaultOp::kDelete, 1, Unavailable("flaky"), FaultTiming::kAfter);
  PG2I_EXPECT_OK(io.ReadAll("mem://b/x"));
  EXPECT_EQ(io.OpenReader("mem://b/x").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(io.Size("mem://b/x").status().code(), StatusCode::kUnavailable);
  PG2I_EXPECT_OK(io.Exists("mem://b/x"));
  EXPECT_EQ(io.List("mem://b").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(io.Delete("mem://b/x").code(), StatusCode::kUnavailable);  // but it happened
  EXPECT_TRUE(memory->Uris().empty());
}

TEST(LocalFileIOTest, WritesAtomicallyViaTemporaryName) {
  const std::filesystem::path dir = LocalRoot() / NewUniqueName();
  auto io = ArrowFileIO::MakeLocal();
  const std::string uri = "file://" + (dir / "deep/er/f.parquet").string();
  PG2I_ASSERT_OK_AND_ASSIGN(auto out, io->NewWriter(uri));
  PG2I_ASSERT_OK(out->Write("partial"));
  // The bytes live under a temporary name in the target's directory.
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir / "deep/er")) {
    names.push_back(e.path().filename().string());
  }
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(names[0].rfind(".pg2i-tmp-", 0), 0u) << names[0];
  PG2I_ASSERT_OK(out->Close());
  EXPECT_TRUE(std::filesystem::exists(dir / "deep/er/f.parquet"));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir / "deep/er"),
                          std::filesystem::directory_iterator()),
            1);
  // Bare absolute paths are local files too.
  PG2I_ASSERT_OK_AND_ASSIGN(std::string read,
                            io->ReadAll((dir / "deep/er/f.parquet").string()));
  EXPECT_EQ(read, "partial");
}

TEST(LocalFileIOTest, PermissionDeniedIsFailedPrecondition) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  const std::filesystem::path dir = LocalRoot() / NewUniqueName();
  std::filesystem::create_directories(dir);
  std::filesystem::permissions(dir, std::filesystem::perms::owner_read |
                                        std::filesystem::perms::owner_exec);
  auto io = ArrowFileIO::MakeLocal();
  Status status = io->WriteAll("file://" + (dir / "x").string(), "x");
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all);
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition) << status.ToString();
}

TEST(LocalFileIOTest, RejectsOtherSchemesAndRelativePaths) {
  auto io = ArrowFileIO::MakeLocal();
  EXPECT_EQ(io->ReadAll("s3://bucket/key").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(io->ReadAll("gs://bucket/key").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(io->ReadAll("relative/path").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(io->NewWriter("file:///tmp/dir/").status().code(), StatusCode::kInvalidArgument);
}

TEST(LocalPathFromUriTest, Spellings) {
  EXPECT_EQ(*LocalPathFromUri("file:///a/b"), "/a/b");
  EXPECT_EQ(*LocalPathFromUri("file:/a/b"), "/a/b");
  EXPECT_EQ(*LocalPathFromUri("file://localhost/a/b"), "/a/b");
  EXPECT_EQ(*LocalPathFromUri("/a/b"), "/a/b");
  EXPECT_FALSE(LocalPathFromUri("file://a/b").ok());
}

TEST(MakeFileIOTest, PicksBackendByScheme) {
  PG2I_EXPECT_OK(MakeFileIO("file:///tmp/warehouse", {}));
  PG2I_EXPECT_OK(MakeFileIO("/tmp/warehouse", {}));
  EXPECT_EQ(MakeFileIO("gs://bucket/wh", {}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeFileIO("warehouse", {}).status().code(), StatusCode::kInvalidArgument);
  // Static credentials without keys are refused before any network traffic.
  S3Settings no_keys;
  Status status = MakeFileIO("s3://bucket/wh", no_keys).status();
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("sink.s3_access_key"), std::string::npos);
  S3Settings bad_endpoint;
  bad_endpoint.access_key = "k";
  bad_endpoint.secret_key = "s";
  bad_endpoint.endpoint = "ftp://host";
  EXPECT_EQ(MakeFileIO("s3://bucket/wh", bad_endpoint).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pg2iceberg::io
