#include "pg/values.h"

#include <gtest/gtest.h>

#include <climits>
#include <cmath>

namespace pg2iceberg::pg {
namespace {

Value P(const Type& t, uint32_t oid, std::string_view text, ValueNote* note = nullptr) {
  auto r = ParseText(t, oid, text, note);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status().ToString();
  return r.ok() ? *r : Value();
}

constexpr int64_t kDay = 86'400'000'000;

TEST(MapTypeTest, DesignTable) {
  EXPECT_EQ(MapType(oid::kInt2, -1).type, Type{TypeId::kInt});
  EXPECT_EQ(MapType(oid::kInt4, -1).type, Type{TypeId::kInt});
  EXPECT_EQ(MapType(oid::kInt8, -1).type, Type{TypeId::kLong});
  EXPECT_EQ(MapType(oid::kFloat4, -1).type, Type{TypeId::kFloat});
  EXPECT_EQ(MapType(oid::kFloat8, -1).type, Type{TypeId::kDouble});
  EXPECT_EQ(MapType(oid::kNumeric, ((10 << 16) | 2) + 4).type, Type::Decimal(10, 2));
  EXPECT_EQ(MapType(oid::kNumeric, ((38 << 16) | 0) + 4).type, Type::Decimal(38, 0));
  auto unconstrained = MapType(oid::kNumeric, -1);
  EXPECT_EQ(unconstrained.type, Type::Decimal(38, 18));
  EXPECT_FALSE(unconstrained.warning.empty());
  auto wide = MapType(oid::kNumeric, ((50 << 16) | 2) + 4);
  EXPECT_EQ(wide.type, Type{TypeId::kString});
  EXPECT_FALSE(wide.warning.empty());
  // numeric(5,-2): values are multiples of 100 up to 9999900.
  EXPECT_EQ(MapType(oid::kNumeric, ((5 << 16) | (0x7FF & -2)) + 4).type, Type::Decimal(7, 0));
  EXPECT_EQ(MapType(oid::kBool, -1).type, Type{TypeId::kBoolean});
  for (uint32_t o : {oid::kText, oid::kVarchar, oid::kBpchar, oid::kName, oid::kJson,
                     oid::kJsonb, oid::kXml, oid::kMoney, oid::kInterval, 1009u /*text[]*/,
                     869u /*inet*/, 600u /*point*/, 99999u /*an enum*/}) {
    EXPECT_EQ(MapType(o, -1).type, Type{TypeId::kString}) << o;
  }
  EXPECT_EQ(MapType(oid::kBytea, -1).type, Type{TypeId::kBinary});
  EXPECT_EQ(MapType(oid::kDate, -1).type, Type{TypeId::kDate});
  EXPECT_EQ(MapType(oid::kTime, -1).type, Type{TypeId::kTime});
  EXPECT_EQ(MapType(oid::kTimetz, -1).type, Type{TypeId::kTime});
  EXPECT_EQ(MapType(oid::kTimestamp, -1).type, Type{TypeId::kTimestamp});
  EXPECT_EQ(MapType(oid::kTimestamptz, -1).type, Type{TypeId::kTimestampTz});
  EXPECT_EQ(MapType(oid::kUuid, -1).type, Type{TypeId::kUuid});
}

TEST(ParseTextTest, IntegersFloatsBooleans) {
  EXPECT_EQ(P(Type{TypeId::kInt}, oid::kInt4, "-2147483648"), Value(int32_t{-2147483647 - 1}));
  EXPECT_EQ(P(Type{TypeId::kLong}, oid::kInt8, "9223372036854775807"),
            Value(int64_t{9223372036854775807}));
  EXPECT_FALSE(ParseText(Type{TypeId::kInt}, oid::kInt4, "2147483648").ok());
  EXPECT_FALSE(ParseText(Type{TypeId::kInt}, oid::kInt4, "12a").ok());
  EXPECT_EQ(P(Type{TypeId::kBoolean}, oid::kBool, "t"), Value(true));
  EXPECT_EQ(P(Type{TypeId::kBoolean}, oid::kBool, "f"), Value(false));
  EXPECT_EQ(P(Type{TypeId::kDouble}, oid::kFloat8, "0.1"), Value(0.1));
  EXPECT_EQ(P(Type{TypeId::kDouble}, oid::kFloat8, "1.7976931348623157e+308"),
            Value(1.7976931348623157e+308));
  EXPECT_EQ(P(Type{TypeId::kFloat}, oid::kFloat4, "3.4028235e+38"), Value(3.4028235e+38f));
  EXPECT_TRUE(std::isnan(std::get<double>(P(Type{TypeId::kDouble}, oid::kFloat8, "NaN"))));
  EXPECT_EQ(std::get<double>(P(Type{TypeId::kDouble}, oid::kFloat8, "-Infinity")),
            -HUGE_VAL);
  EXPECT_EQ(std::get<float>(P(Type{TypeId::kFloat}, oid::kFloat4, "Infinity")), HUGE_VALF);
}

TEST(ParseTextTest, NumericExactTo38Digits) {
  const Type d38 = Type::Decimal(38, 0);
  const std::string nines(38, '9');
  auto v = std::get<Decimal128>(P(d38, oid::kNumeric, nines));
  EXPECT_EQ(v.ToString(), nines);
  auto neg = std::get<Decimal128>(P(d38, oid::kNumeric, "-" + nines));
  EXPECT_EQ(neg.ToString(), "-" + nines);
  const Type d10_2 = Type::Decimal(10, 2);
  EXPECT_EQ(std::get<Decimal128>(P(d10_2, oid::kNumeric, "12.30")).unscaled, 1230);
  EXPECT_EQ(std::get<Decimal128>(P(d10_2, oid::kNumeric, "-0.05")).unscaled, -5);
  EXPECT_EQ(std::get<Decimal128>(P(d10_2, oid::kNumeric, "12")).unscaled, 1200);
  const Type d38_18 = Type::Decimal(38, 18);
  auto frac = std::get<Decimal128>(P(d38_18, oid::kNumeric, "12345678901234567890.123456789012345678"));
  EXPECT_EQ(frac.ToString(), "12345678901234567890.123456789012345678");
}

TEST(ParseTextTest, NumericPolicies) {
  ValueNote note;
  const Type d38_18 = Type::Decimal(38, 18);
  for (const char* s : {"NaN", "Infinity", "-Infinity"}) {
    EXPECT_TRUE(IsNull(P(d38_18, oid::kNumeric, s, &note))) << s;
    EXPECT_EQ(note, ValueNote::kNumericSpecialToNull) << s;
  }
  auto r = std::get<Decimal128>(P(d38_18, oid::kNumeric, "0.1234567890123456789", &note));
  EXPECT_EQ(note, ValueNote::kNumericRounded);
  EXPECT_EQ(r.ToString(), "0.123456789012345679");
  auto rn = std::get<Decimal128>(P(d38_18, oid::kNumeric, "-0.0000000000000000005", &note));
  EXPECT_EQ(rn.ToString(), "-0.000000000000000001");  // half away from zero
  auto exact = P(d38_18, oid::kNumeric, "1.500000000000000000000", &note);
  EXPECT_EQ(note, ValueNote::kNone);  // trailing zeros are not a rounding
  EXPECT_TRUE(IsNull(P(d38_18, oid::kNumeric, "123456789012345678901", &note)));
  EXPECT_EQ(note, ValueNote::kNumericOverflowToNull);
  EXPECT_TRUE(IsNull(P(Type::Decimal(3, 2), oid::kNumeric, "9.999", &note)));  // rounds to 10.00
  EXPECT_EQ(note, ValueNote::kNumericOverflowToNull);
  EXPECT_FALSE(ParseText(d38_18, oid::kNumeric, "1e5").ok());
  EXPECT_FALSE(ParseText(d38_18, oid::kNumeric, "").ok());
  EXPECT_FALSE(ParseText(d38_18, oid::kNumeric, "-").ok());
}

TEST(ParseTextTest, DatesIncludingBcAndInfinity) {
  ValueNote note;
  EXPECT_EQ(P(Type{TypeId::kDate}, oid::kDate, "1970-01-01"), Value(Date{0}));
  EXPECT_EQ(P(Type{TypeId::kDate}, oid::kDate, "2025-01-15"), Value(Date{20103}));
  EXPECT_EQ(P(Type{TypeId::kDate}, oid::kDate, "1969-12-31"), Value(Date{-1}));
  // 0001-01-01 BC is astronomical year 0, the day before 0001-01-01 AD minus 365 (leap year).
  auto ad1 = std::get<Date>(P(Type{TypeId::kDate}, oid::kDate, "0001-01-01")).days;
  auto bc1 = std::get<Date>(P(Type{TypeId::kDate}, oid::kDate, "0001-01-01 BC")).days;
  EXPECT_EQ(ad1 - bc1, 366);
  EXPECT_EQ(ad1, -719162);
  auto inf = std::get<Date>(P(Type{TypeId::kDate}, oid::kDate, "infinity", &note)).days;
  EXPECT_EQ(note, ValueNote::kInfinityClamped);
  auto ninf = std::get<Date>(P(Type{TypeId::kDate}, oid::kDate, "-infinity", &note)).days;
  EXPECT_GT(inf, 365 * 5'000'000);
  EXPECT_LT(ninf, bc1);
  EXPECT_EQ(P(Type{TypeId::kDate}, oid::kDate, "5874897-12-31"), Value(Date{inf}));
  EXPECT_FALSE(ParseText(Type{TypeId::kDate}, oid::kDate, "2025-13-01").ok());
  EXPECT_FALSE(ParseText(Type{TypeId::kDate}, oid::kDate, "15/01/2025").ok());
}

TEST(ParseTextTest, TimesAndTimetzInUtc) {
  ValueNote note;
  EXPECT_EQ(P(Type{TypeId::kTime}, oid::kTime, "00:00:00"), Value(Time{0}));
  EXPECT_EQ(P(Type{TypeId::kTime}, oid::kTime, "22:31:08.5"),
            Value(Time{(22 * 3600 + 31 * 60 + 8) * 1'000'000LL + 500'000}));
  EXPECT_EQ(P(Type{TypeId::kTime}, oid::kTime, "23:59:59.999999"), Value(Time{kDay - 1}));
  EXPECT_EQ(P(Type{TypeId::kTime}, oid::kTime, "24:00:00", &note), Value(Time{kDay - 1}));
  EXPECT_EQ(note, ValueNote::kTime2400Clamped);
  EXPECT_EQ(P(Type{TypeId::kTime}, oid::kTimetz, "10:00:00+02"),
            Value(Time{8 * 3600 * 1'000'000LL}));
  EXPECT_EQ(P(Type{TypeId::kTime}, oid::kTimetz, "01:00:00+05:30"),
            Value(Time{(19 * 3600 + 30 * 60) * 1'000'000LL}));  // wraps to the previous day
  EXPECT_EQ(P(Type{TypeId::kTime}, oid::kTimetz, "23:00:00-03"),
            Value(Time{2 * 3600 * 1'000'000LL}));
  EXPECT_FALSE(ParseText(Type{TypeId::kTime}, oid::kTimetz, "10:00:00").ok());
  EXPECT_FALSE(ParseText(Type{TypeId::kTime}, oid::kTime, "10:00:00.1234567").ok());
}

TEST(ParseTextTest, Timestamps) {
  ValueNote note;
  EXPECT_EQ(P(Type{TypeId::kTimestamp}, oid::kTimestamp, "1970-01-01 00:00:00"),
            Value(Timestamp{0}));
  EXPECT_EQ(P(Type{TypeId::kTimestamp}, oid::kTimestamp, "2017-11-16 22:31:08"),
            Value(Timestamp{1510871468000000}));
  EXPECT_EQ(P(Type{TypeId::kTimestamp}, oid::kTimestamp, "1969-12-31 23:59:59.999999"),
            Value(Timestamp{-1}));
  EXPECT_EQ(P(Type{TypeId::kTimestampTz}, oid::kTimestamptz, "2017-11-16 14:31:08-08"),
            Value(TimestampTz{1510871468000000}));
  EXPECT_EQ(P(Type{TypeId::kTimestampTz}, oid::kTimestamptz, "2025-01-15 10:00:00+00"),
            Value(TimestampTz{1736935200000000}));
  EXPECT_EQ(P(Type{TypeId::kTimestampTz}, oid::kTimestamptz, "2025-01-15 15:30:00.25+05:30"),
            Value(TimestampTz{1736935200250000}));
  auto bc = std::get<Timestamp>(
      P(Type{TypeId::kTimestamp}, oid::kTimestamp, "0044-03-15 12:00:00 BC"));
  EXPECT_LT(bc.micros, -62135596800000000);  // before 0001-01-01
  auto bctz = std::get<TimestampTz>(
      P(Type{TypeId::kTimestampTz}, oid::kTimestamptz, "0044-03-15 12:00:00+00 BC"));
  EXPECT_EQ(bctz.micros, bc.micros);
  auto inf = std::get<Timestamp>(
      P(Type{TypeId::kTimestamp}, oid::kTimestamp, "infinity", &note));
  EXPECT_EQ(note, ValueNote::kInfinityClamped);
  auto ninf = std::get<TimestampTz>(
      P(Type{TypeId::kTimestampTz}, oid::kTimestamptz, "-infinity", &note));
  EXPECT_EQ(inf.micros, INT64_MAX);
  EXPECT_EQ(std::get<Timestamp>(P(Type{TypeId::kTimestamp}, oid::kTimestamp,
                                  "294276-12-31 23:59:59.999999", &note)).micros,
            INT64_MAX);
  EXPECT_EQ(note, ValueNote::kInfinityClamped);
  EXPECT_LT(ninf.micros, bc.micros);
  EXPECT_FALSE(ParseText(Type{TypeId::kTimestampTz}, oid::kTimestamptz,
                         "2025-01-15 10:00:00").ok());
  EXPECT_FALSE(ParseText(Type{TypeId::kTimestamp}, oid::kTimestamp, "2025-01-15T10:00:00").ok());
}

TEST(ParseTextTest, ByteaBothFormatsUuidStrings) {
  EXPECT_EQ(P(Type{TypeId::kBinary}, oid::kBytea, "\\xdeadBEEF"),
            Value(Binary{std::string("\xDE\xAD\xBE\xEF")}));
  EXPECT_EQ(P(Type{TypeId::kBinary}, oid::kBytea, "\\x"), Value(Binary{""}));
  EXPECT_EQ(P(Type{TypeId::kBinary}, oid::kBytea, "ab\\\\c\\000\\377"),
            Value(Binary{std::string("ab\\c\0\xFF", 6)}));
  EXPECT_FALSE(ParseText(Type{TypeId::kBinary}, oid::kBytea, "\\xabc").ok());
  EXPECT_FALSE(ParseText(Type{TypeId::kBinary}, oid::kBytea, "\\q").ok());
  auto u = std::get<Uuid>(P(Type{TypeId::kUuid}, oid::kUuid,
                            "f79c3e09-677c-4bbd-a479-3f349cb785e7"));
  EXPECT_EQ(u.bytes[0], 0xF7);
  EXPECT_EQ(u.bytes[15], 0xE7);
  EXPECT_FALSE(ParseText(Type{TypeId::kUuid}, oid::kUuid, "f79c3e09").ok());
  for (const char* s : {"{a,\"b c\"}", "happy", "1 year 2 mons", "$1,234.50", "192.168.0.1/24",
                        "<a>x</a>", "(1,2)", "{\"k\": [1, 2]}", ""}) {
    EXPECT_EQ(P(Type{TypeId::kString}, 1009, s), Value(std::string(s)));
  }
}

TEST(CivilTest, KnownDays) {
  EXPECT_EQ(DaysFromCivil(1970, 1, 1), 0);
  EXPECT_EQ(DaysFromCivil(2000, 3, 1), 11017);
  EXPECT_EQ(DaysFromCivil(1600, 2, 29) + 1, DaysFromCivil(1600, 3, 1));
  EXPECT_EQ(DaysFromCivil(-4713, 11, 24), -2440588);  // Julian day 0
}

}  // namespace
}  // namespace pg2iceberg::pg
