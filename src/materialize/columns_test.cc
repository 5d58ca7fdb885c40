#include "materialize/columns.h"

#include <gtest/gtest.h>

namespace pg2iceberg::materialize {
namespace {

using iceberg::Field;

stage::StagedColumn Col(const char* name, int attnum, TypeId type = TypeId::kInt) {
  stage::StagedColumn c;
  c.name = name;
  c.type = Type{type};
  c.attnum = attnum;
  return c;
}

Field F(int32_t id, const char* name, TypeId type = TypeId::kInt) {
  return Field{id, name, id == 1, iceberg::DataType::Primitive(Type{type}), "", {}, {}};
}

// A table with fields id(1) name(2) value(3) mirroring attnums 1, 2, 3 (or no property).
iceberg::TableMetadata Table(bool with_attnums = true) {
  iceberg::TableMetadata m;
  m.format_version = 2;
  m.last_column_id = 3;
  m.schemas.push_back(iceberg::Schema(0, {F(1, "id"), F(2, "name", TypeId::kString), F(3, "value")}, {1}));
  m.current_schema_id = 0;
  m.partition_specs.push_back(iceberg::PartitionSpec{0, {}});
  if (with_attnums) m.properties[kColumnAttnumsProperty] = "1:1,2:2,3:3";
  return m;
}

stage::StagedRelation Rel(std::vector<stage::StagedColumn> cols) {
  stage::StagedRelation r;
  r.table = "public.t";
  r.columns = std::move(cols);
  r.key = {0};
  return r;
}

std::vector<std::string> Names(const ColumnPlan& p) {
  std::vector<std::string> out;
  for (const auto& f : p.fields) out.push_back(f.name + "#" + std::to_string(f.id));
  return out;
}

TEST(ColumnAttnums, RoundTripAndMalformed) {
  EXPECT_EQ(ParseColumnAttnums("1:1,3:4"), (std::map<int32_t, int>{{1, 1}, {3, 4}}));
  EXPECT_EQ(FormatColumnAttnums({{1, 1}, {3, 4}}), "1:1,3:4");
  EXPECT_EQ(ParseColumnAttnums("x,2:,:3,4:5,-1:2"), (std::map<int32_t, int>{{4, 5}}));
  EXPECT_TRUE(ParseColumnAttnums("").empty());
}

TEST(PlanColumns, UnchangedIsNoCommit) {
  auto p = PlanColumns(Table(), Rel({Col("id", 1), Col("name", 2, TypeId::kString), Col("value", 3)}), "t");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_FALSE(p->schema_changed);
  EXPECT_FALSE(p->attnums_changed);
}

TEST(PlanColumns, RenameKeepsFieldId) {
  auto p = PlanColumns(Table(), Rel({Col("id", 1), Col("name", 2, TypeId::kString), Col("score", 3)}), "t");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(Names(*p), (std::vector<std::string>{"id#1", "name#2", "score#3"}));
  EXPECT_TRUE(p->schema_changed);
  EXPECT_EQ(p->renamed, (std::vector<std::string>{"value → score"}));
}

TEST(PlanColumns, SwappedNamesFollowAttnums) {
  auto m = Table();
  m.schemas[0] = iceberg::Schema(0, {F(1, "id"), F(2, "a"), F(3, "b")}, {1});
  auto p = PlanColumns(m, Rel({Col("id", 1), Col("b", 2), Col("a", 3)}), "t");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(Names(*p), (std::vector<std::string>{"id#1", "b#2", "a#3"}));
}

TEST(PlanColumns, DropRemovesFieldAndReAddIsNewField) {
  auto dropped = PlanColumns(Table(), Rel({Col("id", 1), Col("name", 2, TypeId::kString)}), "t");
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(Names(*dropped), (std::vector<std::string>{"id#1", "name#2"}));
  EXPECT_EQ(dropped->dropped, (std::vector<std::string>{"value"}));
  EXPECT_EQ(dropped->attnums, (std::map<int32_t, int>{{1, 1}, {2, 2}}));

  // Dropped and added again under the same name in one step: attnum 4 is a new field.
  auto readded = PlanColumns(
      Table(), Rel({Col("id", 1), Col("name", 2, TypeId::kString), Col("value", 4)}), "t");
  ASSERT_TRUE(readded.ok());
  EXPECT_EQ(Names(*readded), (std::vector<std::string>{"id#1", "name#2", "value#4"}));
  EXPECT_EQ(readded->last_column_id, 4);
  EXPECT_EQ(readded->attnums.at(4), 4);
}

TEST(PlanColumns, LegacyTableAdoptsFieldsByName) {
  auto p = PlanColumns(Table(false), Rel({Col("id", 1), Col("name", 2, TypeId::kString), Col("value", 3)}), "t");
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->schema_changed);
  EXPECT_TRUE(p->attnums_changed);
  EXPECT_EQ(p->attnums, (std::map<int32_t, int>{{1, 1}, {2, 2}, {3, 3}}));
}

TEST(PlanColumns, UnknownAttnumsMatchByNameAndDropNothing) {
  // Files staged by an older version: no attnums, so nothing can be told dropped.
  auto p = PlanColumns(Table(), Rel({Col("id", 0), Col("name", 0, TypeId::kString)}), "t");
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->schema_changed);
  EXPECT_TRUE(p->dropped.empty());
}

