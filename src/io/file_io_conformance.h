// The FileIO contract (file_io.h) as one test suite that every backend runs, fakes included
// (the idea of Arrow's filesystem/test_util.h). A test binary instantiates it with a factory:
//
//   INSTANTIATE_TEST_SUITE_P(Memory, FileIOConformanceTest, ::testing::Values(
//       FileIOBackend{"memory", [] { return FileIOUnderTest{io, "mem://bucket/" + id}; }}));
//
// Each test asks the factory for a FileIO and a fresh, empty root URI (a directory prefix
// that exists or not; the suite never writes outside it).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <arrow/buffer.h>
#include <arrow/io/interfaces.h>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fixtures/gtest_support.h"
#include "io/file_io.h"

namespace pg2iceberg::io::testing {

struct FileIOUnderTest {
  std::shared_ptr<FileIO> io;
  std::string root;  // no trailing slash
};

struct FileIOBackend {
  std::string name;
  std::function<FileIOUnderTest()> make;
};

inline std::string BackendName(const ::testing::TestParamInfo<FileIOBackend>& info) {
  return info.param.name;
}

class FileIOConformanceTest : public ::testing::TestWithParam<FileIOBackend> {
 protected:
  void SetUp() override {
    under_test_ = GetParam().make();
    ASSERT_NE(under_test_.io, nullptr) << "backend " << GetParam().name << " is unavailable";
    io_ = under_test_.io.get();
    root_ = under_test_.root;
  }

  std::string Uri(const std::string& rel) const { return root_ + "/" + rel; }

  static std::string Pattern(size_t n) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + i / 7) & 0xFF);
    return s;
  }

  std::vector<std::string> ListedUris(const std::string& prefix) {
    auto listed = io_->List(prefix);
    EXPECT_TRUE(listed.ok()) << listed.status().ToString();
    std::vector<std::string> out;
    if (!listed.ok()) return out;
    for (const FileEntry& e : *listed) out.push_back(e.uri);
    std::sort(out.begin(), out.end());
    return out;
  }

  FileIOUnderTest under_test_;
  FileIO* io_ = nullptr;
  std::string root_;
};

