#include "types/value.h"

#include <gtest/gtest.h>

namespace pg2iceberg {
namespace {

TEST(TypeTest, NamesRoundTrip) {
  for (const char* n : {"boolean", "int", "long", "float", "double", "decimal(10,2)",
                        "decimal(38,18)", "date", "time", "timestamp", "timestamptz", "string",
                        "uuid", "binary"}) {
    auto t = Type::Parse(n);
    ASSERT_TRUE(t.ok()) << n;
    EXPECT_EQ(t->ToString(), n);
  }
  EXPECT_EQ(*Type::Parse("decimal(9, 3)"), Type::Decimal(9, 3));
  for (const char* bad : {"decimal(39,2)", "decimal(5,6)", "decimal(0,0)", "varchar", "list"}) {
    EXPECT_FALSE(Type::Parse(bad).ok()) << bad;
  }
}

TEST(DecimalTest, Rendering) {
  EXPECT_EQ((Decimal128{1230, 2}).ToString(), "12.30");
  EXPECT_EQ((Decimal128{-1230, 2}).ToString(), "-12.30");
  EXPECT_EQ((Decimal128{5, 3}).ToString(), "0.005");
  EXPECT_EQ((Decimal128{-5, 3}).ToString(), "-0.005");
  EXPECT_EQ((Decimal128{42, 0}).ToString(), "42");
  __int128 big = 1;
  for (int i = 0; i < 38; ++i) big *= 10;
  big -= 1;  // 38 nines
  EXPECT_EQ((Decimal128{big, 0}).ToString(), std::string(38, '9'));
  EXPECT_EQ((Decimal128{-big, 18}).ToString(),
            "-" + std::string(20, '9') + "." + std::string(18, '9'));
}

TEST(ValueTest, NullAndDebug) {
  EXPECT_TRUE(IsNull(Value{}));
  EXPECT_FALSE(IsNull(Value{int32_t{0}}));
  EXPECT_EQ(DebugString(Value{Binary{"\xDE\xAD"}}), "0xDEAD");
  EXPECT_EQ(DebugString(Value{int64_t{7}}), "7L");
}

TEST(ValueTest, WidenValueFollowsTypePromotion) {
  EXPECT_EQ(WidenValue(Value(int32_t{7}), Type{TypeId::kLong}), Value(int64_t{7}));
  EXPECT_EQ(WidenValue(Value(1.5f), Type{TypeId::kDouble}), Value(1.5));
  EXPECT_EQ(WidenValue(Value(Decimal128{123, 1}), Type::Decimal(10, 3)),
            Value(Decimal128{12300, 3}));
  EXPECT_EQ(WidenValue(Value(std::string("x")), Type{TypeId::kLong}), Value(std::string("x")));
  EXPECT_TRUE(IsNull(WidenValue(Value(), Type{TypeId::kLong})));
}

}  // namespace
}  // namespace pg2iceberg
