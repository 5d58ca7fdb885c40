// The pure metadata edits and the REST commit model (updates, requirements).
#include "iceberg/metadata_edit.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace pg2iceberg::iceberg {
namespace {

constexpr char kUuid[] = "9d4b2c8e-6c1f-4f7a-8f0e-2b7d7e6c5a10";
constexpr int64_t kT0 = 1700000000000;

DataType Prim(TypeId id) { return DataType::Primitive(Type{id}); }

Field F(int32_t id, std::string name, DataType type, bool required = false) {
  return Field{id, std::move(name), required, std::move(type), "", {}, {}};
}

DataType Struct(std::vector<Field> fields) {
  DataType t;
  t.kind = DataType::Kind::kStruct;
  t.fields = std::move(fields);
  return t;
}

DataType List(Field element) {
  DataType t;
  t.kind = DataType::Kind::kList;
  t.fields = {std::move(element)};
  return t;
}

// A schema as a caller builds it: any unique ids; they only link the spec to columns.
Schema InputSchema() {
  return Schema(
      7,
      {F(10, "id", Prim(TypeId::kLong), true), F(20, "qty", Prim(TypeId::kInt)),
       F(30, "s", Struct({F(31, "ts", Prim(TypeId::kTimestampTz), true),
                          F(32, "note", Prim(TypeId::kString))})),
       F(40, "tags", List(F(41, "element", Prim(TypeId::kString)))),
       F(50, "name", Prim(TypeId::kString))},
      {10});
}

TableMetadata NewTable(int32_t format_version = 2) {
  PartitionSpec spec{0, {{10, 0, "", "bucket[16]"}, {31, 0, "", "day"}}};
  NewTableOptions options;
  options.format_version = format_version;
  options.sort_order.fields = {{"identity", 50, "asc", "nulls-first"}};
  Result<TableMetadata> m = NewTableMetadata("s3://b/w/t/", InputSchema(), spec,
                                             {{"owner", "me"}}, kUuid, kT0, options);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? *m : TableMetadata{};
}

Snapshot Snap(int64_t id, std::optional<int64_t> parent, int64_t ts) {
  Snapshot s;
  s.snapshot_id = id;
  s.parent_snapshot_id = parent;
  s.timestamp_ms = ts;
  s.manifest_list = "s3://b/w/t/metadata/snap-" + std::to_string(id) + ".avro";
  s.summary = {{"operation", "append"}};
  return s;
}

void ExpectError(const Status& st, StatusCode code, const std::string& mentions) {
  EXPECT_EQ(st.code(), code) << st.ToString();
  EXPECT_NE(st.message().find(mentions), std::string::npos) << st.ToString();
}

// ----- NewTableMetadata ----------------------------------------------------------------------

TEST(NewTableMetadataTest, AssignsFreshIdsTheJavaWay) {
  TableMetadata m = NewTable();
  EXPECT_EQ(m.format_version, 2);
  EXPECT_EQ(m.table_uuid, kUuid);
  EXPECT_EQ(m.location, "s3://b/w/t");
  EXPECT_EQ(m.last_updated_ms, kT0);
  EXPECT_EQ(m.last_sequence_number, 0);
  ASSERT_EQ(m.schemas.size(), 1u);
  const Schema& s = m.schemas[0];
  EXPECT_EQ(s.schema_id(), 0);
  // Top-level fields 1..5 first, then the struct's fields, then the list element.
  EXPECT_EQ(s.fields()[0].id, 1);
  EXPECT_EQ(s.fields()[1].id, 2);
  EXPECT_EQ(s.fields()[2].id, 3);
  EXPECT_EQ(s.fields()[3].id, 4);
  EXPECT_EQ(s.fields()[4].id, 5);
  EXPECT_EQ(s.fields()[2].type.fields[0].id, 6);
  EXPECT_EQ(s.fields()[2].type.fields[1].id, 7);
  EXPECT_EQ(s.fields()[3].type.fields[0].id, 8);
  EXPECT_EQ(m.last_column_id, 8);
  EXPECT_EQ(s.identifier_field_ids(), (std::vector<int32_t>{1}));
  // The spec followed the columns; names were generated as Java's builder does.
  EXPECT_EQ(m.DefaultSpec()->fields,
            (std::vector<PartitionField>{{1, 1000, "id_bucket", "bucket[16]"},
                                         {6, 1001, "s.ts_day", "day"}}));
  EXPECT_EQ(m.last_partition_id, 1001);
  ASSERT_EQ(m.sort_orders.size(), 1u);
  EXPECT_EQ(m.default_sort_order_id, 1);
  EXPECT_EQ(m.sort_orders[0].fields, (std::vector<SortField>{{"identity", 5, "asc",
                                                               "nulls-first"}}));
  EXPECT_EQ(m.properties, (std::map<std::string, std::string>{{"owner", "me"}}));
  EXPECT_FALSE(m.current_snapshot_id.has_value());
  EXPECT_FALSE(m.next_row_id.has_value());
  EXPECT_TRUE(ValidateTableMetadata(m).ok());
}

TEST(NewTableMetadataTest, FormatVersionFromPropertiesAndUnsortedDefault) {
  Result<TableMetadata> m =
      NewTableMetadata("s3://b/t", InputSchema(), PartitionSpec{},
                       {{"format-version", "3"}, {"k", "v"}}, kUuid, kT0);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->format_version, 3);
  EXPECT_EQ(m->properties, (std::map<std::string, std::string>{{"k", "v"}}));
  EXPECT_EQ(m->next_row_id, std::optional<int64_t>(0));
  EXPECT_EQ(m->sort_orders, (std::vector<SortOrder>{SortOrder{}}));
  EXPECT_EQ(m->default_sort_order_id, 0);
  EXPECT_TRUE(m->DefaultSpec()->unpartitioned());
  EXPECT_EQ(m->last_partition_id, 999);
}

