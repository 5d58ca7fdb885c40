#include "iceberg/murmur3.h"

#include <gtest/gtest.h>

#include <string>

namespace pg2iceberg::iceberg {
namespace {

uint32_t Hash(std::string_view s, uint32_t seed) {
  return Murmur3X86_32(s.data(), s.size(), seed);
}

// Published MurmurHash3_x86_32 vectors (seeded), covering every tail length and the
// little-endian block order.
TEST(Murmur3Test, ReferenceVectors) {
  EXPECT_EQ(Hash("", 0), 0u);
  EXPECT_EQ(Hash("", 1), 1364076727u);
  EXPECT_EQ(Hash("", 0xffffffffu), 2180083513u);
  EXPECT_EQ(Hash("\xff\xff\xff\xff", 0), 1982413648u);
  EXPECT_EQ(Hash("\x21\x43\x65\x87", 0), 4116402539u);
  EXPECT_EQ(Hash("", 1234), 0x0f2cc00bu);
  EXPECT_EQ(Hash("Hello, world!", 1234), 0xfaf6cdb3u);
  EXPECT_EQ(Hash("Hello, world!", 4321), 0xbf505788u);
  EXPECT_EQ(Hash("xxxxxxxxxxxxxxxxxxxxxxxxxxxx", 1234), 0x8905ac28u);
}

// Iceberg spec, Appendix B: the hash Iceberg builds bucket[N] on.
TEST(Murmur3Test, IcebergSpecValues) {
  EXPECT_EQ(Murmur3HashLong(34), 2017239379);
  EXPECT_EQ(Murmur3HashBytes("iceberg"), 1210000089);
  EXPECT_EQ(Murmur3HashBytes(std::string("\x00\x01\x02\x03", 4)), -188683207);
  // The spec's schema-evolution note: "34" as a string hashes differently from 34.
  EXPECT_EQ(Murmur3HashBytes("34"), -427558391);
}

TEST(Murmur3Test, HashLongIsLittleEndianBytes) {
  const int64_t v = 0x0102030405060708LL;
  EXPECT_EQ(Murmur3HashLong(v),
            Murmur3HashBytes(std::string("\x08\x07\x06\x05\x04\x03\x02\x01", 8)));
  EXPECT_EQ(Murmur3HashLong(-1), Murmur3HashBytes(std::string(8, '\xff')));
}

}  // namespace
}  // namespace pg2iceberg::iceberg
