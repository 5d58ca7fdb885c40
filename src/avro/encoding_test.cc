#include "avro/encoding.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>

namespace pg2iceberg::avro {
namespace {

std::string Hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    if (!out.empty()) out.push_back(' ');
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string EncodeOrDie(const Schema& s, const Datum& d) {
  std::string out;
  Status st = Encode(s, d, &out);
  EXPECT_TRUE(st.ok()) << st.ToString() << " for " << d.DebugString();
  return out;
}

std::string LongHex(int64_t v) {
  std::string out;
  AppendLong(v, &out);
  return Hex(out);
}

// The table in the spec's "Binary Encoding" section, and the ends of the ranges.
TEST(EncodingTest, ZigZagVarintsMatchTheSpec) {
  EXPECT_EQ(LongHex(0), "00");
  EXPECT_EQ(LongHex(-1), "01");
  EXPECT_EQ(LongHex(1), "02");
  EXPECT_EQ(LongHex(-2), "03");
  EXPECT_EQ(LongHex(2), "04");
  EXPECT_EQ(LongHex(-64), "7f");
  EXPECT_EQ(LongHex(64), "80 01");
  EXPECT_EQ(LongHex(-65), "81 01");
  EXPECT_EQ(LongHex(8191), "fe 7f");
  EXPECT_EQ(LongHex(8192), "80 80 01");
  EXPECT_EQ(LongHex(std::numeric_limits<int64_t>::max()), "fe ff ff ff ff ff ff ff ff 01");
  EXPECT_EQ(LongHex(std::numeric_limits<int64_t>::min()), "ff ff ff ff ff ff ff ff ff 01");
  std::string i;
  AppendInt(std::numeric_limits<int32_t>::max(), &i);
  EXPECT_EQ(Hex(i), "fe ff ff ff 0f");
  i.clear();
  AppendInt(std::numeric_limits<int32_t>::min(), &i);
  EXPECT_EQ(Hex(i), "ff ff ff ff 0f");
}

TEST(EncodingTest, PrimitivesMatchTheSpec) {
  EXPECT_EQ(Hex(EncodeOrDie(Schema::String(), Datum::String("foo"))), "06 66 6f 6f");
  EXPECT_EQ(Hex(EncodeOrDie(Schema::Bytes(), Datum::Bytes(""))), "00");
  EXPECT_EQ(Hex(EncodeOrDie(Schema::Null(), Datum::Null())), "");
  EXPECT_EQ(Hex(EncodeOrDie(Schema::Boolean(), Datum::Boolean(true))), "01");
  EXPECT_EQ(Hex(EncodeOrDie(Schema::Boolean(), Datum::Boolean(false))), "00");
  EXPECT_EQ(Hex(EncodeOrDie(Schema::Int(), Datum::Int(-3))), "05");
  EXPECT_EQ(Hex(EncodeOrDie(Schema::Float(), Datum::Float(1.0f))), "00 00 80 3f");
  EXPECT_EQ(Hex(EncodeOrDie(Schema::Double(), Datum::Double(1.0))), "00 00 00 00 00 00 f0 3f");
  EXPECT_EQ(Hex(EncodeOrDie(Schema::Double(), Datum::Double(-2.5))), "00 00 00 00 00 00 04 c0");
  EXPECT_EQ(Hex(EncodeOrDie(Schema::Fixed("F", 3), Datum::Fixed("abc"))), "61 62 63");
  EXPECT_EQ(Hex(EncodeOrDie(Schema::Enum("E", {"A", "B", "C"}), Datum::Enum("C"))), "04");
}

TEST(EncodingTest, ComplexTypesMatchTheSpec) {
  // Spec: record {a: long, b: string} with a=27, b="foo".
  Schema test = Schema::Record("test", {Field{.name = "a", .type = Schema::Long()},
                                        Field{.name = "b", .type = Schema::String()}});
  EXPECT_EQ(Hex(EncodeOrDie(test, Datum::Record({{"a", Datum::Long(27)},
                                                  {"b", Datum::String("foo")}}))),
            "36 06 66 6f 6f");
  // Spec: array of longs [3, 27].
  EXPECT_EQ(Hex(EncodeOrDie(Schema::Array(Schema::Long()),
                            Datum::Array({Datum::Long(3), Datum::Long(27)}))),
            "04 06 36 00");
  EXPECT_EQ(Hex(EncodeOrDie(Schema::Array(Schema::Long()), Datum::Array({}))), "00");
  // Spec: union ["null","string"]: null, then "a".
  Schema opt = Schema::Optional(Schema::String());
  EXPECT_EQ(Hex(EncodeOrDie(opt, Datum::Null())), "00");
  EXPECT_EQ(Hex(EncodeOrDie(opt, Datum::String("a"))), "02 02 61");
  EXPECT_EQ(Hex(EncodeOrDie(opt, Datum::Union(1, Datum::String("a")))), "02 02 61");
  EXPECT_EQ(Hex(EncodeOrDie(Schema::Map(Schema::Int()), Datum::Map({{"k", Datum::Int(1)}}))),
            "02 02 6b 02 00");
}

Schema EverythingSchema() {
  Schema inner = Schema::Record("ns.Inner", {Field{.name = "k", .type = Schema::Int()},
                                             Field{.name = "v", .type = Schema::Long()}});
  return Schema::Record(
      "ns.Everything",
      {Field{.name = "n", .type = Schema::Null()},
       Field{.name = "b", .type = Schema::Boolean()},
       Field{.name = "i", .type = Schema::Int()},
       Field{.name = "l", .type = Schema::Long()},
       Field{.name = "f", .type = Schema::Float()},
       Field{.name = "d", .type = Schema::Double()},
       Field{.name = "by", .type = Schema::Bytes()},
       Field{.name = "s", .type = Schema::String()},
       Field{.name = "e", .type = Schema::Enum("ns.Suit", {"S", "H", "D", "C"})},
       Field{.name = "fx", .type = Schema::Fixed("ns.Uuid", 16)},
       Field{.name = "a", .type = Schema::Array(inner)},
       Field{.name = "m", .type = Schema::Map(Schema::Optional(Schema::Double()))},
       Field{.name = "u", .type = Schema::Union({Schema::Null(), Schema::String(), inner})},
       Field{.name = "nested", .type = Schema::Array(Schema::Array(Schema::Bytes()))}});
}

Datum EverythingValue(int seed) {
  auto inner = [](int k) {
    return Datum::Record({{"k", Datum::Int(k)}, {"v", Datum::Long(int64_t{k} << 33)}});
  };
  std::vector<Datum> arr;
  for (int i = 0; i < seed % 5; ++i) arr.push_back(inner(i * seed));
  return Datum::Record({
      {"n", Datum::Null()},
      {"b", Datum::Boolean(seed % 2 == 0)},
      {"i", Datum::Int(seed % 2 ? -seed : std::numeric_limits<int32_t>::max() - seed)},
      {"l", Datum::Long(seed % 3 ? std::numeric_limits<int64_t>::min() + seed : seed)},
      {"f", Datum::Float(seed * 0.25f)},
      {"d", Datum::Double(seed % 4 ? -seed / 3.0 : std::numeric_limits<double>::infinity())},
      {"by", Datum::Bytes(std::string(static_cast<size_t>(seed % 7), '\0'))},
      {"s", Datum::String("h\xc3\xa9llo " + std::to_string(seed))},
      {"e", Datum::Enum(seed % 2 ? "H" : "C", seed % 2 ? 1 : 3)},
      {"fx", Datum::Fixed(std::string(16, static_cast<char>(seed)))},
      {"a", Datum::Array(std::move(arr))},
      {"m", Datum::Map({{"x", Datum::Union(1, Datum::Double(1.5))},
                        {"y", Datum::Union(0, Datum())},
                        {"x", Datum::Union(0, Datum())}})},
      {"u", seed % 3 == 0   ? Datum::Union(0, Datum())
            : seed % 3 == 1 ? Datum::Union(1, Datum::String("s"))
                            : Datum::Union(2, inner(seed))},
      {"nested", Datum::Array({Datum::Array({}), Datum::Array({Datum::Bytes("z")})})},
  });
}

TEST(EncodingTest, EveryTypeRoundTrips) {
  Schema s = EverythingSchema();
  ASSERT_TRUE(s.Validate().ok()) << s.Validate().ToString();
  for (int seed = 0; seed < 12; ++seed) {
    Datum d = EverythingValue(seed);
    std::string bytes = EncodeOrDie(s, d);
    auto back = DecodeExactly(s, bytes);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, d) << back->DebugString() << "\n" << d.DebugString();
  }
}

TEST(EncodingTest, DecodesNegativeBlockCountsWithSizes) {
  // [1, 2, 3] as a block of -2 items (2 bytes) and a block of 1, as some writers do.
  std::string bytes = "\x03\x04\x02\x04\x02\x06";
  bytes.push_back('\0');
  auto d = DecodeExactly(Schema::Array(Schema::Long()), bytes);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(*d, Datum::Array({Datum::Long(1), Datum::Long(2), Datum::Long(3)}));

  // A byte size that does not match the items is corruption.
  std::string wrong = "\x03\x06\x02\x04";
  wrong.push_back('\0');
  EXPECT_EQ(DecodeExactly(Schema::Array(Schema::Long()), wrong).status().code(),
            StatusCode::kDataLoss);

  // Maps too: {"a": 1} in a negative block.
  std::string map = "\x01\x06\x02\x61\x02";
  map.push_back('\0');
  auto m = DecodeExactly(Schema::Map(Schema::Int()), map);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(*m, Datum::Map({{"a", Datum::Int(1)}}));
}

TEST(EncodingTest, EncoderConveniencesAndErrors) {
  Schema s = Schema::Record(
      "R", {Field{.name = "a", .type = Schema::Long()},
            Field{.name = "b", .type = Schema::Optional(Schema::Double())},
            Field{.name = "c", .type = Schema::String(), .default_value = "z"}});
  // Fields out of order, widened values, a default filled in.
  std::string bytes =
      EncodeOrDie(s, Datum::Record({{"b", Datum::Float(0.5f)}, {"a", Datum::Int(1)}}));
  auto back = DecodeExactly(s, bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, Datum::Record({{"a", Datum::Long(1)},
                                  {"b", Datum::Union(1, Datum::Double(0.5))},
                                  {"c", Datum::String("z")}}));

  std::string out = "keep";
  Status st = Encode(s, Datum::Record({{"a", Datum::String("x")}}), &out);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "a: expected long, got string");
  EXPECT_EQ(out, "keep");