TEST(NewTableMetadataTest, RejectsWhatIcebergRejects) {
  auto make = [](Schema schema, PartitionSpec spec, int32_t version = 2) {
    NewTableOptions o;
    o.format_version = version;
    return NewTableMetadata("s3://b/t", schema, spec, {}, kUuid, kT0, o).status();
  };
  ExpectError(make(Schema(0, {F(1, "id", Prim(TypeId::kLong))}, {1}), {}),
              StatusCode::kInvalidArgument, "identifier field \"id\" is optional");
  ExpectError(make(Schema(0, {F(1, "x", Prim(TypeId::kDouble), true)}, {1}), {}),
              StatusCode::kInvalidArgument, "cannot be float or double");
  ExpectError(make(Schema(0, {F(1, "x", Prim(TypeId::kLong)), F(2, "x", Prim(TypeId::kInt))}),
                   {}),
              StatusCode::kInvalidArgument, "column name \"x\" is used twice");
  ExpectError(make(Schema(0, {F(1, "x", Prim(TypeId::kString))}),
                   PartitionSpec{0, {{1, 0, "", "day"}}}),
              StatusCode::kInvalidArgument, "partition field \"x_day\": ");
  ExpectError(make(Schema(0, {F(1, "x", Prim(TypeId::kString))}),
                   PartitionSpec{0, {{9, 0, "p", "identity"}}}),
              StatusCode::kInvalidArgument, "refers to field id 9");
  ExpectError(make(Schema(0, {F(1, "x", Prim(TypeId::kLong)), F(2, "y", Prim(TypeId::kLong))}),
                   PartitionSpec{0, {{2, 0, "x", "bucket[4]"}}}),
              StatusCode::kInvalidArgument, "the name is the name of column \"x\"");
  ExpectError(make(Schema(0, {F(1, "ts", DataType::Opaque("timestamp_ns"))}), {}),
              StatusCode::kInvalidArgument, "needs table format version 3");
  EXPECT_TRUE(make(Schema(0, {F(1, "ts", DataType::Opaque("timestamp_ns"))}), {}, 3).ok());
  ExpectError(make(Schema(0, {F(1, "ts", Prim(TypeId::kTimestamp))}),
                   PartitionSpec{0, {{1, 0, "", "day"}, {1, 0, "", "hour"}}}),
              StatusCode::kInvalidArgument, "a second one is redundant");
}

// ----- Snapshots -----------------------------------------------------------------------------

TEST(AddSnapshotTest, AssignsSequenceNumbersAndMovesMain) {
  TableMetadata m = NewTable();
  EXPECT_EQ(NextSequenceNumber(m), 1);
  ASSERT_TRUE(AddSnapshot(&m, Snap(101, {}, kT0 + 10)).ok());
  ASSERT_TRUE(AddSnapshot(&m, Snap(102, 101, kT0 + 20)).ok());
  EXPECT_EQ(m.snapshots[0].sequence_number, 1);
  EXPECT_EQ(m.snapshots[1].sequence_number, 2);
  EXPECT_EQ(m.snapshots[1].schema_id, std::optional<int32_t>(0));
  EXPECT_EQ(m.last_sequence_number, 2);
  EXPECT_EQ(m.current_snapshot_id, std::optional<int64_t>(102));
  EXPECT_EQ(m.refs.at("main"), (SnapshotRef{102, "branch", {}, {}, {}}));
  EXPECT_EQ(m.snapshot_log,
            (std::vector<SnapshotLogEntry>{{kT0 + 10, 101}, {kT0 + 20, 102}}));
  EXPECT_EQ(m.last_updated_ms, kT0 + 20);
  EXPECT_TRUE(ValidateTableMetadata(m).ok());

  TableMetadata before = m;
  ExpectError(AddSnapshot(&m, Snap(102, 101, kT0 + 30)), StatusCode::kInvalidArgument,
              "snapshot 102 already exists");
  Snapshot stale = Snap(103, 102, kT0 + 30);
  stale.sequence_number = 2;
  ExpectError(AddSnapshot(&m, stale), StatusCode::kInvalidArgument,
              "is not above the table's last sequence number 2");
  EXPECT_EQ(m, before);  // failed edits change nothing
}

