#include "iceberg/single_value.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace pg2iceberg::iceberg {
namespace {

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int x : b) s.push_back(static_cast<char>(x));
  return s;
}

std::string Encode(const Type& type, const Value& v) {
  auto r = SerializeSingleValue(type, v);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : "";
}

Value Decode(const Type& type, std::string_view bytes) {
  auto r = DeserializeSingleValue(type, bytes);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : Value();
}

void ExpectRoundTrip(const Type& type, const Value& v, const std::string& bytes) {
  EXPECT_EQ(Encode(type, v), bytes) << type.ToString() << " " << DebugString(v);
  EXPECT_EQ(Decode(type, bytes), v) << type.ToString() << " " << DebugString(v);
}

TEST(SingleValueTest, EncodingsPerAppendixD) {
  ExpectRoundTrip(Type{TypeId::kBoolean}, false, Bytes({0x00}));
  ExpectRoundTrip(Type{TypeId::kBoolean}, true, Bytes({0x01}));
  ExpectRoundTrip(Type{TypeId::kInt}, int32_t{34}, Bytes({0x22, 0, 0, 0}));
  ExpectRoundTrip(Type{TypeId::kInt}, int32_t{-2}, Bytes({0xFE, 0xFF, 0xFF, 0xFF}));
  ExpectRoundTrip(Type{TypeId::kLong}, int64_t{34}, Bytes({0x22, 0, 0, 0, 0, 0, 0, 0}));
  ExpectRoundTrip(Type{TypeId::kLong}, int64_t{0x0102030405060708},
                  Bytes({8, 7, 6, 5, 4, 3, 2, 1}));
  ExpectRoundTrip(Type{TypeId::kFloat}, 1.0f, Bytes({0x00, 0x00, 0x80, 0x3F}));
  ExpectRoundTrip(Type{TypeId::kDouble}, 1.0, Bytes({0, 0, 0, 0, 0, 0, 0xF0, 0x3F}));
  ExpectRoundTrip(Type{TypeId::kDouble}, -2.5, Bytes({0, 0, 0, 0, 0, 0, 0x04, 0xC0}));
  ExpectRoundTrip(Type{TypeId::kDate}, Date{17486}, Bytes({0x4E, 0x44, 0, 0}));  // 2017-11-16
  ExpectRoundTrip(Type{TypeId::kDate}, Date{-1}, Bytes({0xFF, 0xFF, 0xFF, 0xFF}));
  ExpectRoundTrip(Type{TypeId::kTime}, Time{81068000000},  // 22:31:08
                  Bytes({0x00, 0x83, 0x07, 0xE0, 0x12, 0x00, 0x00, 0x00}));
  ExpectRoundTrip(Type{TypeId::kTimestamp}, Timestamp{1510871468000000},
                  Bytes({0x00, 0xC3, 0x26, 0x2D, 0x21, 0x5E, 0x05, 0x00}));
  ExpectRoundTrip(Type{TypeId::kTimestampTz}, TimestampTz{-1},
                  Bytes({0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}));
  ExpectRoundTrip(Type{TypeId::kString}, std::string("iceberg"), "iceberg");
  ExpectRoundTrip(Type{TypeId::kString}, std::string("ä€"), "\xC3\xA4\xE2\x82\xAC");
  ExpectRoundTrip(Type{TypeId::kString}, std::string(), "");
  ExpectRoundTrip(Type{TypeId::kBinary}, Binary{std::string("\x00\xFF", 2)},
                  std::string("\x00\xFF", 2));
  const Uuid uuid{{0xF7, 0x9C, 0x3E, 0x09, 0x67, 0x7C, 0x4B, 0xBD, 0xA4, 0x79, 0x3F, 0x34, 0x9C,
                   0xB7, 0x85, 0xE7}};
  ExpectRoundTrip(Type{TypeId::kUuid}, uuid,
                  Bytes({0xF7, 0x9C, 0x3E, 0x09, 0x67, 0x7C, 0x4B, 0xBD, 0xA4, 0x79, 0x3F, 0x34,
                         0x9C, 0xB7, 0x85, 0xE7}));
  ExpectRoundTrip(Type::Decimal(9, 2), Decimal128{1420, 2}, Bytes({0x05, 0x8C}));  // 14.20
  ExpectRoundTrip(Type::Decimal(9, 2), Decimal128{-1420, 2}, Bytes({0xFA, 0x74}));
}

