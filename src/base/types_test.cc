#include "base/types.h"

#include <gtest/gtest.h>

#include <sstream>

namespace pg2iceberg {
namespace {

TEST(LsnTest, ParsesAndFormatsPostgresForm) {
  auto lsn = Lsn::Parse("16/B374D848");
  ASSERT_TRUE(lsn.ok());
  EXPECT_EQ(lsn->value(), (uint64_t{0x16} << 32) | 0xB374D848u);
  EXPECT_EQ(lsn->ToString(), "16/B374D848");
  EXPECT_EQ(Lsn::Parse("0/0")->value(), 0u);
  EXPECT_FALSE(Lsn::Parse("0/0")->valid());
  EXPECT_EQ(Lsn::Parse("ffffffff/ffffffff")->value(), ~uint64_t{0});
  EXPECT_EQ(Lsn(~uint64_t{0}).ToString(), "FFFFFFFF/FFFFFFFF");
  std::ostringstream os;
  os << Lsn(0x10);
  EXPECT_EQ(os.str(), "0/10");
}

TEST(LsnTest, RejectsMalformed) {
  for (const char* bad : {"", "/", "12", "1/", "/1", "x/1", "1/123456789", "1/2/3", " 1/2"}) {
    auto r = Lsn::Parse(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(LsnTest, OrderingAndDistance) {
  Lsn a(100), b(250);
  EXPECT_LT(a, b);
  EXPECT_EQ(Lsn::BytesBetween(a, b), 150u);
  EXPECT_EQ(Lsn::BytesBetween(b, a), 0u);
}

TEST(StrongTypesTest, DistinctTypes) {
  static_assert(!std::is_convertible_v<Lsn, Xid>);
  static_assert(!std::is_convertible_v<uint64_t, Lsn>);
  static_assert(!std::is_convertible_v<RelationId, uint32_t>);
  EXPECT_FALSE(SnapshotId().valid());
  EXPECT_TRUE(SnapshotId(42).valid());
  EXPECT_LT(Xid(1), Xid(2));
}

}  // namespace
}  // namespace pg2iceberg