TEST(AddSnapshotTest, BranchesTagsAndRetentionSettings) {
  TableMetadata m = NewTable();
  ASSERT_TRUE(AddSnapshot(&m, Snap(1, {}, kT0 + 10)).ok());
  ASSERT_TRUE(SetSnapshotRef(&m, "audit", SnapshotRef{1, "branch", {}, 3600000, 2}, kT0 + 11)
                  .ok());
  ASSERT_TRUE(SetSnapshotRef(&m, "v1.0", SnapshotRef{1, "tag", 86400000, {}, {}}, kT0 + 12)
                  .ok());
  ASSERT_TRUE(AddSnapshot(&m, Snap(2, 1, kT0 + 20), "audit").ok());
  EXPECT_EQ(m.current_snapshot_id, std::optional<int64_t>(1));  // main did not move
  EXPECT_EQ(m.refs.at("audit"), (SnapshotRef{2, "branch", {}, 3600000, 2}));  // kept settings
  EXPECT_EQ(m.snapshot_log.size(), 1u);
  ExpectError(AddSnapshot(&m, Snap(3, 1, kT0 + 30), "v1.0"), StatusCode::kInvalidArgument,
              "it is a tag");
  ExpectError(SetSnapshotRef(&m, "main", SnapshotRef{2, "tag", {}, {}, {}}, kT0),
              StatusCode::kInvalidArgument, "must be a branch");
  ExpectError(SetSnapshotRef(&m, "x", SnapshotRef{99, "branch", {}, {}, {}}, kT0),
              StatusCode::kInvalidArgument, "no such snapshot");
  // Adding without moving any ref (REST add-snapshot).
  ASSERT_TRUE(AddSnapshot(&m, Snap(4, 2, kT0 + 40), std::nullopt).ok());
  EXPECT_EQ(m.refs.size(), 3u);
  EXPECT_EQ(m.current_snapshot_id, std::optional<int64_t>(1));
  ASSERT_TRUE(RemoveSnapshotRef(&m, "main").ok());
  EXPECT_FALSE(m.current_snapshot_id.has_value());
}

TEST(AddSnapshotTest, V3RowLineageAndV1SequenceNumbers) {
  TableMetadata v3 = NewTable(3);
  Snapshot a = Snap(1, {}, kT0 + 1);
  ExpectError(AddSnapshot(&v3, a), StatusCode::kInvalidArgument, "need added-rows");
  a.added_rows = 10;
  ASSERT_TRUE(AddSnapshot(&v3, a).ok());
  Snapshot b = Snap(2, 1, kT0 + 2);
  b.added_rows = 5;
  ASSERT_TRUE(AddSnapshot(&v3, b).ok());
  EXPECT_EQ(v3.snapshots[0].first_row_id, std::optional<int64_t>(0));
  EXPECT_EQ(v3.snapshots[1].first_row_id, std::optional<int64_t>(10));
  EXPECT_EQ(v3.next_row_id, std::optional<int64_t>(15));
  Snapshot c = Snap(3, 2, kT0 + 3);
  c.added_rows = 1;
  c.first_row_id = 14;
  ExpectError(AddSnapshot(&v3, c), StatusCode::kInvalidArgument,
              "first-row-id 14 is behind the table's next-row-id 15");

  TableMetadata v1 = NewTable(1);
  EXPECT_EQ(NextSequenceNumber(v1), 0);
  ASSERT_TRUE(AddSnapshot(&v1, Snap(1, {}, kT0 + 1)).ok());
  EXPECT_EQ(v1.snapshots[0].sequence_number, 0);
  EXPECT_EQ(v1.last_sequence_number, 0);
}

TEST(RemoveSnapshotsTest, ExpiresButNeverTheCurrentOne) {
  TableMetadata m = NewTable();
  for (int64_t i = 1; i <= 4; ++i) {
    ASSERT_TRUE(AddSnapshot(&m, Snap(i, i == 1 ? std::nullopt : std::optional<int64_t>(i - 1),
                                     kT0 + i))
                    .ok());
  }
  ASSERT_TRUE(SetSnapshotRef(&m, "old-tag", SnapshotRef{1, "tag", {}, {}, {}}, kT0 + 5).ok());
  ASSERT_TRUE(SetSnapshotRef(&m, "keep", SnapshotRef{3, "tag", {}, {}, {}}, kT0 + 5).ok());
  ExpectError(RemoveSnapshots(&m, {2, 4}), StatusCode::kInvalidArgument,
              "it is the current snapshot");
  ASSERT_TRUE(RemoveSnapshots(&m, {1, 2, 999}).ok());
  ASSERT_EQ(m.snapshots.size(), 2u);
  EXPECT_EQ(m.snapshots[0].snapshot_id, 3);
  EXPECT_EQ(m.refs.count("old-tag"), 0u);  // dangling ref dropped
  EXPECT_EQ(m.refs.count("keep"), 1u);
  EXPECT_EQ(m.snapshot_log, (std::vector<SnapshotLogEntry>{{kT0 + 3, 3}, {kT0 + 4, 4}}));
  EXPECT_TRUE(ValidateTableMetadata(m).ok());

  // Statistics of removed snapshots go too; others and unknown shapes stay.
  m.extra["statistics"] =
      R"([{"snapshot-id":3,"statistics-path":"a"},{"snapshot-id":4,"statistics-path":"b"}])";
  m.extra["partition-statistics"] = R"([{"snapshot-id":3,"statistics-path":"c"}])";
  m.extra["x-other"] = R"([{"snapshot-id":3}])";
  ASSERT_TRUE(RemoveSnapshots(&m, {3}).ok());
  EXPECT_EQ(m.extra.at("statistics"), R"([{"snapshot-id":4,"statistics-path":"b"}])");
  EXPECT_EQ(m.extra.at("partition-statistics"), "[]");
  EXPECT_EQ(m.extra.at("x-other"), R"([{"snapshot-id":3}])");
  EXPECT_EQ(m.refs.count("keep"), 0u);

  // A removed snapshot in the middle of the log drops the history before it.
  TableMetadata n = NewTable();
  ASSERT_TRUE(AddSnapshot(&n, Snap(1, {}, kT0 + 1)).ok());
  ASSERT_TRUE(AddSnapshot(&n, Snap(2, 1, kT0 + 2)).ok());
  ASSERT_TRUE(SetSnapshotRef(&n, "main", SnapshotRef{1, "branch", {}, {}, {}}, kT0 + 3).ok());
  ASSERT_TRUE(RemoveSnapshots(&n, {2}).ok());
  EXPECT_EQ(n.snapshot_log, (std::vector<SnapshotLogEntry>{{kT0 + 3, 1}}));
}