TEST(SingleValueTest, FloatBitPatternsArePreserved) {
  const std::string neg_zero = Encode(Type{TypeId::kDouble}, -0.0);
  EXPECT_EQ(neg_zero, Bytes({0, 0, 0, 0, 0, 0, 0, 0x80}));
  EXPECT_TRUE(std::signbit(std::get<double>(Decode(Type{TypeId::kDouble}, neg_zero))));
  const Value nan = Decode(Type{TypeId::kFloat}, Encode(Type{TypeId::kFloat}, std::nanf("")));
  EXPECT_TRUE(std::isnan(std::get<float>(nan)));
}

TEST(SingleValueTest, DecimalUsesMinimalTwosComplement) {
  EXPECT_EQ(MinimalBigEndianBytes(0), Bytes({0x00}));
  EXPECT_EQ(MinimalBigEndianBytes(1), Bytes({0x01}));
  EXPECT_EQ(MinimalBigEndianBytes(127), Bytes({0x7F}));
  EXPECT_EQ(MinimalBigEndianBytes(128), Bytes({0x00, 0x80}));
  EXPECT_EQ(MinimalBigEndianBytes(255), Bytes({0x00, 0xFF}));
  EXPECT_EQ(MinimalBigEndianBytes(256), Bytes({0x01, 0x00}));
  EXPECT_EQ(MinimalBigEndianBytes(-1), Bytes({0xFF}));
  EXPECT_EQ(MinimalBigEndianBytes(-128), Bytes({0x80}));
  EXPECT_EQ(MinimalBigEndianBytes(-129), Bytes({0xFF, 0x7F}));
  EXPECT_EQ(MinimalBigEndianBytes(-256), Bytes({0xFF, 0x00}));
  const __int128 max = static_cast<__int128>(~static_cast<unsigned __int128>(0) >> 1);
  const __int128 min = -max - 1;
  EXPECT_EQ(MinimalBigEndianBytes(max), std::string("\x7F") + std::string(15, '\xFF'));
  EXPECT_EQ(MinimalBigEndianBytes(min), std::string("\x80") + std::string(15, '\x00'));

  for (__int128 v :
       {static_cast<__int128>(0), static_cast<__int128>(1), static_cast<__int128>(-1),
        static_cast<__int128>(127), static_cast<__int128>(128), static_cast<__int128>(-129),
        static_cast<__int128>(99999999999999999LL) * 1000000000000LL, max, min}) {
    EXPECT_EQ(*FromBigEndianBytes(MinimalBigEndianBytes(v)), v);
  }
  // Non-minimal encodings written by other tools still decode.
  EXPECT_EQ(*FromBigEndianBytes(Bytes({0x00, 0x00, 0x05, 0x8C})), 1420);
  EXPECT_EQ(*FromBigEndianBytes(Bytes({0xFF, 0xFF, 0xFA, 0x74})), -1420);
}

