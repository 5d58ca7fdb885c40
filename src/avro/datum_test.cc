#include "avro/datum.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace pg2iceberg::avro {
namespace {

using nlohmann::json;

TEST(DatumTest, BuildAndRead) {
  Datum rec = Datum::Record({
      {"status", Datum::Int(1)},
      {"snapshot_id", Datum::Union(1, Datum::Long(42))},
      {"path", Datum::String("s3://b/t/0.parquet")},
      {"bounds", Datum::Map({{"1", Datum::Bytes(std::string("\0\1", 2))}})},
      {"offsets", Datum::Array({Datum::Long(4), Datum::Long(100)})},
  });
  EXPECT_EQ(rec.type(), Type::kRecord);
  EXPECT_EQ(rec.fields().size(), 5u);
  EXPECT_EQ(rec.FindField("status")->int_value(), 1);
  EXPECT_EQ(rec.FindField("status")->long_value(), 1);  // int widens
  EXPECT_EQ(rec.FindField("snapshot_id")->union_branch(), 1);
  EXPECT_EQ(rec.FindField("snapshot_id")->Unwrapped().long_value(), 42);
  EXPECT_EQ(rec.FindField("path")->string_value(), "s3://b/t/0.parquet");
  EXPECT_EQ(rec.FindField("bounds")->map_entries()[0].second.bytes_value().size(), 2u);
  EXPECT_EQ(rec.FindField("offsets")->items()[1].long_value(), 100);
  EXPECT_EQ(rec.FindField("missing"), nullptr);
  EXPECT_TRUE(Datum().is_null());
  EXPECT_EQ(Datum::Float(1.5f).double_value(), 1.5);
  EXPECT_EQ(Datum::Enum("H", 1).enum_index(), 1);
  EXPECT_EQ(Datum::Enum("H").enum_index(), -1);

  rec.mutable_fields()->emplace_back("extra", Datum::Boolean(true));
  EXPECT_TRUE(rec.FindField("extra")->bool_value());
}

TEST(DatumTest, Equality) {
  EXPECT_EQ(Datum::Int(1), Datum::Int(1));
  EXPECT_NE(Datum::Int(1), Datum::Long(1));
  EXPECT_NE(Datum::String("a"), Datum::Bytes("a"));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(Datum::Double(nan), Datum::Double(nan));
  EXPECT_NE(Datum::Double(0.0), Datum::Double(-0.0));
  EXPECT_EQ(Datum::Enum("A"), Datum::Enum("A", 0));
  EXPECT_NE(Datum::Enum("A", 1), Datum::Enum("A", 0));
  EXPECT_NE(Datum::Union(0, Datum()), Datum::Union(1, Datum()));
  EXPECT_NE(Datum::Record({{"a", Datum::Int(1)}}), Datum::Record({{"b", Datum::Int(1)}}));
  EXPECT_NE(Datum::Record({}), Datum::Map({}));
}

TEST(DatumTest, DebugString) {
  Datum d = Datum::Record({{"a", Datum::Bytes("\x01\xff")},
                           {"b", Datum::Union(1, Datum::String("x"))},
                           {"c", Datum::Array({Datum::Null(), Datum::Boolean(false)})}});
  EXPECT_EQ(d.DebugString(), R"({"a":"\x01\xff","b":{"@1":"x"},"c":[null,false]})");
}

TEST(DatumTest, FromJsonFollowsTheDefaultValueEncoding) {
  auto from = [](const Schema& s, const json& j) {
    auto d = DatumFromJson(s, j);
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return d.ok() ? *d : Datum();
  };
  EXPECT_EQ(from(Schema::Optional(Schema::Long()), nullptr), Datum::Union(0, Datum()));
  EXPECT_EQ(from(Schema::Int(), 7), Datum::Int(7));
  EXPECT_EQ(from(Schema::Long(), int64_t{1} << 40), Datum::Long(int64_t{1} << 40));
  EXPECT_EQ(from(Schema::Double(), 1), Datum::Double(1));
  EXPECT_EQ(from(Schema::Float(), 0.5), Datum::Float(0.5f));
  EXPECT_EQ(from(Schema::Bytes(), "\u00ff\u0041"), Datum::Bytes("\xff" "A"));
  EXPECT_EQ(from(Schema::Fixed("F", 2), "ab"), Datum::Fixed("ab"));
  EXPECT_EQ(from(Schema::Enum("E", {"A", "B"}), "B"), Datum::Enum("B", 1));
  EXPECT_EQ(from(Schema::Array(Schema::Int()), json::array({1, 2})),
            Datum::Array({Datum::Int(1), Datum::Int(2)}));
  EXPECT_EQ(from(Schema::Map(Schema::Boolean()), json{{"k", true}}),
            Datum::Map({{"k", Datum::Boolean(true)}}));
  Schema rec = Schema::Record(
      "R", {Field{.name = "a", .type = Schema::Int()},
            Field{.name = "b", .type = Schema::String(), .default_value = "dflt"}});
  EXPECT_EQ(from(rec, json{{"a", 1}}),
            Datum::Record({{"a", Datum::Int(1)}, {"b", Datum::String("dflt")}}));
  EXPECT_TRUE(std::isnan(from(Schema::Double(), "NaN").double_value()));

  EXPECT_FALSE(DatumFromJson(Schema::Int(), int64_t{1} << 40).ok());
  EXPECT_FALSE(DatumFromJson(Schema::Int(), 1.5).ok());
  EXPECT_FALSE(DatumFromJson(Schema::Long(), uint64_t{1} << 63).ok());
  EXPECT_FALSE(DatumFromJson(Schema::Bytes(), "\u0100").ok());
  EXPECT_FALSE(DatumFromJson(Schema::Fixed("F", 2), "a").ok());
  EXPECT_FALSE(DatumFromJson(Schema::Enum("E", {"A"}), "B").ok());
  EXPECT_FALSE(DatumFromJson(Schema::Optional(Schema::Long()), 1).ok());  // first branch only
  EXPECT_FALSE(DatumFromJson(rec, json{{"b", "x"}}).ok());
}

TEST(DatumTest, ResolveProjectsRecordsByName) {
  // Written as v1 with an extra field, read as a reader that lacks it and adds one.
  Datum written = Datum::Record({{"manifest_path", Datum::String("m.avro")},
                                 {"unused", Datum::Int(3)},
                                 {"added_files_count", Datum::Union(1, Datum::Int(5))},
                                 {"partition_spec_id", Datum::Int(0)}});
  Schema reader = Schema::Record(
      "manifest_file",
      {Field{.name = "partition_spec_id", .type = Schema::Int()},
       Field{.name = "manifest_path", .type = Schema::String()},
       Field{.name = "added_files_count", .type = Schema::Long()},
       Field{.name = "content", .type = Schema::Int(), .default_value = 0},
       Field{.name = "key_metadata", .type = Schema::Optional(Schema::Bytes()),
             .default_value = nullptr}});
  auto r = Resolve(reader, written);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, Datum::Record({{"partition_spec_id", Datum::Int(0)},
                               {"manifest_path", Datum::String("m.avro")},
                               {"added_files_count", Datum::Long(5)},
                               {"content", Datum::Int(0)},
                               {"key_metadata", Datum::Union(0, Datum())}}));