// ----- Schema evolution ----------------------------------------------------------------------

TEST(AddSchemaTest, AllowedEvolution) {
  TableMetadata m = NewTable();
  std::vector<Field> fields = m.CurrentSchema()->fields();
  fields[1].type = Prim(TypeId::kLong);  // qty int -> long
  fields[1].name = "quantity";           // rename
  fields[4].required = false;            // already optional: no-op
  fields.push_back(F(0, "added", Prim(TypeId::kString)));                // id assigned
  fields.push_back(F(0, "more", Struct({F(0, "x", Prim(TypeId::kInt), true)})));
  fields.erase(fields.begin() + 3);  // drop "tags"
  Result<int32_t> id = AddSchema(&m, Schema(99, fields, {1}));
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(*id, 1);
  EXPECT_EQ(m.current_schema_id, 0);  // AddSchema does not switch
  const Schema& s = *m.SchemaById(1);
  EXPECT_EQ(s.FindByName("added")->id, 9);
  EXPECT_EQ(s.FindByName("more")->id, 10);
  EXPECT_EQ(s.FindByName("more")->type.fields[0].id, 11);
  EXPECT_EQ(s.FindByName("quantity")->type, Prim(TypeId::kLong));
  EXPECT_EQ(m.last_column_id, 11);
  ASSERT_TRUE(SetCurrentSchema(&m, 1).ok());
  // The same schema again is not added twice.
  Result<int32_t> again = AddSchema(&m, s);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 1);
  EXPECT_EQ(m.schemas.size(), 2u);
  EXPECT_TRUE(ValidateTableMetadata(m).ok());
}

TEST(AddSchemaTest, PromotionsAndIllegalChanges) {
  TableMetadata m = NewTable();
  const std::vector<Field> base = m.CurrentSchema()->fields();
  auto with = [&](auto change) {
    std::vector<Field> f = base;
    change(f);
    TableMetadata copy = m;
    Status st = AddSchema(&copy, Schema(0, f, {1})).status();
    if (!st.ok()) {
      EXPECT_EQ(copy, m);
    }
    return st;
  };
  ExpectError(with([](auto& f) { f[4].type = Prim(TypeId::kInt); }),
              StatusCode::kInvalidArgument,
              "column \"name\" (id 5) cannot change from string to int");
  ExpectError(with([](auto& f) { f[0].type = Prim(TypeId::kInt); }),
              StatusCode::kInvalidArgument, "cannot change from long to int");
  ExpectError(with([](auto& f) { f[1].required = true; }), StatusCode::kInvalidArgument,
              "column \"qty\" cannot change from optional to required");
  ExpectError(with([](auto& f) { f.push_back(F(0, "must", Prim(TypeId::kInt), true)); }),
              StatusCode::kInvalidArgument, "new column \"must\" is required");
  ExpectError(with([](auto& f) { f.push_back(F(4, "reuse", Prim(TypeId::kInt))); }),
              StatusCode::kInvalidArgument, "field id 4 is used by both");
  ExpectError(with([](auto& f) { f[2].type = List(F(6, "element", Prim(TypeId::kInt))); }),
              StatusCode::kInvalidArgument, "cannot change from struct to list");
  ExpectError(with([](auto& f) {
                Field moved = f[2].type.fields[1];  // s.note to the top level
                f[2].type.fields.pop_back();
                f.push_back(moved);
              }),
              StatusCode::kInvalidArgument, "fields cannot move to another struct");
  ExpectError(with([](auto& f) { f.erase(f.begin()); }), StatusCode::kInvalidArgument,
              "identifier field id 1 is not a column");
  EXPECT_TRUE(with([](auto& f) { f[0].required = true; }).ok());

  // A retired id (tags' element, 8) cannot come back as a new column.
  {
    TableMetadata dropped = m;
    std::vector<Field> f = base;
    f.erase(f.begin() + 3);
    Result<int32_t> id = AddSchema(&dropped, Schema(0, f, {1}));
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    ASSERT_TRUE(SetCurrentSchema(&dropped, *id).ok());
    f.push_back(F(8, "old_id", Prim(TypeId::kInt)));
    ExpectError(AddSchema(&dropped, Schema(0, f, {1})).status(), StatusCode::kInvalidArgument,
                "column \"old_id\" has field id 8, which the table assigned before "
                "(last-column-id is 8)");
  }

  // float -> double and decimal precision, in a table that has them.
  Result<TableMetadata> t = NewTableMetadata(
      "s3://b/t",
      Schema(0, {F(1, "f", Prim(TypeId::kFloat)),
                 F(2, "d", DataType::Primitive(Type::Decimal(10, 2)))}),
      {}, {}, kUuid, kT0);
  ASSERT_TRUE(t.ok());
  TableMetadata tm = *t;
  std::vector<Field> f = tm.CurrentSchema()->fields();
  f[0].type = Prim(TypeId::kDouble);
  f[1].type = DataType::Primitive(Type::Decimal(18, 2));
  EXPECT_TRUE(AddSchema(&tm, Schema(0, f)).ok());
  f[1].type = DataType::Primitive(Type::Decimal(18, 3));
  ExpectError(AddSchema(&tm, Schema(0, f)).status(), StatusCode::kInvalidArgument,
              "from decimal(10,2) to decimal(18,3)");
}

