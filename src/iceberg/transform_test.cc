#include "iceberg/transform.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace pg2iceberg::iceberg {
namespace {

// Spec Appendix B inputs, in the Value model's representation.
constexpr int32_t kDays20171116 = 17486;                      // 2017-11-16
constexpr int64_t kMicros20171116T223108 = 1510871468000000;  // 2017-11-16T22:31:08
constexpr int64_t kMicros223108 = 81068000000;                // 22:31:08

Uuid SpecUuid() {  // f79c3e09-677c-4bbd-a479-3f349cb785e7
  return Uuid{{0xF7, 0x9C, 0x3E, 0x09, 0x67, 0x7C, 0x4B, 0xBD, 0xA4, 0x79, 0x3F, 0x34, 0x9C,
               0xB7, 0x85, 0xE7}};
}

Transform Bucket(int32_t n) { return *Transform::Bucket(n); }
Transform Truncate(int32_t w) { return *Transform::Truncate(w); }

Value Apply(const Transform& t, const Type& type, const Value& v) {
  auto r = t.Apply(type, v);
  EXPECT_TRUE(r.ok()) << t.ToString() << " of " << DebugString(v) << ": "
                      << r.status().ToString();
  return r.ok() ? *r : Value();
}

std::string Human(const Transform& t, const Type& type, const Value& transformed) {
  auto r = t.ToHumanString(type, transformed);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : "";
}

const Type kInt{TypeId::kInt};
const Type kLong{TypeId::kLong};
const Type kDate{TypeId::kDate};
const Type kTime{TypeId::kTime};
const Type kTs{TypeId::kTimestamp};
const Type kTsTz{TypeId::kTimestampTz};
const Type kString{TypeId::kString};
const Type kUuid{TypeId::kUuid};
const Type kBinary{TypeId::kBinary};
const Type kBool{TypeId::kBoolean};
const Type kFloat{TypeId::kFloat};
const Type kDouble{TypeId::kDouble};

// ---- Appendix B: 32-bit hash requirements ----

TEST(IcebergHashTest, SpecTestValues) {
  EXPECT_EQ(*IcebergHash(int32_t{34}), 2017239379);
  EXPECT_EQ(*IcebergHash(int64_t{34}), 2017239379);
  EXPECT_EQ(*IcebergHash(Decimal128{1420, 2}), -500754589);  // 14.20
  EXPECT_EQ(*IcebergHash(Date{kDays20171116}), -653330422);
  EXPECT_EQ(*IcebergHash(Time{kMicros223108}), -662762989);
  EXPECT_EQ(*IcebergHash(Timestamp{kMicros20171116T223108}), -2047944441);
  EXPECT_EQ(*IcebergHash(Timestamp{kMicros20171116T223108 + 1}), -1207196810);
  // 2017-11-16T14:31:08-08:00 is the same instant as 22:31:08Z.
  EXPECT_EQ(*IcebergHash(TimestampTz{kMicros20171116T223108}), -2047944441);
  EXPECT_EQ(*IcebergHash(TimestampTz{kMicros20171116T223108 + 1}), -1207196810);
  EXPECT_EQ(*IcebergHash(std::string("iceberg")), 1210000089);
  EXPECT_EQ(*IcebergHash(SpecUuid()), 1488055340);
  EXPECT_EQ(*IcebergHash(Binary{std::string("\x00\x01\x02\x03", 4)}), -188683207);
}

TEST(IcebergHashTest, SpecValuesForTypesBucketDoesNotAccept) {
  EXPECT_EQ(*IcebergHash(true), 1392991556);
  EXPECT_EQ(*IcebergHash(1.0f), -142385009);
  EXPECT_EQ(*IcebergHash(0.0f), 1669671676);
  EXPECT_EQ(*IcebergHash(-0.0f), 1669671676);
  EXPECT_EQ(*IcebergHash(1.0), -142385009);
  EXPECT_EQ(*IcebergHash(0.0), 1669671676);
  EXPECT_EQ(*IcebergHash(-0.0), 1669671676);
  // All NaNs hash alike.
  EXPECT_EQ(*IcebergHash(std::nan("1")),
            *IcebergHash(std::numeric_limits<double>::quiet_NaN()));
}

TEST(IcebergHashTest, NullHasNoHash) { EXPECT_FALSE(IcebergHash(Value()).ok()); }

TEST(IcebergHashTest, DecimalHashIgnoresScale) {
  EXPECT_EQ(*IcebergHash(Decimal128{1420, 2}), *IcebergHash(Decimal128{1420, 5}));
}

// ---- bucket[N] ----

TEST(BucketTest, SpecValuesModN) {
  // (hash & Integer.MAX_VALUE) % N over the Appendix B hashes.
  EXPECT_EQ(Apply(Bucket(16), kInt, int32_t{34}), Value(int32_t{3}));
  EXPECT_EQ(Apply(Bucket(100), kInt, int32_t{34}), Value(int32_t{79}));
  EXPECT_EQ(Apply(Bucket(16), kLong, int64_t{34}), Value(int32_t{3}));
  EXPECT_EQ(Apply(Bucket(16), Type::Decimal(9, 2), Decimal128{1420, 2}), Value(int32_t{3}));
  EXPECT_EQ(Apply(Bucket(16), kDate, Date{kDays20171116}), Value(int32_t{10}));
  EXPECT_EQ(Apply(Bucket(16), kTime, Time{kMicros223108}), Value(int32_t{3}));
  EXPECT_EQ(Apply(Bucket(16), kTs, Timestamp{kMicros20171116T223108}), Value(int32_t{7}));
  EXPECT_EQ(Apply(Bucket(16), kTsTz, TimestampTz{kMicros20171116T223108}), Value(int32_t{7}));
  EXPECT_EQ(Apply(Bucket(16), kString, std::string("iceberg")), Value(int32_t{9}));
  EXPECT_EQ(Apply(Bucket(100), kString, std::string("iceberg")), Value(int32_t{89}));
  EXPECT_EQ(Apply(Bucket(16), kUuid, SpecUuid()), Value(int32_t{12}));
  EXPECT_EQ(Apply(Bucket(16), kBinary, Binary{std::string("\x00\x01\x02\x03", 4)}),
            Value(int32_t{9}));
}

TEST(BucketTest, ResultIsAlwaysInRange) {
  for (int64_t v = -1000; v <= 1000; v += 7) {
    const Value b = Apply(Bucket(7), kLong, v);
    ASSERT_TRUE(std::holds_alternative<int32_t>(b));
    EXPECT_GE(std::get<int32_t>(b), 0);
    EXPECT_LT(std::get<int32_t>(b), 7);
  }
}

TEST(BucketTest, IntAndLongAgreeSoPromotionKeepsBuckets) {
  for (int32_t v : {0, 1, -1, 34, 1 << 30, std::numeric_limits<int32_t>::min()}) {
    EXPECT_EQ(Apply(Bucket(1024), kInt, v), Apply(Bucket(1024), kLong, int64_t{v}));
  }
}

// ---- truncate[W] ----

TEST(TruncateTest, SpecExamples) {
  EXPECT_EQ(Apply(Truncate(10), kInt, int32_t{1}), Value(int32_t{0}));
  EXPECT_EQ(Apply(Truncate(10), kInt, int32_t{-1}), Value(int32_t{-10}));
  EXPECT_EQ(Apply(Truncate(10), kLong, int64_t{1}), Value(int64_t{0}));
  EXPECT_EQ(Apply(Truncate(10), kLong, int64_t{-1}), Value(int64_t{-10}));
  EXPECT_EQ(Apply(Truncate(50), Type::Decimal(9, 2), Decimal128{1065, 2}),
            Value(Decimal128{1050, 2}));  // 10.65 -> 10.50
  EXPECT_EQ(Apply(Truncate(3), kString, std::string("iceberg")), Value(std::string("ice")));
  EXPECT_EQ(Apply(Truncate(3), kBinary, Binary{"\x01\x02\x03\x04\x05"}),
            Value(Binary{"\x01\x02\x03"}));
}

TEST(TruncateTest, IntegerEdges) {
  EXPECT_EQ(Apply(Truncate(10), kInt, int32_t{0}), Value(int32_t{0}));
  EXPECT_EQ(Apply(Truncate(10), kInt, int32_t{10}), Value(int32_t{10}));
  EXPECT_EQ(Apply(Truncate(10), kInt, int32_t{-10}), Value(int32_t{-10}));
  EXPECT_EQ(Apply(Truncate(10), kInt, int32_t{-11}), Value(int32_t{-20}));
  EXPECT_EQ(Apply(Truncate(1), kLong, int64_t{-7}), Value(int64_t{-7}));
  EXPECT_EQ(
      Apply(Truncate(7), kLong, std::numeric_limits<int64_t>::max()),
      Value(std::numeric_limits<int64_t>::max() - std::numeric_limits<int64_t>::max() % 7));
}

TEST(TruncateTest, DecimalKeepsScaleAndFloorsNegatives) {
  EXPECT_EQ(Apply(Truncate(10), Type::Decimal(9, 2), Decimal128{-1, 2}),
            Value(Decimal128{-10, 2}));  // -0.01 -> -0.10
  EXPECT_EQ(Apply(Truncate(100), Type::Decimal(38, 0), Decimal128{12345, 0}),
            Value(Decimal128{12300, 0}));
}

TEST(TruncateTest, StringsCountCodePointsNotBytes) {
  // 2-byte (Ä, Ö, Ü), 3-byte (€) and 4-byte (emoji) UTF-8 sequences.
  EXPECT_EQ(Apply(Truncate(2), kString, std::string("ÄÖÜabc")), Value(std::string("ÄÖ")));
  EXPECT_EQ(Apply(Truncate(3), kString, std::string("a€b€")), Value(std::string("a€b")));
  EXPECT_EQ(Apply(Truncate(1), kString, std::string("😀😁")), Value(std::string("😀")));
  EXPECT_EQ(Apply(Truncate(16), kString, std::string("short")), Value(std::string("short")));
  EXPECT_EQ(Apply(Truncate(4), kString, std::string("")), Value(std::string("")));
}

TEST(TruncateTest, InvalidUtf8IsRejected) {
  auto r = Truncate(2).Apply(kString, std::string("a\xff\xfe"));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST(TruncateTest, BinaryCountsBytes) {
  EXPECT_EQ(Apply(Truncate(2), kBinary, Binary{"\xc3\x84\xc3\x96"}), Value(Binary{"\xc3\x84"}));
  EXPECT_EQ(Apply(Truncate(9), kBinary, Binary{"abc"}), Value(Binary{"abc"}));
}

// ---- year, month, day, hour ----

TEST(TimeTransformTest, KnownInstant) {
  const Value ts = Timestamp{kMicros20171116T223108};
  EXPECT_EQ(Apply(Transform::Year(), kTs, ts), Value(int32_t{47}));
  EXPECT_EQ(Apply(Transform::Month(), kTs, ts), Value(int32_t{47 * 12 + 10}));
  EXPECT_EQ(Apply(Transform::Day(), kTs, ts), Value(int32_t{kDays20171116}));
  EXPECT_EQ(Apply(Transform::Hour(), kTs, ts), Value(int32_t{kDays20171116 * 24 + 22}));
  const Value tz = TimestampTz{kMicros20171116T223108};
  EXPECT_EQ(Apply(Transform::Day(), kTsTz, tz), Value(int32_t{kDays20171116}));
  EXPECT_EQ(Apply(Transform::Hour(), kTsTz, tz), Value(int32_t{kDays20171116 * 24 + 22}));
  const Value d = Date{kDays20171116};
  EXPECT_EQ(Apply(Transform::Year(), kDate, d), Value(int32_t{47}));
  EXPECT_EQ(Apply(Transform::Month(), kDate, d), Value(int32_t{574}));
  EXPECT_EQ(Apply(Transform::Day(), kDate, d), Value(int32_t{kDays20171116}));
}

TEST(TimeTransformTest, EpochIsZero) {
  for (const Transform& t :
       {Transform::Year(), Transform::Month(), Transform::Day(), Transform::Hour()}) {
    EXPECT_EQ(Apply(t, kTs, Timestamp{0}), Value(int32_t{0})) << t.ToString();
  }
}

TEST(TimeTransformTest, PreEpochFloors) {
  // 1969-12-31T23:59:59.999999
  const Value ts = Timestamp{-1};
  EXPECT_EQ(Apply(Transform::Day(), kTs, ts), Value(int32_t{-1}));
  EXPECT_EQ(Apply(Transform::Hour(), kTs, ts), Value(int32_t{-1}));
  EXPECT_EQ(Apply(Transform::Month(), kTs, ts), Value(int32_t{-1}));
  EXPECT_EQ(Apply(Transform::Year(), kTs, ts), Value(int32_t{-1}));
  EXPECT_EQ(Apply(Transform::Day(), kTsTz, TimestampTz{-1}), Value(int32_t{-1}));

  // Exactly one hour / one day before the epoch, and one microsecond earlier.
  EXPECT_EQ(Apply(Transform::Hour(), kTs, Timestamp{-3'600'000'000}), Value(int32_t{-1}));
  EXPECT_EQ(Apply(Transform::Hour(), kTs, Timestamp{-3'600'000'001}), Value(int32_t{-2}));
  EXPECT_EQ(Apply(Transform::Day(), kTs, Timestamp{-86'400'000'000}), Value(int32_t{-1}));
  EXPECT_EQ(Apply(Transform::Day(), kTs, Timestamp{-86'400'000'001}), Value(int32_t{-2}));

  // Dates: 1969-12-31, 1969-01-01, 1968-12-31, 1900-03-01.
  EXPECT_EQ(Apply(Transform::Year(), kDate, Date{-1}), Value(int32_t{-1}));
  EXPECT_EQ(Apply(Transform::Month(), kDate, Date{-1}), Value(int32_t{-1}));
  EXPECT_EQ(Apply(Transform::Month(), kDate, Date{-365}), Value(int32_t{-12}));
  EXPECT_EQ(Apply(Transform::Year(), kDate, Date{-365}), Value(int32_t{-1}));
  EXPECT_EQ(Apply(Transform::Year(), kDate, Date{-366}), Value(int32_t{-2}));
  EXPECT_EQ(Apply(Transform::Month(), kDate, Date{-25508}), Value(int32_t{-838}));
}

TEST(TimeTransformTest, LeapDaysAndMonthBoundaries) {
  // 2000-02-29 is day 11016, 2000-03-01 day 11017; 2100-03-01 day 47541 (2100 not leap).
  EXPECT_EQ(Apply(Transform::Month(), kDate, Date{11016}), Value(int32_t{30 * 12 + 1}));
  EXPECT_EQ(Apply(Transform::Month(), kDate, Date{11017}), Value(int32_t{30 * 12 + 2}));
  EXPECT_EQ(Transform::Day().ToHumanString(kDate, int32_t{11016}).value(), "2000-02-29");
  EXPECT_EQ(Transform::Day().ToHumanString(kDate, int32_t{47541}).value(), "2100-03-01");
}

TEST(TimeTransformTest, HourOverflowIsAnError) {
  // Hours since 1970 of a timestamp in the year ~290,000 exceed an int.
  auto r = Transform::Hour().Apply(kTs, Timestamp{std::numeric_limits<int64_t>::max()});
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

// ---- identity, void, null ----

TEST(TransformTest, IdentityReturnsTheValue) {
  EXPECT_EQ(Apply(Transform::Identity(), kString, std::string("x")), Value(std::string("x")));
  EXPECT_EQ(Apply(Transform::Identity(), kBool, true), Value(true));
  EXPECT_EQ(Apply(Transform::Identity(), kDouble, 2.5), Value(2.5));
}

TEST(TransformTest, NullInNullOut) {
  const std::vector<std::pair<Transform, Type>> cases = {
      {Transform::Identity(), kString}, {Bucket(4), kLong},        {Truncate(3), kString},
      {Transform::Year(), kDate},       {Transform::Month(), kTs}, {Transform::Day(), kTsTz},
      {Transform::Hour(), kTs},         {Transform::Void(), kInt}};
  for (const auto& [t, type] : cases) {
    EXPECT_TRUE(IsNull(Apply(t, type, Value()))) << t.ToString();
  }
}

TEST(TransformTest, VoidAlwaysNull) {
  EXPECT_TRUE(IsNull(Apply(Transform::Void(), kLong, int64_t{5})));
  EXPECT_EQ(*Transform::Void().ResultType(kLong), kLong);
}

TEST(TransformTest, ValueMustMatchType) {
  EXPECT_EQ(Bucket(4).Apply(kLong, int32_t{5}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Truncate(10).Apply(Type::Decimal(9, 2), Decimal128{1065, 3}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(TransformTest, ApplyInfersTypeFromValue) {
  EXPECT_EQ(*Bucket(16).Apply(int32_t{34}), Value(int32_t{3}));
  EXPECT_EQ(*Truncate(50).Apply(Decimal128{1065, 2}), Value(Decimal128{1050, 2}));
  EXPECT_EQ(*Transform::Day().Apply(Timestamp{-1}), Value(int32_t{-1}));
  EXPECT_TRUE(IsNull(*Transform::Day().Apply(Value())));
  EXPECT_FALSE(Transform::Hour().Apply(Date{1}).ok());
}

// ---- types ----

TEST(TransformTest, CanApplyNamesTheProblem) {
  Status s = Bucket(16).CanApply(kBool);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("bucket[16] cannot be applied to boolean"), std::string::npos)
      << s.message();
  EXPECT_FALSE(Bucket(16).CanApply(kFloat).ok());
  EXPECT_FALSE(Bucket(16).CanApply(kDouble).ok());
  EXPECT_FALSE(Truncate(4).CanApply(kDate).ok());
  EXPECT_FALSE(Truncate(4).CanApply(kUuid).ok());
  EXPECT_FALSE(Transform::Hour().CanApply(kDate).ok());
  EXPECT_FALSE(Transform::Day().CanApply(kString).ok());
  EXPECT_FALSE(Transform::Year().CanApply(kTime).ok());
  EXPECT_NE(
      Transform::Hour().CanApply(kDate).message().find("hour accepts timestamp, timestamptz"),
      std::string::npos);

  for (const Type& t : {kBool, kInt, kLong, kFloat, kDouble, kDate, kTime, kTs, kTsTz, kString,
                        kUuid, kBinary, Type::Decimal(10, 2)}) {
    EXPECT_TRUE(Transform::Identity().CanApply(t).ok());
    EXPECT_TRUE(Transform::Void().CanApply(t).ok());
  }
  for (const Type& t :
       {kInt, kLong, kDate, kTime, kTs, kTsTz, kString, kUuid, kBinary, Type::Decimal(10, 2)}) {
    EXPECT_TRUE(Bucket(8).CanApply(t).ok()) << t.ToString();
  }
  for (const Type& t : {kInt, kLong, kString, kBinary, Type::Decimal(10, 2)}) {
    EXPECT_TRUE(Truncate(8).CanApply(t).ok()) << t.ToString();
  }
}

TEST(TransformTest, ResultTypes) {
  EXPECT_EQ(*Transform::Identity().ResultType(kUuid), kUuid);
  EXPECT_EQ(*Bucket(16).ResultType(kString), kInt);
  EXPECT_EQ(*Truncate(4).ResultType(Type::Decimal(10, 2)), Type::Decimal(10, 2));
  EXPECT_EQ(*Transform::Year().ResultType(kTs), kInt);
  EXPECT_EQ(*Transform::Month().ResultType(kDate), kInt);
  EXPECT_EQ(*Transform::Day().ResultType(kTsTz), kInt);  // spec: int (Java says date)
  EXPECT_EQ(*Transform::Hour().ResultType(kTs), kInt);
  EXPECT_FALSE(Transform::Hour().ResultType(kDate).ok());
}

// ---- names ----

TEST(TransformTest, ParseAndToStringRoundTrip) {
  for (const char* text : {"identity", "year", "month", "day", "hour", "void", "bucket[16]",
                           "truncate[4]", "bucket[1]", "truncate[2147483647]"}) {
    auto t = Transform::Parse(text);
    ASSERT_TRUE(t.ok()) << text << ": " << t.status().ToString();
    EXPECT_EQ(t->ToString(), text);
  }
  EXPECT_EQ(Transform::Parse("Bucket[16]")->ToString(), "bucket[16]");
  EXPECT_EQ(Transform::Parse("DAY")->kind(), TransformKind::kDay);
  EXPECT_EQ(Transform::Parse("bucket[16]")->param(), 16);
  EXPECT_EQ(*Transform::Parse("truncate[4]"), Truncate(4));
}

TEST(TransformTest, ParseRejectsNonsense) {
  for (const char* text :
       {"", "foo", "bucket", "bucket[]", "bucket[0]", "bucket[-1]", "bucket[+3]", "bucket[x]",
        "bucket[16", "truncate[4]x", "days", "bucket[2147483648]", "year[3]"}) {
    EXPECT_EQ(Transform::Parse(text).status().code(), StatusCode::kInvalidArgument) << text;
  }
}

// ---- human-readable partition values (Iceberg Java's toHumanString) ----

TEST(HumanStringTest, TimeTransforms) {
  EXPECT_EQ(Human(Transform::Year(), kTs, int32_t{55}), "2025");
  EXPECT_EQ(Human(Transform::Month(), kTs, int32_t{55 * 12}), "2025-01");
  EXPECT_EQ(Human(Transform::Day(), kDate, int32_t{20103}), "2025-01-15");
  EXPECT_EQ(Human(Transform::Hour(), kTsTz, int32_t{20103 * 24 + 10}), "2025-01-15-10");
  EXPECT_EQ(Human(Transform::Year(), kTs, int32_t{-1}), "1969");
  EXPECT_EQ(Human(Transform::Month(), kTs, int32_t{-1}), "1969-12");
  EXPECT_EQ(Human(Transform::Day(), kTs, int32_t{-1}), "1969-12-31");
  EXPECT_EQ(Human(Transform::Hour(), kTs, int32_t{-1}), "1969-12-31-23");
  // Java's day result is a date; that representation is accepted as well.
  EXPECT_EQ(Human(Transform::Day(), kTs, Date{20103}), "2025-01-15");
}

TEST(HumanStringTest, TimeTransformsEndToEnd) {
  const Value ts = Timestamp{kMicros20171116T223108};
  EXPECT_EQ(Human(Transform::Day(), kTs, Apply(Transform::Day(), kTs, ts)), "2017-11-16");
  EXPECT_EQ(Human(Transform::Hour(), kTs, Apply(Transform::Hour(), kTs, ts)), "2017-11-16-22");
  EXPECT_EQ(Human(Transform::Month(), kTs, Apply(Transform::Month(), kTs, ts)), "2017-11");
  EXPECT_EQ(Human(Transform::Year(), kTs, Apply(Transform::Year(), kTs, ts)), "2017");
}

TEST(HumanStringTest, BucketVoidAndNull) {
  EXPECT_EQ(Human(Bucket(16), kLong, int32_t{7}), "7");
  EXPECT_EQ(Human(Transform::Void(), kLong, Value()), "null");
  EXPECT_EQ(Human(Transform::Identity(), kString, Value()), "null");
  EXPECT_EQ(Human(Transform::Day(), kTs, Value()), "null");
}

TEST(HumanStringTest, IdentityBySourceType) {
  const Transform id = Transform::Identity();
  EXPECT_EQ(Human(id, kBool, true), "true");
  EXPECT_EQ(Human(id, kInt, int32_t{-34}), "-34");
  EXPECT_EQ(Human(id, kLong, int64_t{1} << 40), "1099511627776");
  EXPECT_EQ(Human(id, kDate, Date{kDays20171116}), "2017-11-16");
  EXPECT_EQ(Human(id, kTime, Time{kMicros223108}), "22:31:08");
  EXPECT_EQ(Human(id, kTime, Time{(22 * 3600 + 31 * 60) * 1'000'000LL}), "22:31");
  EXPECT_EQ(Human(id, kTime, Time{kMicros223108 + 500'000}), "22:31:08.500");
  EXPECT_EQ(Human(id, kTime, Time{kMicros223108 + 1}), "22:31:08.000001");
  EXPECT_EQ(Human(id, kTs, Timestamp{kMicros20171116T223108}), "2017-11-16T22:31:08");
  EXPECT_EQ(Human(id, kTs, Timestamp{kMicros20171116T223108 + 1}),
            "2017-11-16T22:31:08.000001");
  EXPECT_EQ(Human(id, kTs, Timestamp{kMicros20171116T223108 + 120'000}),
            "2017-11-16T22:31:08.12");
  EXPECT_EQ(Human(id, kTs, Timestamp{-1}), "1969-12-31T23:59:59.999999");
  EXPECT_EQ(Human(id, kTsTz, TimestampTz{kMicros20171116T223108}), "2017-11-16T22:31:08+00:00");
  EXPECT_EQ(Human(id, kUuid, SpecUuid()), "f79c3e09-677c-4bbd-a479-3f349cb785e7");
  EXPECT_EQ(Human(id, kBinary, Binary{std::string("\x00\x01\x02\x03", 4)}), "AAECAw==");
  EXPECT_EQ(Human(id, kBinary, Binary{"ab"}), "YWI=");
  EXPECT_EQ(Human(id, kBinary, Binary{"abc"}), "YWJj");
  EXPECT_EQ(Human(id, kString, std::string("a b/c")), "a b/c");
}

TEST(HumanStringTest, NumbersAsJavaPrintsThem) {
  const Transform id = Transform::Identity();
  EXPECT_EQ(Human(id, Type::Decimal(9, 2), Decimal128{1420, 2}), "14.20");
  EXPECT_EQ(Human(id, Type::Decimal(9, 2), Decimal128{-5, 2}), "-0.05");
  EXPECT_EQ(Human(id, Type::Decimal(9, 0), Decimal128{42, 0}), "42");
  // BigDecimal switches to scientific notation below an adjusted exponent of -6.
  EXPECT_EQ(Human(id, Type::Decimal(20, 10), Decimal128{123, 10}), "1.23E-8");
  EXPECT_EQ(Human(id, Type::Decimal(20, 10), Decimal128{0, 10}), "0E-10");
  EXPECT_EQ(Human(id, Type::Decimal(20, 7), Decimal128{10, 7}), "0.0000010");
  EXPECT_EQ(Human(id, kDouble, 1.0), "1.0");
  EXPECT_EQ(Human(id, kDouble, -0.0), "-0.0");
  EXPECT_EQ(Human(id, kDouble, 0.001), "0.001");
  EXPECT_EQ(Human(id, kDouble, 0.0001), "1.0E-4");
  EXPECT_EQ(Human(id, kDouble, 1e7), "1.0E7");
  EXPECT_EQ(Human(id, kDouble, 9999999.0), "9999999.0");
  EXPECT_EQ(Human(id, kDouble, 123456.789), "123456.789");
  EXPECT_EQ(Human(id, kDouble, 1.5e300), "1.5E300");
  EXPECT_EQ(Human(id, kDouble, std::numeric_limits<double>::infinity()), "Infinity");
  EXPECT_EQ(Human(id, kDouble, std::nan("")), "NaN");
  EXPECT_EQ(Human(id, kFloat, 1.1f), "1.1");
  EXPECT_EQ(Human(id, kFloat, 3.0e10f), "3.0E10");
}

TEST(HumanStringTest, TruncateUsesSourceFormatting) {
  EXPECT_EQ(Human(Truncate(3), kString, std::string("ice")), "ice");
  EXPECT_EQ(Human(Truncate(10), kInt, int32_t{-10}), "-10");
  EXPECT_EQ(Human(Truncate(3), kBinary, Binary{"\x01\x02\x03"}), "AQID");
}

TEST(PartitionPathTest, EscapesLikeJavaUrlEncoder) {
  EXPECT_EQ(EscapePartitionPathComponent("2025-01-15"), "2025-01-15");
  EXPECT_EQ(EscapePartitionPathComponent("a b"), "a+b");
  EXPECT_EQ(EscapePartitionPathComponent("a/b=c&d?"), "a%2Fb%3Dc%26d%3F");
  EXPECT_EQ(EscapePartitionPathComponent("x.y-z*_~"), "x.y-z*_%7E");
  EXPECT_EQ(EscapePartitionPathComponent("ä€"), "%C3%A4%E2%82%AC");
  EXPECT_EQ(EscapePartitionPathComponent("2017-11-16T22:31:08+00:00"),
            "2017-11-16T22%3A31%3A08%2B00%3A00");
  EXPECT_EQ(PartitionPathSegment("created_at_day", "2025-01-15"), "created_at_day=2025-01-15");
  EXPECT_EQ(PartitionPathSegment("name trunc", "ab/c"), "name+trunc=ab%2Fc");
}

}  // namespace
}  // namespace pg2iceberg::iceberg