TEST(SingleValueTest, PromotedTypesReadNarrowBounds) {
  // int written, column now long.
  EXPECT_EQ(Decode(Type{TypeId::kLong}, Bytes({0xFE, 0xFF, 0xFF, 0xFF})), Value(int64_t{-2}));
  // float written, column now double.
  EXPECT_EQ(Decode(Type{TypeId::kDouble}, Bytes({0x00, 0x00, 0xC0, 0x3F})), Value(1.5));
  // date written, column now timestamp: midnight of that day.
  EXPECT_EQ(Decode(Type{TypeId::kTimestamp}, Bytes({0x4E, 0x44, 0, 0})),
            Value(Timestamp{17486LL * 86'400'000'000LL}));
  EXPECT_EQ(Decode(Type{TypeId::kTimestamp}, Bytes({0xFF, 0xFF, 0xFF, 0xFF})),
            Value(Timestamp{-86'400'000'000LL}));
}

TEST(SingleValueTest, AnyNonZeroByteIsTrue) {
  EXPECT_EQ(Decode(Type{TypeId::kBoolean}, Bytes({0x02})), Value(true));
}

TEST(SingleValueTest, CorruptBytesAreDataLoss) {
  const std::vector<std::pair<Type, std::string>> bad = {
      {Type{TypeId::kBoolean}, ""},
      {Type{TypeId::kInt}, Bytes({1, 2, 3})},
      {Type{TypeId::kLong}, Bytes({1, 2, 3, 4, 5})},
      {Type{TypeId::kFloat}, Bytes({1, 2, 3, 4, 5, 6, 7, 8})},
      {Type{TypeId::kDouble}, Bytes({1, 2})},
      {Type{TypeId::kDate}, Bytes({1, 2, 3, 4, 5, 6, 7, 8})},
      {Type{TypeId::kTime}, Bytes({1, 2, 3, 4})},
      {Type{TypeId::kTimestampTz}, Bytes({1, 2, 3, 4})},
      {Type{TypeId::kUuid}, std::string(15, 'x')},
      {Type::Decimal(10, 2), ""},
      {Type::Decimal(38, 2), std::string(17, '\x01')},
  };
  for (const auto& [type, bytes] : bad) {
    EXPECT_EQ(DeserializeSingleValue(type, bytes).status().code(), StatusCode::kDataLoss)
        << type.ToString() << " with " << bytes.size() << " bytes";
  }
}

TEST(SingleValueTest, ValuesMustMatchTheirType) {
  EXPECT_EQ(SerializeSingleValue(Type{TypeId::kLong}, Value()).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(SerializeSingleValue(Type{TypeId::kLong}, int32_t{1}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(SerializeSingleValue(Type::Decimal(9, 2), Decimal128{1, 3}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(SerializeSingleValue(Type{TypeId::kTimestamp}, TimestampTz{1}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(CheckValueType(Type::Decimal(9, 2), Decimal128{1, 2}).ok());
}

// ---- metric bound truncation ----

TEST(BoundTruncationTest, ShortValuesAreUnchanged) {
  EXPECT_EQ(*TruncateStringLowerBound("iceberg", 16), "iceberg");
  EXPECT_EQ(**TruncateStringUpperBound("iceberg", 16), "iceberg");
  EXPECT_EQ(*TruncateStringLowerBound("0123456789abcdef", 16), "0123456789abcdef");
  EXPECT_EQ(**TruncateStringUpperBound("0123456789abcdef", 16), "0123456789abcdef");
  EXPECT_EQ(*TruncateBinaryLowerBound("abc", 3), "abc");
  EXPECT_EQ(**TruncateBinaryUpperBound("abc", 3), "abc");
}

TEST(BoundTruncationTest, StringBoundsCountCodePoints) {
  EXPECT_EQ(*TruncateStringLowerBound("0123456789abcdefXYZ", 16), "0123456789abcdef");
  EXPECT_EQ(**TruncateStringUpperBound("0123456789abcdefXYZ", 16), "0123456789abcdeg");
  // 2-, 3- and 4-byte characters count once each.
  EXPECT_EQ(*TruncateStringLowerBound("ÄÖÜ€😀", 3), "ÄÖÜ");
  EXPECT_EQ(**TruncateStringUpperBound("ÄÖÜ€😀", 3), "ÄÖÝ");  // Ü U+00DC -> Ý U+00DD
  EXPECT_EQ(**TruncateStringUpperBound("a😀b", 2), "a😁");
  EXPECT_EQ(**TruncateStringUpperBound("ab\x7F"
                                       "c",
                                       3),
            "ab\xC2\x80");  // U+007F -> U+0080
}

TEST(BoundTruncationTest, StringUpperBoundCarriesPastTheLastCodePoint) {
  const std::string max_cp = "\xF4\x8F\xBF\xBF";  // U+10FFFF
  EXPECT_EQ(**TruncateStringUpperBound("a" + max_cp + "zz", 2), "b");
  EXPECT_FALSE(TruncateStringUpperBound(max_cp + max_cp + "z", 2)->has_value());
  // U+D7FF + 1 is a surrogate; the bound skips to U+E000.
  EXPECT_EQ(**TruncateStringUpperBound("\xED\x9F\xBFxy", 1), "\xEE\x80\x80");
}

TEST(BoundTruncationTest, BinaryBounds) {
  EXPECT_EQ(*TruncateBinaryLowerBound("\x01\x02\x03\x04", 2), "\x01\x02");
  EXPECT_EQ(**TruncateBinaryUpperBound("\x01\x02\x03\x04", 2), "\x01\x03");
  EXPECT_EQ(**TruncateBinaryUpperBound("\x01\xFF\x03", 2), "\x02");
  EXPECT_FALSE(TruncateBinaryUpperBound("\xFF\xFF\x01", 2)->has_value());
}

TEST(BoundTruncationTest, UpperBoundsSortAfterTheValue) {
  const std::vector<std::string> values = {"zzzzzzzzzzzzzzzzzzzz", "héllo wörld, this is long",
                                           "0000000000000000\xF4\x8F\xBF\xBF",
                                           "\xE2\x82\xAC\xE2\x82\xAC extra text here"};
  for (const std::string& v : values) {
    auto upper = TruncateStringUpperBound(v, 16);
    ASSERT_TRUE(upper.ok() && upper->has_value()) << v;
    EXPECT_GT(**upper, v);
    EXPECT_LE(*TruncateStringLowerBound(v, 16), v);
  }
}

TEST(BoundTruncationTest, InvalidInput) {
  EXPECT_EQ(TruncateStringLowerBound("abc", 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(TruncateBinaryUpperBound("abc", -1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(TruncateStringUpperBound("ab\xC3", 1).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(TruncateStringLowerBound("\xC0\x80", 1).status().code(),  // overlong NUL
            StatusCode::kInvalidArgument);
  EXPECT_EQ(TruncateStringLowerBound("\xED\xA0\x80", 1).status().code(),  // surrogate
            StatusCode::kInvalidArgument);
}

TEST(BoundTruncationTest, ValueWrappers) {
  EXPECT_EQ(*TruncateLowerBound(std::string("abcdef"), 2), Value(std::string("ab")));
  EXPECT_EQ(**TruncateUpperBound(std::string("abcdef"), 2), Value(std::string("ac")));
  EXPECT_EQ(*TruncateLowerBound(Binary{"abcdef"}, 2), Value(Binary{"ab"}));
  EXPECT_EQ(**TruncateUpperBound(Binary{"abcdef"}, 2), Value(Binary{"ac"}));
  EXPECT_FALSE(TruncateUpperBound(Binary{"\xFF\xFF\xFF"}, 2)->has_value());
  EXPECT_EQ(*TruncateLowerBound(int64_t{123456789}, 2), Value(int64_t{123456789}));
  EXPECT_EQ(**TruncateUpperBound(int64_t{123456789}, 2), Value(int64_t{123456789}));
  EXPECT_FALSE(TruncateLowerBound(Value(), 2).ok());
  EXPECT_EQ(kDefaultMetricsTruncateLength, 16);
}

}  // namespace
}  // namespace pg2iceberg::iceberg