TEST(AddSchemaTest, DroppingAPartitionSourceNeedsSpecEvolutionFirst) {
  TableMetadata m = NewTable();
  std::vector<Field> f = m.CurrentSchema()->fields();
  f.erase(f.begin() + 2);  // drop s, whose s.ts is partitioned by day
  Result<int32_t> id = AddSchema(&m, Schema(0, f, {1}));
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  ExpectError(SetCurrentSchema(&m, *id), StatusCode::kInvalidArgument,
              "the source of partition field \"s.ts_day\" of the default spec");
  EXPECT_EQ(m.current_schema_id, 0);
}

// ----- Partition spec evolution --------------------------------------------------------------

TEST(AddPartitionSpecTest, V2ReusesIdsOfUnchangedFields) {
  TableMetadata m = NewTable();
  // Keep day(s.ts), drop bucket(id), add identity(name).
  PartitionSpec next{0, {{6, 0, "", "day"}, {5, 0, "", "identity"}}};
  Result<int32_t> id = AddPartitionSpec(&m, next);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(*id, 1);
  EXPECT_EQ(m.SpecById(1)->fields,
            (std::vector<PartitionField>{{6, 1001, "s.ts_day", "day"},
                                         {5, 1002, "name", "identity"}}));
  EXPECT_EQ(m.last_partition_id, 1002);
  // Bringing bucket(id) back reuses its old id 1000.
  Result<int32_t> id2 = AddPartitionSpec(&m, PartitionSpec{0, {{1, 0, "", "bucket[16]"}}});
  ASSERT_TRUE(id2.ok());
  EXPECT_EQ(m.SpecById(*id2)->fields[0].field_id, 1000);
  EXPECT_EQ(m.last_partition_id, 1002);
  // An identical spec is the existing one.
  Result<int32_t> same = AddPartitionSpec(&m, next);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(*same, 1);
  ASSERT_TRUE(SetDefaultSpec(&m, 1).ok());
  EXPECT_EQ(m.default_spec_id, 1);
  ExpectError(SetDefaultSpec(&m, 7), StatusCode::kInvalidArgument, "no such spec");
  ExpectError(AddPartitionSpec(&m, PartitionSpec{0, {{2, 0, "", "bucket[0]"}}}).status(),
              StatusCode::kInvalidArgument, "partition field");
}

TEST(AddPartitionSpecTest, V1KeepsFieldsInPlaceAsVoid) {
  TableMetadata m = NewTable(1);
  Result<int32_t> id = AddPartitionSpec(&m, PartitionSpec{0, {{6, 0, "", "day"},
                                                              {5, 0, "", "identity"}}});
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(m.SpecById(*id)->fields,
            (std::vector<PartitionField>{{1, 1000, "id_bucket", "void"},
                                         {6, 1001, "s.ts_day", "day"},
                                         {5, 1002, "name", "identity"}}));
}

TEST(AddSortOrderTest, ReuseAndUnsorted) {
  TableMetadata m = NewTable();
  Result<int32_t> unsorted = AddSortOrder(&m, SortOrder{});
  ASSERT_TRUE(unsorted.ok());
  EXPECT_EQ(*unsorted, 0);
  Result<int32_t> same =
      AddSortOrder(&m, SortOrder{5, {{"identity", 5, "asc", "nulls-first"}}});
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(*same, 1);
  Result<int32_t> next =
      AddSortOrder(&m, SortOrder{0, {{"bucket[4]", 1, "desc", "nulls-last"}}});
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, 2);
  ExpectError(AddSortOrder(&m, SortOrder{0, {{"identity", 1, "up", "nulls-last"}}}).status(),
              StatusCode::kInvalidArgument, "direction must be asc or desc");
  ASSERT_TRUE(SetDefaultSortOrder(&m, 0).ok());
  EXPECT_EQ(m.default_sort_order_id, 0);
}

// ----- Properties, metadata log --------------------------------------------------------------