  st = Encode(s,
              Datum::Record({{"a", Datum::Long(1)}, {"b", Datum::Null()}, {"zz", Datum::Null()}}),
              &out);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("zz"), std::string::npos);

  Schema nested = Schema::Record(
      "Outer", {Field{.name = "items",
                      .type = Schema::Array(Schema::Record(
                          "Inner", {Field{.name = "x", .type = Schema::Int()}}))}});
  st = Encode(nested,
              Datum::Record({{"items", Datum::Array({Datum::Record({{"x", Datum::Int(1)}}),
                                                     Datum::Record({})})}}),
              &out);
  EXPECT_EQ(st.message(), "items[1].x: missing from the record and has no default");

  EXPECT_FALSE(Encode(Schema::String(), Datum::String("\xc3\x28"), &out).ok());
  EXPECT_FALSE(Encode(Schema::String(), Datum::String("\xed\xa0\x80"), &out).ok());  // surrogate
  EXPECT_FALSE(Encode(Schema::Map(Schema::Int()), Datum::Map({{"\xff", Datum::Int(1)}}), &out)
                   .ok());
  EXPECT_FALSE(Encode(Schema::Int(), Datum::Long(1), &out).ok());
  EXPECT_FALSE(Encode(Schema::Fixed("F", 2), Datum::Fixed("abc"), &out).ok());
  EXPECT_FALSE(Encode(Schema::Enum("E", {"A"}), Datum::Enum("B"), &out).ok());
  EXPECT_FALSE(Encode(Schema::Optional(Schema::Int()), Datum::Union(2, Datum()), &out).ok());
  EXPECT_FALSE(Encode(Schema::Optional(Schema::Int()), Datum::String("x"), &out).ok());
  EXPECT_EQ(out, "keep");
}

