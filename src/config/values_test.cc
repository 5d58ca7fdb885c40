#include <gtest/gtest.h>

#include "config/config.h"

namespace pg2iceberg::config {
namespace {

using namespace std::chrono_literals;

TEST(DurationTest, GoStyleValues) {
  EXPECT_EQ(*ParseDuration("500ms"), 500ms);
  EXPECT_EQ(*ParseDuration("10s"), 10s);
  EXPECT_EQ(*ParseDuration("5m"), 5min);
  EXPECT_EQ(*ParseDuration("168h"), 168h);
  EXPECT_EQ(*ParseDuration("7d"), 168h);
  EXPECT_EQ(*ParseDuration("1h30m"), 90min);
  EXPECT_EQ(*ParseDuration("1.5h"), 90min);
  EXPECT_EQ(*ParseDuration("2h45m30.5s"), 2h + 45min + 30500ms);
  EXPECT_EQ(*ParseDuration("0"), 0s);
  EXPECT_EQ(*ParseDuration("0s"), 0s);
  EXPECT_EQ(*ParseDuration("100us"), 100us);
  EXPECT_EQ(*ParseDuration("100\xC2\xB5s"), 100us);
  EXPECT_EQ(*ParseDuration("42ns"), 42ns);
  EXPECT_EQ(*ParseDuration(" 10s "), 10s);
}

TEST(DurationTest, RejectsMalformed) {
  for (const char* bad : {"", "10", "s", "10x", "-5s", "1..5s", "ten seconds", "10 s", "5sec",
                          "1h30", "99999999999h"}) {
    auto r = ParseDuration(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find("Go-style"), std::string::npos) << bad;
    }
  }
}

TEST(DurationTest, FormatsRoundTrip) {
  for (auto d : {Duration(10s), Duration(90min), Duration(168h), Duration(500ms),
                 Duration(1h + 1s), Duration(1500us), Duration(0s)}) {
    auto text = FormatDuration(d);
    EXPECT_EQ(*ParseDuration(text), d) << text;
  }
  EXPECT_EQ(FormatDuration(90min), "1h30m");
}

TEST(BytesTest, UnitsAndPlainNumbers) {
  EXPECT_EQ(*ParseBytes("1048576"), 1048576);
  EXPECT_EQ(*ParseBytes("64MiB"), 64 << 20);
  EXPECT_EQ(*ParseBytes("64 MiB"), 64 << 20);
  EXPECT_EQ(*ParseBytes("64MB"), 64'000'000);
  EXPECT_EQ(*ParseBytes("1gib"), int64_t{1} << 30);
  EXPECT_EQ(*ParseBytes("512KB"), 512'000);
  EXPECT_EQ(*ParseBytes("0"), 0);
  for (const char* bad : {"", "MiB", "-1", "1.5MiB", "12 parsecs", "99999999999999999999"}) {
    EXPECT_FALSE(ParseBytes(bad).ok()) << bad;
  }
}

TEST(TableNameTest, ParsesQualifiedAndQuoted) {
  auto t = TableName::Parse("public.orders");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->schema, "public");
  EXPECT_EQ(t->table, "orders");
  EXPECT_EQ(TableName::Parse("orders")->schema, "public");
  auto q = TableName::Parse("\"My Schema\".\"a.b\"\"c\"");
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->schema, "My Schema");
  EXPECT_EQ(q->table, "a.b\"c");
  EXPECT_EQ(q->Quoted(), "\"My Schema\".\"a.b\"\"c\"");
  EXPECT_EQ(q->ToString(), "\"My Schema\".\"a.b\"\"c\"");
  EXPECT_EQ(TableName::Parse("Sales.Orders")->table, "Orders");  // no case folding
  auto u = TableName::Parse("public.\xC3\xBC" "ber");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->ToString(), "public.\xC3\xBC" "ber");
}

TEST(TableNameTest, RejectsMalformed) {
  for (const char* bad : {"", ".", "a.", ".b", "a.b.c", "\"open", "a b.c", "\"\".t"}) {
    auto r = TableName::Parse(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
}

TEST(PartitionFieldTest, AllTransforms) {
  struct Case {
    const char* text;
    PartitionTransform t;
    const char* col;
    int param;
  } cases[] = {
      {"region", PartitionTransform::kIdentity, "region", 0},
      {"year(ts)", PartitionTransform::kYear, "ts", 0},
      {"month(ts)", PartitionTransform::kMonth, "ts", 0},
      {"day(created_at)", PartitionTransform::kDay, "created_at", 0},
      {"hour(ts)", PartitionTransform::kHour, "ts", 0},
      {"bucket[16](id)", PartitionTransform::kBucket, "id", 16},
      {"truncate[4](name)", PartitionTransform::kTruncate, "name", 4},
      {" DAY( ts ) ", PartitionTransform::kDay, "ts", 0},
  };
  for (const auto& c : cases) {
    auto f = PartitionField::Parse(c.text);
    ASSERT_TRUE(f.ok()) << c.text << ": " << f.status().ToString();
    EXPECT_EQ(f->transform, c.t) << c.text;
    EXPECT_EQ(f->column, c.col) << c.text;
    EXPECT_EQ(f->param, c.param) << c.text;
    EXPECT_EQ(*PartitionField::Parse(f->ToString()), *f);
  }
}

TEST(PartitionFieldTest, RejectsMalformed) {
  for (const char* bad : {"", "bucket(id)", "bucket[0](id)", "bucket[x](id)", "day[3](ts)",
                          "week(ts)", "day(ts", "day()", "truncate[-1](s)", "a]"}) {
    auto r = PartitionField::Parse(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
}

}  // namespace
}  // namespace pg2iceberg::config