TEST(PropertiesTest, SetRemoveAndReserved) {
  TableMetadata m = NewTable();
  ASSERT_TRUE(SetProperties(&m, {{"a", "1"}, {"owner", "you"}}).ok());
  EXPECT_EQ(m.properties.at("owner"), "you");
  RemoveProperties(&m, {"a", "absent"});
  EXPECT_EQ(m.properties.count("a"), 0u);
  ExpectError(SetProperties(&m, {{"format-version", "3"}}), StatusCode::kInvalidArgument,
              "upgrade the format version instead");
  ASSERT_TRUE(UpgradeFormatVersion(&m, 3).ok());
  EXPECT_EQ(m.next_row_id, std::optional<int64_t>(0));
  ExpectError(UpgradeFormatVersion(&m, 2), StatusCode::kInvalidArgument, "cannot downgrade");
  ExpectError(UpgradeFormatVersion(&m, 4), StatusCode::kInvalidArgument, "not supported");
  ExpectError(AssignUuid(&m, "other"), StatusCode::kInvalidArgument, "already has UUID");
}

TEST(MetadataLogTest, CappedByPreviousVersionsMax) {
  TableMetadata m = NewTable();
  for (int i = 0; i < 105; ++i) {
    ASSERT_TRUE(AppendMetadataLog(&m, "f" + std::to_string(i), kT0 + i).ok());
  }
  ASSERT_EQ(m.metadata_log.size(), 100u);
  EXPECT_EQ(m.metadata_log.front(), (MetadataLogEntry{kT0 + 5, "f5"}));
  EXPECT_EQ(m.metadata_log.back(), (MetadataLogEntry{kT0 + 104, "f104"}));
  m.properties[std::string(kPreviousVersionsMaxProperty)] = "3";
  ASSERT_TRUE(AppendMetadataLog(&m, "g", kT0 + 200).ok());
  EXPECT_EQ(m.metadata_log.size(), 3u);
  EXPECT_EQ(m.metadata_log.front().metadata_file, "f103");
  m.properties[std::string(kPreviousVersionsMaxProperty)] = "0";  // at least one is kept
  ASSERT_TRUE(AppendMetadataLog(&m, "h", kT0 + 201).ok());
  EXPECT_EQ(m.metadata_log, (std::vector<MetadataLogEntry>{{kT0 + 201, "h"}}));
  m.properties[std::string(kPreviousVersionsMaxProperty)] = "many";
  ExpectError(AppendMetadataLog(&m, "i", kT0 + 202), StatusCode::kInvalidArgument,
              "write.metadata.previous-versions-max must be an integer");
}

// ----- REST updates and requirements ---------------------------------------------------------

TEST(TableUpdateJsonTest, ExactFormsOfTheRestSpec) {
  EXPECT_EQ(TableUpdate::SetCurrentSchema(-1).ToJson(),
            R"({"action":"set-current-schema","schema-id":-1})");
  EXPECT_EQ(TableUpdate::SetSnapshotRef("main", SnapshotRef{5, "branch", {}, {}, {}}).ToJson(),
            R"({"action":"set-snapshot-ref","ref-name":"main","snapshot-id":5,)"
            R"("type":"branch"})");
  EXPECT_EQ(TableUpdate::SetProperties({{"k", "v"}}).ToJson(),
            R"({"action":"set-properties","updates":{"k":"v"}})");
  EXPECT_EQ(TableUpdate::RemoveSnapshots({1, 2}).ToJson(),
            R"({"action":"remove-snapshots","snapshot-ids":[1,2]})");
  EXPECT_EQ(TableUpdate::AddSpec(PartitionSpec{0, {{3, 0, "x_day", "day"}}}).ToJson(),
            R"({"action":"add-spec","spec":{"spec-id":0,"fields":[{"name":"x_day",)"
            R"("transform":"day","source-id":3}]}})");
  Snapshot s = Snap(7, 6, kT0);
  s.sequence_number = 3;
  EXPECT_EQ(TableUpdate::AddSnapshot(s).ToJson(),
            R"({"action":"add-snapshot","snapshot":{"sequence-number":3,"snapshot-id":7,)"
            R"("parent-snapshot-id":6,"timestamp-ms":1700000000000,"summary":)"
            R"({"operation":"append"},"manifest-list":"s3://b/w/t/metadata/snap-7.avro"}})");
  EXPECT_EQ(TableRequirement::AssertRefSnapshotId("main", std::nullopt).ToJson(),
            R"({"type":"assert-ref-snapshot-id","ref":"main","snapshot-id":null})");
  EXPECT_EQ(TableRequirement::AssertRefSnapshotId("main", 9).ToJson(),
            R"({"type":"assert-ref-snapshot-id","ref":"main","snapshot-id":9})");
  EXPECT_EQ(TableRequirement::AssertLastAssignedPartitionId(1001).ToJson(),
            R"({"type":"assert-last-assigned-partition-id",)"
            R"("last-assigned-partition-id":1001})");
  EXPECT_EQ(RequirementsToJson({TableRequirement::AssertCreate(),
                                TableRequirement::AssertTableUuid(kUuid)}),
            std::string(R"([{"type":"assert-create"},{"type":"assert-table-uuid","uuid":")") +
                kUuid + "\"}]");
}

TEST(TableUpdateJsonTest, EveryActionAndTypeRoundTrips) {
  TableMetadata m = NewTable();
  std::vector<TableUpdate> updates = {
      TableUpdate::AssignUuid(kUuid),
      TableUpdate::UpgradeFormatVersion(3),
      TableUpdate::AddSchema(*m.CurrentSchema(), 8),
      TableUpdate::AddSchema(*m.CurrentSchema()),
      TableUpdate::SetCurrentSchema(-1),
      TableUpdate::AddSpec(*m.DefaultSpec()),
      TableUpdate::SetDefaultSpec(2),
      TableUpdate::AddSortOrder(m.sort_orders[0]),
      TableUpdate::SetDefaultSortOrder(-1),
      TableUpdate::AddSnapshot(Snap(5, {}, kT0)),
      TableUpdate::SetSnapshotRef("t", SnapshotRef{5, "tag", 10, {}, {}}),
      TableUpdate::SetSnapshotRef("b", SnapshotRef{5, "branch", {}, 20, 3}),
      TableUpdate::RemoveSnapshots({5, 6}),
      TableUpdate::RemoveSnapshotRef("t"),
      TableUpdate::SetLocation("s3://x"),
      TableUpdate::SetProperties({{"a", "b"}}),
      TableUpdate::RemoveProperties({"a", "c"}),
  };
  for (const TableUpdate& u : updates) {
    SCOPED_TRACE(u.ToJson());
    Result<TableUpdate> back = ParseTableUpdate(u.ToJson());
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, u);
  }
  Result<std::vector<TableUpdate>> all = ParseTableUpdates(UpdatesToJson(updates));
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(*all, updates);

  std::vector<TableRequirement> reqs = {
      TableRequirement::AssertCreate(),
      TableRequirement::AssertTableUuid(kUuid),
      TableRequirement::AssertRefSnapshotId("main", 3),
      TableRequirement::AssertRefSnapshotId("b", std::nullopt),
      TableRequirement::AssertLastAssignedFieldId(8),
      TableRequirement::AssertCurrentSchemaId(0),
      TableRequirement::AssertLastAssignedPartitionId(1001),
      TableRequirement::AssertDefaultSpecId(0),
      TableRequirement::AssertDefaultSortOrderId(1),
  };
  Result<std::vector<TableRequirement>> back = ParseTableRequirements(RequirementsToJson(reqs));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, reqs);

  ExpectError(ParseTableUpdate(R"({"action":"frobnicate"})").status(),
              StatusCode::kUnimplemented, "action \"frobnicate\"");
  ExpectError(ParseTableUpdate(R"({"action":"set-current-schema"})").status(),
              StatusCode::kInvalidArgument, "required key \"schema-id\" is missing");
  ExpectError(ParseTableUpdates(R"([{"action":"set-properties","updates":{"a":1}}])").status(),
              StatusCode::kInvalidArgument, "\"[0].updates.a\" must be a string");
  ExpectError(ParseTableRequirement(R"({"type":"assert-current-schema-id"})").status(),
              StatusCode::kInvalidArgument, "\"current-schema-id\" is missing");
}