TEST(EncodingTest, UnionPicksBranchByType) {
  Schema two_records = Schema::Union(
      {Schema::Record("A", {Field{.name = "a", .type = Schema::Int()}}),
       Schema::Record("B", {Field{.name = "b", .type = Schema::Int()}})});
  // The first record branch does not accept {b}, the second does.
  EXPECT_EQ(Hex(EncodeOrDie(two_records, Datum::Record({{"b", Datum::Int(1)}}))), "02 02");
  EXPECT_EQ(Hex(EncodeOrDie(Schema::Union({Schema::Null(), Schema::Long()}), Datum::Int(1))),
            "02 02");
}

Status DecodeStatus(const Schema& s, std::string_view bytes) {
  return DecodeExactly(s, bytes).status();
}

TEST(EncodingTest, RejectsMalformedInput) {
  const auto kDataLoss = StatusCode::kDataLoss;
  // Varints: eleven bytes, a tenth byte beyond 64 bits, truncated.
  EXPECT_EQ(DecodeStatus(Schema::Long(), std::string(10, '\xff') + "\x01").code(), kDataLoss);
  EXPECT_EQ(DecodeStatus(Schema::Long(), std::string(9, '\xff') + "\x02").code(), kDataLoss);
  EXPECT_EQ(DecodeStatus(Schema::Long(), "\x80").code(), kDataLoss);
  EXPECT_EQ(DecodeStatus(Schema::Long(), "").code(), kDataLoss);
  // An int out of range.
  EXPECT_EQ(DecodeStatus(Schema::Int(), "\x80\x80\x80\x80\x10").code(), kDataLoss);
  // Booleans other than 0 and 1.
  EXPECT_EQ(DecodeStatus(Schema::Boolean(), "\x02").code(), kDataLoss);
  // Lengths: negative, beyond the input, absurd.
  EXPECT_EQ(DecodeStatus(Schema::String(), "\x01").code(), kDataLoss);
  EXPECT_EQ(DecodeStatus(Schema::Bytes(), "\x08" "abc").code(), kDataLoss);
  EXPECT_EQ(DecodeStatus(Schema::Bytes(), "\xfe\xff\xff\xff\xff\xff\xff\xff\x7f").code(),
            kDataLoss);
  EXPECT_EQ(DecodeStatus(Schema::Fixed("F", 4), "abc").code(), kDataLoss);
  EXPECT_EQ(DecodeStatus(Schema::Float(), "abc").code(), kDataLoss);
  EXPECT_EQ(DecodeStatus(Schema::Double(), "abcdefg").code(), kDataLoss);
  // Indexes out of range.
  EXPECT_EQ(DecodeStatus(Schema::Optional(Schema::Int()), "\x04").code(), kDataLoss);
  EXPECT_EQ(DecodeStatus(Schema::Optional(Schema::Int()), "\x01").code(), kDataLoss);
  EXPECT_EQ(DecodeStatus(Schema::Enum("E", {"A"}), "\x02").code(), kDataLoss);
  // A huge array count with few bytes behind it, positive and negative.
  EXPECT_EQ(DecodeStatus(Schema::Array(Schema::Long()), "\xfe\xff\xff\xff\x0f\x02").code(),
            kDataLoss);
  EXPECT_EQ(DecodeStatus(Schema::Map(Schema::Null()), "\xfe\xff\xff\xff\x0f").code(), kDataLoss);
  EXPECT_EQ(DecodeStatus(Schema::Array(Schema::Long()),
                         "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00")
                .code(),
            kDataLoss);  // INT64_MIN count
  EXPECT_EQ(DecodeStatus(Schema::Array(Schema::Long()), "\x01\x7f\x02").code(), kDataLoss);
  // Items that take no bytes are capped, not allocated 2^40 times.
  EXPECT_EQ(DecodeStatus(Schema::Array(Schema::Null()), "\x80\x80\x80\x80\x80\x40").code(),
            kDataLoss);
  EXPECT_EQ(DecodeStatus(Schema::Array(Schema::Record("E", {})), "\xfe\xff\xff\xff\x0f").code(),
            kDataLoss);
  // Trailing bytes after a value.
  EXPECT_EQ(DecodeStatus(Schema::Int(), "\x02\x02").code(), kDataLoss);
}

