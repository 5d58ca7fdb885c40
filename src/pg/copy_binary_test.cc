#include "pg/copy_binary.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "pg/values.h"

namespace pg2iceberg::pg {
namespace {

std::string Be(uint64_t v, int bytes) {
  std::string out;
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return out;
}

// A binary COPY stream of rows of two fields (nullopt: NULL).
std::string Stream(const std::vector<std::vector<std::optional<std::string>>>& rows) {
  std::string s("PGCOPY\n\377\r\n\0", 11);
  s += Be(0, 4) + Be(4, 4) + "ext!";  // flags, a 4-byte header extension to skip
  for (const auto& row : rows) {
    s += Be(row.size(), 2);
    for (const auto& f : row) s += f ? Be(f->size(), 4) + *f : Be(0xffffffff, 4);
  }
  return s + Be(0xffff, 2);
}

std::vector<std::vector<std::optional<std::string>>> Read(const std::string& stream,
                                                          size_t piece, Status* status) {
  BinaryCopyReader reader(2);
  std::vector<std::vector<std::optional<std::string>>> rows;
  auto on_row = [&](const BinaryRow& r) {
    std::vector<std::optional<std::string>> row;
    for (const auto& f : r) row.push_back(f ? std::optional<std::string>(std::string(*f)) : std::nullopt);
    rows.push_back(std::move(row));
    return Status::Ok();
  };
  for (size_t i = 0; i < stream.size(); i += piece) {
    *status = reader.Feed(std::string_view(stream).substr(i, piece), on_row);
    if (!status->ok()) return rows;
  }
  *status = reader.Finish();
  return rows;
}

TEST(BinaryCopyReaderTest, RowsArriveWholeWhateverPiecesTheStreamComesIn) {
  const std::vector<std::vector<std::optional<std::string>>> rows = {
      {std::string("a"), std::nullopt}, {std::string(""), std::string(300, 'x')}};
  const std::string stream = Stream(rows);
  for (size_t piece : {size_t{1}, size_t{3}, size_t{17}, stream.size()}) {
    Status s;
    EXPECT_EQ(Read(stream, piece, &s), rows) << "pieces of " << piece;
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
}

TEST(BinaryCopyReaderTest, AMalformedOrCutStreamIsAnError) {
  Status s;
  Read("PGCOPY\n\377\r\n\1" + Be(0, 8), 100, &s);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
  Read(Stream({{std::string("a"), std::string("b"), std::string("c")}}), 100, &s);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
  std::string cut = Stream({{std::string("a"), std::string("bcd")}});
  cut.resize(cut.size() - 4);
  Read(cut, 100, &s);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
}

TEST(ParseBinaryTest, GivesWhatTheTextParserGivesForTheSameValue) {
  struct Case {
    uint32_t oid;
    std::string bytes, text;
  };
  const std::vector<Case> cases = {
      {oid::kBool, Be(1, 1), "t"},
      {oid::kInt2, Be(0x8000, 2), "-32768"},
      {oid::kInt4, Be(0xfffffffe, 4), "-2"},
      {oid::kInt8, Be(0x8000000000000000ULL, 8), "-9223372036854775808"},
      {oid::kFloat8, Be(0x3fb999999999999aULL, 8), "0.1"},
      {oid::kFloat4, Be(0xc0200000, 4), "-2.5"},
      {oid::kDate, Be(0, 4), "2000-01-01"},
      {oid::kDate, Be(0x7fffffff, 4), "infinity"},
      {oid::kDate, Be(0x80000000, 4), "-infinity"},
      {oid::kTimestamp, Be(1'000'000, 8), "2000-01-01 00:00:01"},
      {oid::kTimestamptz, Be(0x7fffffffffffffffULL, 8), "infinity"},
      {oid::kTimestamptz, Be(0x8000000000000000ULL, 8), "-infinity"},
      {oid::kBytea, std::string("\0\xff", 2), "\\x00ff"},
      {oid::kBpchar, "a  ", "a  "},
      {oid::kUuid, std::string("\xa0\xee\xbc\x99\x9c\x0b\x4e\xf8\xbb\x6d\x6b\xb9\xbd\x38\x0a\x11", 16),
       "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
  };
  for (const Case& c : cases) {
    const Type type = MapType(c.oid, -1).type;
    ASSERT_TRUE(BinaryDecodable(type, c.oid)) << c.oid;
    auto want = ParseText(type, c.oid, c.text);
    auto got = ParseBinary(type, c.oid, c.bytes);
    ASSERT_TRUE(want.ok() && got.ok()) << c.text << ": " << got.status().ToString();
    EXPECT_TRUE(*want == *got) << c.text;
  }
  EXPECT_FALSE(ParseBinary(MapType(oid::kInt4, -1).type, oid::kInt4, "abc").ok());
  EXPECT_FALSE(BinaryDecodable(MapType(oid::kNumeric, -1).type, oid::kNumeric));
  EXPECT_FALSE(BinaryDecodable(MapType(oid::kChar, -1).type, oid::kChar));
  EXPECT_FALSE(BinaryDecodable(Type{TypeId::kLong}, oid::kInt4));  // only the mapped type
}

}  // namespace
}  // namespace pg2iceberg::pg