TEST(CheckRequirementsTest, AbortedNamesWhatChanged) {
  TableMetadata m = NewTable();
  ASSERT_TRUE(AddSnapshot(&m, Snap(5, {}, kT0 + 1)).ok());
  EXPECT_TRUE(CheckRequirements(&m, {TableRequirement::AssertTableUuid(
                                         "9D4B2C8E-6C1F-4F7A-8F0E-2B7D7E6C5A10"),
                                     TableRequirement::AssertRefSnapshotId("main", 5),
                                     TableRequirement::AssertRefSnapshotId("b", std::nullopt),
                                     TableRequirement::AssertLastAssignedFieldId(8),
                                     TableRequirement::AssertCurrentSchemaId(0),
                                     TableRequirement::AssertLastAssignedPartitionId(1001),
                                     TableRequirement::AssertDefaultSpecId(0),
                                     TableRequirement::AssertDefaultSortOrderId(1)})
                  .ok());
  ExpectError(CheckRequirements(&m, {TableRequirement::AssertRefSnapshotId("main", 4)}),
              StatusCode::kAborted,
              "assert-ref-snapshot-id failed: ref \"main\" is at snapshot 5, expected 4; "
              "re-read the table and retry");
  ExpectError(CheckRequirements(&m, {TableRequirement::AssertRefSnapshotId("main", {})}),
              StatusCode::kAborted, "exists (at snapshot 5), expected it not to");
  ExpectError(CheckRequirements(&m, {TableRequirement::AssertRefSnapshotId("x", 5)}),
              StatusCode::kAborted, "ref \"x\" does not exist");
  ExpectError(CheckRequirements(&m, {TableRequirement::AssertCurrentSchemaId(1)}),
              StatusCode::kAborted, "current-schema-id is 0, expected 1");
  ExpectError(CheckRequirements(&m, {TableRequirement::AssertTableUuid("other")}),
              StatusCode::kAborted, "the table was replaced");
  ExpectError(CheckRequirements(&m, {TableRequirement::AssertCreate()}), StatusCode::kAborted,
              "the table already exists");
  EXPECT_TRUE(CheckRequirements(nullptr, {TableRequirement::AssertCreate()}).ok());
  ExpectError(CheckRequirements(nullptr, {TableRequirement::AssertDefaultSpecId(0)}),
              StatusCode::kAborted, "the table does not exist");
}