TEST(EncodingTest, ZeroSizeBudgetAllowsReasonableArrays) {
  std::string bytes;
  AppendLong(1000, &bytes);
  AppendLong(0, &bytes);
  auto d = DecodeExactly(Schema::Array(Schema::Null()), bytes);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->items().size(), 1000u);

  BinaryReader small(bytes, /*zero_size_budget=*/999);
  EXPECT_EQ(Decode(Schema::Array(Schema::Null()), &small).status().code(), StatusCode::kDataLoss);
}

TEST(EncodingTest, EveryTruncationFailsCleanly) {
  Schema s = EverythingSchema();
  for (int seed = 0; seed < 6; ++seed) {
    std::string bytes = EncodeOrDie(s, EverythingValue(seed));
    for (size_t n = 0; n < bytes.size(); ++n) {
      auto d = DecodeExactly(s, std::string_view(bytes).substr(0, n));
      EXPECT_FALSE(d.ok()) << "prefix " << n << " of " << bytes.size();
      if (!d.ok()) {
        EXPECT_EQ(d.status().code(), StatusCode::kDataLoss);
      }
    }
  }
}

TEST(EncodingTest, RandomBytesNeverCrash) {
  Schema s = EverythingSchema();
  std::mt19937 rng(42);
  std::string base = EncodeOrDie(s, EverythingValue(4));
  for (int iter = 0; iter < 20000; ++iter) {
    std::string bytes = base;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) {
      bytes[rng() % bytes.size()] = static_cast<char>(rng());
    }
    auto d = DecodeExactly(s, bytes);
    if (!d.ok()) {
      EXPECT_EQ(d.status().code(), StatusCode::kDataLoss);
    }
  }
}

TEST(EncodingTest, Utf8Validation) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));      // overlong
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xe2\x82"));          // truncated
  EXPECT_FALSE(IsValidUtf8("\x80"));
  EXPECT_FALSE(IsValidUtf8("\xf8\x88\x80\x80\x80"));
}

}  // namespace
}  // namespace pg2iceberg::avro