  Schema strict = Schema::Record("R", {Field{.name = "required", .type = Schema::Int()}});
  auto missing = Resolve(strict, written);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
}

TEST(DatumTest, ResolvePromotesAndMatchesUnionsAndEnums) {
  auto ok = [](const Schema& s, const Datum& d) {
    auto r = Resolve(s, d);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : Datum();
  };
  EXPECT_EQ(ok(Schema::Long(), Datum::Int(3)), Datum::Long(3));
  EXPECT_EQ(ok(Schema::Double(), Datum::Long(3)), Datum::Double(3));
  EXPECT_EQ(ok(Schema::Double(), Datum::Float(0.5f)), Datum::Double(0.5));
  EXPECT_EQ(ok(Schema::Float(), Datum::Int(2)), Datum::Float(2));
  EXPECT_EQ(ok(Schema::String(), Datum::Bytes("x")), Datum::String("x"));
  EXPECT_EQ(ok(Schema::Bytes(), Datum::String("x")), Datum::Bytes("x"));
  // Writer ["long","null"], reader ["null","long"].
  EXPECT_EQ(ok(Schema::Optional(Schema::Long()), Datum::Union(0, Datum::Long(1))),
            Datum::Union(1, Datum::Long(1)));
  EXPECT_EQ(ok(Schema::Optional(Schema::Long()), Datum::Int(1)),
            Datum::Union(1, Datum::Long(1)));
  EXPECT_EQ(ok(Schema::Union({Schema::Long(), Schema::Double()}), Datum::Long(1)),
            Datum::Union(0, Datum::Long(1)));
  EXPECT_EQ(ok(Schema::Enum("E", {"X", "Y"}), Datum::Enum("Y", 0)), Datum::Enum("Y", 1));
  EXPECT_EQ(ok(Schema::Enum("E", {"X"}).WithAttribute("default", "X"), Datum::Enum("Q", 3)),
            Datum::Enum("X", 0));
  EXPECT_EQ(ok(Schema::Array(Schema::Long()), Datum::Array({Datum::Int(1)})),
            Datum::Array({Datum::Long(1)}));
  EXPECT_EQ(ok(Schema::Map(Schema::Long()), Datum::Map({{"k", Datum::Int(1)}})),
            Datum::Map({{"k", Datum::Long(1)}}));

  EXPECT_FALSE(Resolve(Schema::Int(), Datum::Long(1)).ok());
  EXPECT_FALSE(Resolve(Schema::Long(), Datum::Union(0, Datum())).ok());
  EXPECT_FALSE(Resolve(Schema::Fixed("F", 4), Datum::Fixed("abc")).ok());
  EXPECT_FALSE(Resolve(Schema::Enum("E", {"X"}), Datum::Enum("Q")).ok());
  EXPECT_FALSE(Resolve(Schema::Union({Schema::Null(), Schema::String()}), Datum::Int(1)).ok());
}

}  // namespace
}  // namespace pg2iceberg::avro
