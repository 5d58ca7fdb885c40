#include "iceberg/puffin.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "fixtures/gtest_support.h"
#include "io/memory_file_io.h"

namespace pg2iceberg::iceberg {
namespace {

uint32_t LittleEndian32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}

TEST(DeletionVectorTest, RoundTripsPositionsAcrossThe32BitBoundary) {
  const std::vector<int64_t> positions = {7, 0, 3, 3, 100000, 4294967295LL, 4294967296LL,
                                          (int64_t{5} << 32) + 9};
  auto blob = SerializeDeletionVector(positions);
  ASSERT_TRUE(blob.ok()) << blob.status().ToString();
  auto back = DeserializeDeletionVector(*blob);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, (std::vector<int64_t>{0, 3, 7, 100000, 4294967295LL, 4294967296LL,
                                         (int64_t{5} << 32) + 9}));
  // The layout the spec fixes: big-endian length of magic + bitmap, the magic, then three
  // 32-bit bitmaps (keys 0, 1, 5).
  EXPECT_EQ(static_cast<unsigned char>((*blob)[4]), 0xD1);
  EXPECT_EQ(static_cast<unsigned char>((*blob)[7]), 0x64);
  EXPECT_EQ(LittleEndian32(*blob, 8), 3u);
  EXPECT_EQ(LittleEndian32(*blob, 12), 0u);
  const uint32_t length = (static_cast<unsigned char>((*blob)[0]) << 24) |
                          (static_cast<unsigned char>((*blob)[1]) << 16) |
                          (static_cast<unsigned char>((*blob)[2]) << 8) |
                          static_cast<unsigned char>((*blob)[3]);
  EXPECT_EQ(length, blob->size() - 8);
}

TEST(DeletionVectorTest, ACorruptBlobIsDataLossNotACrash) {
  auto blob = SerializeDeletionVector({1, 2, 3});
  ASSERT_TRUE(blob.ok());
  std::string flipped = *blob;
  flipped[14] ^= 0x01;  // inside the bitmap: the checksum catches it
  EXPECT_EQ(DeserializeDeletionVector(flipped).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(DeserializeDeletionVector(blob->substr(0, blob->size() - 1)).status().code(),
            StatusCode::kDataLoss);
  EXPECT_EQ(DeserializeDeletionVector("").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(SerializeDeletionVector({-1}).status().code(), StatusCode::kInvalidArgument);
}

TEST(DeletionVectorTest, APuffinFileHoldsOneVectorPerDataFileWithTheFooterReadersNeed) {
  FakeClock clock;
  auto io = std::make_shared<io::MemoryFileIO>(&clock);
  const std::string uri = "mem://wh/t/data/dv-1.puffin";
  auto files = DeletionVectorWriter::Write(
      io.get(), uri, {{"mem://wh/t/data/a.parquet", 0, {}, {5, 1, 5}},
                      {"mem://wh/t/data/b.parquet", 0, {}, {2}}});
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  ASSERT_EQ(files->size(), 2u);
  auto bytes = io->ReadAll(uri);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->substr(0, 4), "PFA1");
  EXPECT_EQ(bytes->substr(bytes->size() - 4), "PFA1");
  const uint32_t payload_size = LittleEndian32(*bytes, bytes->size() - 12);
  const auto footer = nlohmann::json::parse(
      bytes->substr(bytes->size() - 12 - payload_size, payload_size));
  ASSERT_EQ(footer["blobs"].size(), 2u);
  EXPECT_EQ(footer["blobs"][0]["type"], "deletion-vector-v1");
  EXPECT_EQ(footer["blobs"][0]["properties"]["referenced-data-file"], "mem://wh/t/data/a.parquet");
  EXPECT_EQ(footer["blobs"][0]["properties"]["cardinality"], "2");
  EXPECT_EQ(footer["blobs"][1]["offset"], *(*files)[1].content_offset);
  for (const DataFile& f : *files) {
    EXPECT_EQ(f.file_format, "PUFFIN");
    EXPECT_EQ(f.file_size_in_bytes, static_cast<int64_t>(bytes->size()));
    EXPECT_TRUE(IsDeletionVector(f));
  }
  EXPECT_NE(FileKey((*files)[0]), FileKey((*files)[1]));
  auto a = ReadDeletionVector(io, (*files)[0]);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(*a, (std::vector<int64_t>{1, 5}));
  EXPECT_EQ((*files)[0].record_count, 2);
  auto b = ReadDeletionVector(io, (*files)[1]);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, (std::vector<int64_t>{2}));
  // A manifest that miscounts the vector is caught.
  DataFile wrong = (*files)[1];
  wrong.record_count = 3;
  EXPECT_EQ(ReadDeletionVector(io, wrong).status().code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace pg2iceberg::iceberg