TEST_P(FileIOConformanceTest, WriteCloseThenRead) {
  const std::string uri = Uri("a/b/c/" + NewUniqueName() + ".bin");
  const std::string bytes = Pattern(100'000);
  PG2I_ASSERT_OK_AND_ASSIGN(auto out, io_->NewWriter(uri));
  EXPECT_EQ(out->uri(), uri);
  PG2I_ASSERT_OK(out->Write(std::string_view(bytes).substr(0, 1000)));
  PG2I_ASSERT_OK(out->Write(std::string_view(bytes).substr(1000)));
  EXPECT_EQ(out->Tell(), 100'000);
  PG2I_ASSERT_OK(out->Close());

  PG2I_ASSERT_OK_AND_ASSIGN(bool exists, io_->Exists(uri));
  EXPECT_TRUE(exists);
  PG2I_ASSERT_OK_AND_ASSIGN(int64_t size, io_->Size(uri));
  EXPECT_EQ(size, 100'000);
  PG2I_ASSERT_OK_AND_ASSIGN(std::string read, io_->ReadAll(uri));
  EXPECT_EQ(read, bytes);

  PG2I_ASSERT_OK_AND_ASSIGN(auto file, io_->OpenReader(uri));
  auto file_size = file->GetSize();
  ASSERT_TRUE(file_size.ok());
  EXPECT_EQ(*file_size, 100'000);
  auto middle = file->ReadAt(4242, 100);
  ASSERT_TRUE(middle.ok()) << middle.status().ToString();
  EXPECT_EQ((*middle)->ToString(), bytes.substr(4242, 100));
  auto tail = file->ReadAt(99'990, 100);  // reads past the end are short
  ASSERT_TRUE(tail.ok()) << tail.status().ToString();
  EXPECT_EQ((*tail)->ToString(), bytes.substr(99'990));
}

TEST_P(FileIOConformanceTest, EmptyObject) {
  const std::string uri = Uri("empty");
  PG2I_ASSERT_OK(io_->WriteAll(uri, ""));
  PG2I_ASSERT_OK_AND_ASSIGN(int64_t size, io_->Size(uri));
  EXPECT_EQ(size, 0);
  PG2I_ASSERT_OK_AND_ASSIGN(std::string read, io_->ReadAll(uri));
  EXPECT_EQ(read, "");
}

TEST_P(FileIOConformanceTest, InvisibleUntilClose) {
  const std::string uri = Uri("pending/x.parquet");
  PG2I_ASSERT_OK_AND_ASSIGN(auto out, io_->NewWriter(uri));
  PG2I_ASSERT_OK(out->Write("hello"));
  PG2I_ASSERT_OK_AND_ASSIGN(bool exists, io_->Exists(uri));
  EXPECT_FALSE(exists);
  EXPECT_TRUE(IsNotFound(io_->ReadAll(uri).status()));
  const auto listed = ListedUris(root_);
  EXPECT_EQ(std::find(listed.begin(), listed.end(), uri), listed.end());
  PG2I_ASSERT_OK(out->Close());
  PG2I_ASSERT_OK_AND_ASSIGN(exists, io_->Exists(uri));
  EXPECT_TRUE(exists);
}

TEST_P(FileIOConformanceTest, AbandonedWriterLeavesNothing) {
  const std::string uri = Uri("abandoned/x.parquet");
  {
    PG2I_ASSERT_OK_AND_ASSIGN(auto out, io_->NewWriter(uri));
    PG2I_ASSERT_OK(out->Write(Pattern(1000)));
  }  // dropped without Close
  PG2I_ASSERT_OK_AND_ASSIGN(bool exists, io_->Exists(uri));
  EXPECT_FALSE(exists);
  EXPECT_EQ(ListedUris(root_), std::vector<std::string>{});
}

TEST_P(FileIOConformanceTest, StreamIsFinishedAfterClose) {
  PG2I_ASSERT_OK_AND_ASSIGN(auto out, io_->NewWriter(Uri("once")));
  PG2I_ASSERT_OK(out->Close());
  EXPECT_EQ(out->Write("x").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(out->Close().code(), StatusCode::kInvalidArgument);
}

TEST_P(FileIOConformanceTest, MissingObjectIsNotFound) {
  const std::string uri = Uri("no/such/object");
  EXPECT_TRUE(IsNotFound(io_->ReadAll(uri).status())) << io_->ReadAll(uri).status().ToString();
  EXPECT_TRUE(IsNotFound(io_->OpenReader(uri).status()))
      << io_->OpenReader(uri).status().ToString();
  EXPECT_TRUE(IsNotFound(io_->Size(uri).status())) << io_->Size(uri).status().ToString();
  EXPECT_TRUE(IsNotFound(io_->Delete(uri))) << io_->Delete(uri).ToString();
  PG2I_ASSERT_OK_AND_ASSIGN(bool exists, io_->Exists(uri));
  EXPECT_FALSE(exists);
  PG2I_ASSERT_OK_AND_ASSIGN(auto listed, io_->List(Uri("no/such")));
  EXPECT_TRUE(listed.empty());
}

TEST_P(FileIOConformanceTest, DeleteAndDeleteMany) {
  std::vector<std::string> uris;
  for (int i = 0; i < 5; ++i) {
    uris.push_back(Uri("del/" + std::to_string(i)));
    PG2I_ASSERT_OK(io_->WriteAll(uris.back(), "x"));
  }
  PG2I_ASSERT_OK(io_->Delete(uris[0]));
  PG2I_ASSERT_OK_AND_ASSIGN(bool exists, io_->Exists(uris[0]));
  EXPECT_FALSE(exists);
  EXPECT_TRUE(IsNotFound(io_->Delete(uris[0])));
  // Already-deleted and never-written objects are skipped.
  PG2I_ASSERT_OK(io_->DeleteMany({uris[0], uris[1], uris[2], Uri("del/none"), uris[3]}));
  EXPECT_EQ(ListedUris(Uri("del")), std::vector<std::string>{uris[4]});
  PG2I_ASSERT_OK(io_->DeleteMany({}));
}

TEST_P(FileIOConformanceTest, ListIsRecursiveWithSizesAndTimes) {
  const auto before = std::chrono::system_clock::now() - std::chrono::minutes(10);
  PG2I_ASSERT_OK(io_->WriteAll(Uri("t/data/a.parquet"), "aaaa"));
  PG2I_ASSERT_OK(io_->WriteAll(Uri("t/data/p=1/b.parquet"), "bb"));
  PG2I_ASSERT_OK(io_->WriteAll(Uri("t/metadata/v1.json"), "{}"));
  PG2I_ASSERT_OK(io_->WriteAll(Uri("t2/other"), "z"));  // a sibling sharing the name prefix
  const auto after = std::chrono::system_clock::now() + std::chrono::minutes(10);

  PG2I_ASSERT_OK_AND_ASSIGN(auto listed, io_->List(Uri("t")));
  std::sort(listed.begin(), listed.end(),
            [](const FileEntry& a, const FileEntry& b) { return a.uri < b.uri; });
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed[0].uri, Uri("t/data/a.parquet"));
  EXPECT_EQ(listed[0].size, 4);
  EXPECT_EQ(listed[1].uri, Uri("t/data/p=1/b.parquet"));
  EXPECT_EQ(listed[1].size, 2);
  EXPECT_EQ(listed[2].uri, Uri("t/metadata/v1.json"));
  for (const FileEntry& e : listed) {
    EXPECT_GT(e.mtime, before) << e.uri;
    EXPECT_LT(e.mtime, after) << e.uri;
  }
  // A trailing slash names the same directory.
  EXPECT_EQ(ListedUris(Uri("t/data/")),
            (std::vector<std::string>{Uri("t/data/a.parquet"), Uri("t/data/p=1/b.parquet")}));
}

TEST_P(FileIOConformanceTest, LargeObject) {
  // Larger than one S3 multipart part (Arrow uploads in parts of at least 5 MiB).
  const std::string uri = Uri("large.bin");
  const std::string bytes = Pattern(11u << 20);
  PG2I_ASSERT_OK_AND_ASSIGN(auto out, io_->NewWriter(uri));
  for (size_t off = 0; off < bytes.size(); off += 1u << 20) {
    PG2I_ASSERT_OK(out->Write(std::string_view(bytes).substr(off, 1u << 20)));
  }
  PG2I_ASSERT_OK(out->Close());
  PG2I_ASSERT_OK_AND_ASSIGN(std::string read, io_->ReadAll(uri));
  EXPECT_TRUE(read == bytes);
}

TEST_P(FileIOConformanceTest, ConcurrentWriters) {
  constexpr int kThreads = 8;
  std::vector<std::thread> threads;
  std::vector<Status> results(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      results[i] = io_->WriteAll(Uri("c/" + std::to_string(i)), std::string(1000 + i, 'a' + i));
    });
  }
  for (auto& t : threads) t.join();
  for (const Status& s : results) PG2I_EXPECT_OK(s);
  for (int i = 0; i < kThreads; ++i) {
    PG2I_ASSERT_OK_AND_ASSIGN(std::string read, io_->ReadAll(Uri("c/" + std::to_string(i))));
    EXPECT_EQ(read, std::string(1000 + i, 'a' + i));
  }
}

TEST_P(FileIOConformanceTest, UniqueNamesNeverCollide) {
  std::vector<std::string> uris;
  for (int i = 0; i < 20; ++i) {
    uris.push_back(Uri("u/" + NewUniqueName() + ".parquet"));
    PG2I_ASSERT_OK(io_->WriteAll(uris.back(), std::to_string(i)));
  }
  std::sort(uris.begin(), uris.end());
  EXPECT_EQ(ListedUris(Uri("u")), uris);
}

}  // namespace pg2iceberg::io::testing