TEST(ApplyUpdatesTest, CreateTableAsTheRestCatalogDoes) {
  TableMetadata fresh = NewTable();
  TableMetadata m;  // empty
  std::vector<TableUpdate> create = {
      TableUpdate::AssignUuid(kUuid),
      TableUpdate::UpgradeFormatVersion(2),
      TableUpdate::AddSchema(*fresh.CurrentSchema(), fresh.last_column_id),
      TableUpdate::SetCurrentSchema(-1),
      TableUpdate::AddSpec(*fresh.DefaultSpec()),
      TableUpdate::SetDefaultSpec(-1),
      TableUpdate::AddSortOrder(fresh.sort_orders[0]),
      TableUpdate::SetDefaultSortOrder(-1),
      TableUpdate::SetLocation("s3://b/w/t"),
      TableUpdate::SetProperties({{"owner", "me"}}),
  };
  ASSERT_TRUE(CheckRequirements(nullptr, {TableRequirement::AssertCreate()}).ok());
  Status st = ApplyUpdates(&m, create, kT0);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(m, fresh);
}

TEST(ApplyUpdatesTest, AppendCommitAndIntermediateSnapshots) {
  TableMetadata m = NewTable();
  ASSERT_TRUE(AddSnapshot(&m, Snap(1, {}, kT0 + 10)).ok());
  Snapshot s2 = Snap(2, 1, kT0 + 20);
  s2.sequence_number = NextSequenceNumber(m);
  Snapshot s3 = Snap(3, 2, kT0 + 30);
  s3.sequence_number = s2.sequence_number + 1;
  std::vector<TableUpdate> commit = {
      TableUpdate::AddSnapshot(s2),
      TableUpdate::SetSnapshotRef("main", SnapshotRef{2, "branch", {}, {}, {}}),
      TableUpdate::AddSnapshot(s3),
      TableUpdate::SetSnapshotRef("main", SnapshotRef{3, "branch", {}, {}, {}}),
      TableUpdate::SetProperties({{"last-commit", "x"}}),
  };
  ASSERT_TRUE(CheckRequirements(&m, {TableRequirement::AssertRefSnapshotId("main", 1)}).ok());
  Status st = ApplyUpdates(&m, commit, kT0 + 99);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(m.current_snapshot_id, std::optional<int64_t>(3));
  EXPECT_EQ(m.last_sequence_number, 3);
  // 2 headed main only within the commit: not in the history.
  EXPECT_EQ(m.snapshot_log, (std::vector<SnapshotLogEntry>{{kT0 + 10, 1}, {kT0 + 30, 3}}));
  EXPECT_EQ(m.last_updated_ms, kT0 + 30);
  EXPECT_EQ(m.properties.at("last-commit"), "x");

  // No snapshot: last-updated-ms is now.
  ASSERT_TRUE(
      ApplyUpdates(&m, {TableUpdate::RemoveProperties({"last-commit"})}, kT0 + 500).ok());
  EXPECT_EQ(m.last_updated_ms, kT0 + 500);
}

TEST(ApplyUpdatesTest, FailureLeavesMetadataUnchanged) {
  TableMetadata m = NewTable();
  TableMetadata before = m;
  std::vector<TableUpdate> bad = {
      TableUpdate::SetProperties({{"a", "b"}}),
      TableUpdate::SetDefaultSpec(-1),  // no spec added in this commit
  };
  Status st = ApplyUpdates(&m, bad, kT0 + 1);
  ExpectError(st, StatusCode::kInvalidArgument,
              "update 1 (set-default-spec): cannot set the last added partition spec");
  EXPECT_EQ(m, before);
  // A snapshot pointing at nothing valid fails validation as a whole.
  ExpectError(ApplyUpdates(&m, {TableUpdate::SetSnapshotRef("main", SnapshotRef{42, "branch",
                                                                                {}, {}, {}})},
                           kT0),
              StatusCode::kInvalidArgument, "no such snapshot");
  EXPECT_EQ(m, before);
}

TEST(ApplyUpdatesTest, SchemaAndSpecEvolutionWithLastAdded) {
  TableMetadata m = NewTable();
  std::vector<Field> f = m.CurrentSchema()->fields();
  f.push_back(F(0, "region", Prim(TypeId::kString)));
  std::vector<TableUpdate> evolve = {
      TableUpdate::AddSchema(Schema(0, f, {1})),
      TableUpdate::SetCurrentSchema(-1),
      TableUpdate::AddSpec(PartitionSpec{0, {{1, 0, "", "bucket[16]"}, {6, 0, "", "day"},
                                             {9, 0, "", "identity"}}}),
      TableUpdate::SetDefaultSpec(-1),
  };
  ASSERT_TRUE(CheckRequirements(&m, {TableRequirement::AssertCurrentSchemaId(0),
                                     TableRequirement::AssertLastAssignedFieldId(8),
                                     TableRequirement::AssertDefaultSpecId(0),
                                     TableRequirement::AssertLastAssignedPartitionId(1001)})
                  .ok());
  Status st = ApplyUpdates(&m, evolve, kT0 + 5);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(m.current_schema_id, 1);
  EXPECT_EQ(m.last_column_id, 9);
  EXPECT_EQ(m.default_spec_id, 1);
  EXPECT_EQ(m.DefaultSpec()->fields,
            (std::vector<PartitionField>{{1, 1000, "id_bucket", "bucket[16]"},
                                         {6, 1001, "s.ts_day", "day"},
                                         {9, 1002, "region", "identity"}}));
  EXPECT_EQ(m.last_partition_id, 1002);
}

}  // namespace
}  // namespace pg2iceberg::iceberg