TEST(PlanColumns, WidensAndRefusesNarrowing) {
  auto wide = PlanColumns(
      Table(), Rel({Col("id", 1), Col("name", 2, TypeId::kString), Col("value", 3, TypeId::kLong)}), "t");
  ASSERT_TRUE(wide.ok());
  EXPECT_EQ(wide->fields[2].type.primitive.id, TypeId::kLong);
  auto bad = PlanColumns(
      Table(), Rel({Col("id", 1), Col("name", 2, TypeId::kString), Col("value", 3, TypeId::kString)}), "t");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("cannot evolve in place"), std::string::npos);
}

TEST(PlanColumns, PartitionSourceIsKeptAndNameClashRefused) {
  auto m = Table();
  m.partition_specs.push_back(iceberg::PartitionSpec{1, {{3, 1000, "value", "identity"}}});
  auto kept = PlanColumns(m, Rel({Col("id", 1), Col("name", 2, TypeId::kString)}), "t");
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->kept, (std::vector<std::string>{"value"}));
  EXPECT_EQ(kept->fields.size(), 3u);
  auto clash = PlanColumns(m, Rel({Col("id", 1), Col("name", 2, TypeId::kString), Col("value", 4)}), "t");
  EXPECT_FALSE(clash.ok());
}

TEST(PlanColumns, RematchIgnoresAttnumsAndDropsWhatNoColumnNames) {
  // A re-created table: attnum 2 is now "amount", not "name".
  auto p = PlanColumns(Table(), Rel({Col("id", 1), Col("amount", 2), Col("value", 3)}), "t",
                       /*rematch=*/true);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(Names(*p), (std::vector<std::string>{"id#1", "value#3", "amount#4"}));
  EXPECT_EQ(p->dropped, (std::vector<std::string>{"name"}));
  EXPECT_EQ(p->attnums, (std::map<int32_t, int>{{1, 1}, {3, 3}, {4, 2}}));
}

TEST(ColumnsOf, ByAttnumThenByName) {
  const std::vector<Field> fields = {F(1, "id"), F(2, "name"), F(3, "score")};
  const std::map<int32_t, int> attnums = {{1, 1}, {3, 3}};
  // A file staged before the rename: attnum 3 was called "value".
  EXPECT_EQ(ColumnsOf(fields, attnums, Rel({Col("id", 1), Col("name", 2), Col("value", 3)})),
            (std::vector<int>{0, 1, 2}));
  // A file staged before the drop and re-add: attnum 5 held the old "score".
  EXPECT_EQ(ColumnsOf(fields, attnums, Rel({Col("id", 1), Col("score", 5)})),
            (std::vector<int>{0, -1, -1}));
  // A file staged by an older version: names only.
  EXPECT_EQ(ColumnsOf(fields, attnums, Rel({Col("score", 0), Col("id", 0)})),
            (std::vector<int>{1, -1, 0}));
}

}  // namespace
}  // namespace pg2iceberg::materialize
