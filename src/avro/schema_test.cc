#include "avro/schema.h"

#include <gtest/gtest.h>

#include <string>

#include "avro/datum.h"

namespace pg2iceberg::avro {
namespace {

using nlohmann::json;

// The manifest list schema (format v2) exactly as Iceberg Java writes it into avro.schema.
constexpr char kJavaManifestFile[] =
    R"({"type":"record","name":"manifest_file","fields":[)"
    R"({"name":"manifest_path","type":"string","doc":"Location URI with FS scheme","field-id":500},)"
    R"({"name":"manifest_length","type":"long","doc":"Total file size in bytes","field-id":501},)"
    R"({"name":"partition_spec_id","type":"int","doc":"Spec ID used to write","field-id":502},)"
    R"({"name":"content","type":"int","doc":"Contents of the manifest: 0=data, 1=deletes","field-id":517},)"
    R"({"name":"sequence_number","type":"long","doc":"Sequence number when the manifest was added","field-id":515},)"
    R"({"name":"added_snapshot_id","type":"long","doc":"Snapshot ID that added the manifest","field-id":503},)"
    R"({"name":"partitions","type":["null",{"type":"array","items":{"type":"record","name":"r508","fields":[)"
    R"({"name":"contains_null","type":"boolean","doc":"True if any file has a null partition value","field-id":509},)"
    R"({"name":"contains_nan","type":["null","boolean"],"doc":"True if any file has a nan partition value","default":null,"field-id":518},)"
    R"({"name":"lower_bound","type":["null","bytes"],"doc":"Partition lower bound for all files","default":null,"field-id":510},)"
    R"({"name":"upper_bound","type":["null","bytes"],"doc":"Partition upper bound for all files","default":null,"field-id":511}]},)"
    R"("element-id":508}],"doc":"Summary for each partition","default":null,"field-id":507},)"
    R"({"name":"column_sizes","type":["null",{"type":"array","items":{"type":"record","name":"k117_v118","fields":[)"
    R"({"name":"key","type":"int","field-id":117},{"name":"value","type":"long","field-id":118}]},)"
    R"("logicalType":"map"}],"default":null,"field-id":108},)"
    R"({"name":"key_metadata","type":["null","bytes"],"doc":"Encryption key metadata blob","default":null,"field-id":519}]})";

Schema MustParse(std::string_view text) {
  auto s = Schema::Parse(text);
  EXPECT_TRUE(s.ok()) << s.status().ToString() << "\n" << text;
  return s.ok() ? *s : Schema();
}

TEST(SchemaTest, PrimitivesParseFromStringsAndObjects) {
  for (const char* name : {"null", "boolean", "int", "long", "float", "double", "bytes",
                           "string"}) {
    Schema a = MustParse(json(name).dump());
    Schema b = MustParse(json{{"type", name}}.dump());
    EXPECT_EQ(TypeName(a.type()), name);
    EXPECT_EQ(a, b);
    EXPECT_EQ(a.ToString(), json(name).dump());
  }
}

TEST(SchemaTest, JavaManifestListSchemaRendersByteForByte) {
  Schema s = MustParse(kJavaManifestFile);
  EXPECT_EQ(s.ToString(), kJavaManifestFile);
  ASSERT_EQ(s.type(), Type::kRecord);
  EXPECT_EQ(s.name(), "manifest_file");
  const Field* path = s.FindField("manifest_path");
  ASSERT_NE(path, nullptr);
  EXPECT_EQ(path->attributes.at("field-id"), 500);
  EXPECT_EQ(path->doc, "Location URI with FS scheme");
  EXPECT_FALSE(path->default_value.has_value());

  const Field* partitions = s.FindField("partitions");
  ASSERT_NE(partitions, nullptr);
  ASSERT_TRUE(partitions->default_value.has_value());
  EXPECT_TRUE(partitions->default_value->is_null());
  const Schema& array = partitions->type.branches().at(1);
  ASSERT_EQ(array.type(), Type::kArray);
  ASSERT_NE(array.attribute("element-id"), nullptr);
  EXPECT_EQ(*array.attribute("element-id"), 508);
  EXPECT_EQ(array.items().FindField("contains_nan")->attributes.at("field-id"), 518);

  const Schema& map = s.FindField("column_sizes")->type.branches().at(1);
  EXPECT_EQ(*map.attribute("logicalType"), "map");
  EXPECT_EQ(map.items().name(), "k117_v118");
  EXPECT_EQ(s.FieldIndex("key_metadata"), 8);
  EXPECT_EQ(s.FieldIndex("nope"), -1);
  EXPECT_TRUE(s.Validate().ok()) << s.Validate().ToString();
}

TEST(SchemaTest, BuilderRendersIcebergStyleJson) {
  Schema partition = Schema::Record(
      "r102", {Field{.name = "ts_day",
                     .type = Schema::Optional(Schema::Int().WithAttribute("logicalType", "date")),
                     .default_value = nullptr,
                     .attributes = {{"field-id", 1000}}}});
  Schema entry = Schema::Record(
      "manifest_entry",
      {Field{.name = "status", .type = Schema::Int(), .attributes = {{"field-id", 0}}},
       Field{.name = "snapshot_id",
             .type = Schema::Optional(Schema::Long()),
             .default_value = nullptr,
             .attributes = {{"field-id", 1}}},
       Field{.name = "partition", .type = partition, .attributes = {{"field-id", 102}}},
       Field{.name = "split_offsets",
             .type = Schema::Optional(
                 Schema::Array(Schema::Long()).WithAttribute("element-id", 133)),
             .doc = "Splittable offsets",
             .default_value = nullptr,
             .attributes = {{"field-id", 132}}},
       Field{.name = "uuid",
             .type = Schema::Fixed("uuid_fixed", 16).WithAttribute("logicalType", "uuid"),
             .attributes = {{"field-id", 7}}},
       Field{.name = "props",
             .type = Schema::Map(Schema::String())
                         .WithAttribute("key-id", 8)
                         .WithAttribute("value-id", 9),
             .attributes = {{"field-id", 10}}}});
  ASSERT_TRUE(entry.Validate().ok()) << entry.Validate().ToString();
  EXPECT_EQ(
      entry.ToString(),
      R"({"type":"record","name":"manifest_entry","fields":[)"
      R"({"name":"status","type":"int","field-id":0},)"
      R"({"name":"snapshot_id","type":["null","long"],"default":null,"field-id":1},)"
      R"({"name":"partition","type":{"type":"record","name":"r102","fields":[)"
      R"({"name":"ts_day","type":["null",{"type":"int","logicalType":"date"}],"default":null,"field-id":1000}]},"field-id":102},)"
      R"({"name":"split_offsets","type":["null",{"type":"array","items":"long","element-id":133}],)"
      R"("doc":"Splittable offsets","default":null,"field-id":132},)"
      R"({"name":"uuid","type":{"type":"fixed","name":"uuid_fixed","size":16,"logicalType":"uuid"},"field-id":7},)"
      R"({"name":"props","type":{"type":"map","values":"string","key-id":8,"value-id":9},"field-id":10}]})");
  EXPECT_EQ(MustParse(entry.ToString()), entry);
}

TEST(SchemaTest, NamedTypeIsDefinedOnceThenReferencedByName) {
  Schema point = Schema::Record("geo.Point", {Field{.name = "x", .type = Schema::Double()},
                                             Field{.name = "y", .type = Schema::Double()}});
  Schema line = Schema::Record("geo.Line", {Field{.name = "from", .type = point},
                                           Field{.name = "to", .type = point}});
  const std::string text = line.ToString();
  EXPECT_EQ(text,
            R"({"type":"record","name":"Line","namespace":"geo","fields":[)"
            R"({"name":"from","type":{"type":"record","name":"Point","fields":[)"
            R"({"name":"x","type":"double"},{"name":"y","type":"double"}]}},)"
            R"({"name":"to","type":"Point"}]})");
  Schema parsed = MustParse(text);
  EXPECT_EQ(parsed, line);
  EXPECT_EQ(parsed.fields()[1].type.full_name(), "geo.Point");
  EXPECT_TRUE(line.Validate().ok());
}

TEST(SchemaTest, NamespacesResolveAsTheSpecSays) {
  Schema s = MustParse(R"({"type":"record","name":"a.b.Outer","fields":[
      {"name":"inner","type":{"type":"record","name":"Inner","fields":[]}},
      {"name":"again","type":"Inner"},
      {"name":"full","type":"a.b.Inner"},
      {"name":"other","type":{"type":"enum","name":"E","namespace":"x","symbols":["A"]}},
      {"name":"other_ref","type":"x.E"},
      {"name":"top","type":{"type":"fixed","name":"F","namespace":"","size":2}},
      {"name":"top_ref","type":"F"}]})");
  EXPECT_EQ(s.name(), "Outer");
  EXPECT_EQ(s.name_space(), "a.b");
  EXPECT_EQ(s.fields()[0].type.full_name(), "a.b.Inner");
  EXPECT_EQ(s.fields()[1].type.full_name(), "a.b.Inner");
  EXPECT_EQ(s.fields()[2].type.full_name(), "a.b.Inner");
  EXPECT_EQ(s.fields()[3].type.full_name(), "x.E");
  EXPECT_EQ(s.fields()[4].type.full_name(), "x.E");
  EXPECT_EQ(s.fields()[5].type.full_name(), "F");
  EXPECT_EQ(s.fields()[6].type.full_name(), "F");  // falls back to the null namespace
  EXPECT_EQ(MustParse(s.ToString()), s);
}

TEST(SchemaTest, KeepsUnknownAttributesEverywhere) {
  const char* text = R"({"type":"record","name":"R","doc":"d","aliases":["Old"],"x-custom":{"a":[1,2]},
      "fields":[{"name":"f","type":{"type":"long","logicalType":"timestamp-micros","adjust-to-utc":true},
                 "order":"descending","aliases":["g"],"field-id":3},
                {"name":"e","type":{"type":"enum","name":"Suit","symbols":["S","H"],"default":"S"}},
                {"name":"d","type":{"type":"fixed","name":"dec","size":5,"logicalType":"decimal","precision":10,"scale":2}},
                {"name":"m","type":{"type":"map","values":"int","key-id":4,"value-id":5}}]})";
  Schema s = MustParse(text);
  EXPECT_EQ(s.doc(), "d");
  EXPECT_EQ(*s.attribute("aliases"), json::array({"Old"}));
  EXPECT_EQ((*s.attribute("x-custom"))["a"][1], 2);
  const Field& f = s.fields()[0];
  EXPECT_EQ(f.attributes.at("order"), "descending");
  EXPECT_EQ(f.attributes.at("field-id"), 3);
  EXPECT_EQ(*f.type.attribute("adjust-to-utc"), true);
  EXPECT_EQ(*s.fields()[1].type.attribute("default"), "S");
  EXPECT_EQ(*s.fields()[2].type.attribute("precision"), 10);
  EXPECT_EQ(s.fields()[2].type.fixed_size(), 5);
  EXPECT_EQ(*s.fields()[3].type.attribute("value-id"), 5);
  Schema again = MustParse(s.ToString());
  EXPECT_EQ(again, s);
  EXPECT_EQ(again.ToString(), s.ToString());
  EXPECT_TRUE(s.Validate().ok()) << s.Validate().ToString();
}

TEST(SchemaTest, ParseRejectsMalformedSchemas) {
  const char* bad[] = {
      "",
      "{",
      "42",
      "\"nosuchtype\"",
      R"({"fields":[]})",
      R"({"type":42})",
      R"({"type":"record","fields":[]})",
      R"({"type":"record","name":"R"})",
      R"({"type":"record","name":"R","fields":[{"type":"int"}]})",
      R"({"type":"record","name":"R","fields":[{"name":"a"}]})",
      R"({"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"a","type":"int"}]})",
      R"({"type":"record","name":"R","fields":[{"name":"a","type":{"type":"record","name":"R","fields":[]}}]})",
      R"(["int",["null"]])",
      R"(["int","int"])",
      R"([{"type":"fixed","name":"F","size":1},{"type":"fixed","name":"F","size":1}])",
      R"({"type":"enum","name":"E","symbols":["A","A"]})",
      R"({"type":"enum","name":"E","symbols":[1]})",
      R"({"type":"fixed","name":"F"})",
      R"({"type":"fixed","name":"F","size":-1})",
      R"({"type":"fixed","name":"F","size":1.5})",
      R"({"type":"fixed","name":"F","size":4294967296})",
      R"({"type":"array"})",
      R"({"type":"map","values":"nope"})",
      R"({"type":"record","name":"int","fields":[]})",
      R"({"type":"record","name":"a..b","fields":[]})",
      R"({"type":"record","name":"R","namespace":5,"fields":[]})",
      R"({"type":"record","name":"R","fields":[{"name":"a","type":"int","doc":7}]})",
  };
  for (const char* text : bad) {
    auto s = Schema::Parse(text);
    EXPECT_FALSE(s.ok()) << text;
    if (!s.ok()) {
      EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << text;
    }
  }
}

TEST(SchemaTest, RecursiveSchemasAreUnimplemented) {
  auto s = Schema::Parse(R"({"type":"record","name":"List","fields":[
      {"name":"value","type":"int"},{"name":"next","type":["null","List"]}]})");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kUnimplemented);
}

TEST(SchemaTest, DepthIsLimited) {
  std::string deep;
  for (int i = 0; i < 200; ++i) deep += R"({"type":"array","items":)";
  deep += "\"int\"";
  for (int i = 0; i < 200; ++i) deep += "}";
  auto s = Schema::Parse(deep);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);

  // Very deep JSON must not exhaust the stack, in a schema position or in an attribute
  // (JSON copies, comparisons and dumps recurse).
  std::string arrays(100000, '[');
  arrays += std::string(100000, ']');
  EXPECT_FALSE(Schema::Parse(arrays).ok());
  auto deep_attr = Schema::Parse(R"({"type":"int","x":)" + arrays + "}");
  ASSERT_FALSE(deep_attr.ok());
  EXPECT_EQ(deep_attr.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(DatumFromJson(Schema::String(), nlohmann::json::parse(arrays)).ok());
}

TEST(SchemaTest, ValidateAppliesWriterRules) {
  auto invalid = [](const Schema& s) {
    Status st = s.Validate();
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << s.ToString();
    return st.message();
  };
  invalid(Schema::Record("bad-name", {}));
  invalid(Schema::Record("1abc", {}));
  invalid(Schema::Record("ns.1bad.R", {}));
  invalid(Schema::Record("R", {Field{.name = "has space", .type = Schema::Int()}}));
  invalid(Schema::Record("R", {Field{.name = "a", .type = Schema::Int()},
                               Field{.name = "a", .type = Schema::Long()}}));
  EXPECT_NE(invalid(Schema::Record("R", {Field{.name = "a",
                                               .type = Schema::Optional(Schema::Long()),
                                               .default_value = 1}}))
                .find("invalid default"),
            std::string::npos);
  invalid(Schema::Record("R", {Field{.name = "a", .type = Schema::Int(),
                                     .default_value = "x"}}));
  invalid(Schema::Record("R", {Field{.name = "a", .type = Schema::Int(),
                                     .attributes = {{"type", "long"}}}}));
  invalid(Schema::Int().WithAttribute("type", "long"));
  invalid(Schema::Union({Schema::Int(), Schema::Int()}));
  invalid(Schema::Union({Schema::Int(), Schema::Union({Schema::Null()})}));
  invalid(Schema::Union({}));
  invalid(Schema::Optional(Schema::Int()).WithAttribute("x", 1));
  invalid(Schema::Enum("E", {"A", "A"}));
  invalid(Schema::Enum("E", {"A", "B-"}));
  invalid(Schema::Enum("E", {"A"}).WithAttribute("default", "Z"));
  invalid(Schema::Fixed("F", -1));
  // Two different definitions of one name cannot be told apart by a reader.
  invalid(Schema::Record("R", {Field{.name = "a", .type = Schema::Fixed("F", 1)},
                               Field{.name = "b", .type = Schema::Fixed("F", 2)}}));

  EXPECT_TRUE(Schema::Record("R", {Field{.name = "a", .type = Schema::Fixed("F", 1)},
                                   Field{.name = "b", .type = Schema::Fixed("F", 1)}})
                  .Validate()
                  .ok());
  EXPECT_TRUE(Schema::Record("R", {Field{.name = "b", .type = Schema::Bytes(),
                                         .default_value = "\u00ffA"},
                                   Field{.name = "u",
                                         .type = Schema::Union({Schema::String(),
                                                                Schema::Null()}),
                                         .default_value = "x"}})
                  .Validate()
                  .ok());
}

TEST(SchemaTest, MinEncodedSize) {
  EXPECT_EQ(Schema::Null().min_encoded_size(), 0);
  EXPECT_EQ(Schema::Int().min_encoded_size(), 1);
  EXPECT_EQ(Schema::Double().min_encoded_size(), 8);
  EXPECT_EQ(Schema::Record("E", {}).min_encoded_size(), 0);
  EXPECT_EQ(Schema::Fixed("F", 16).min_encoded_size(), 16);
  EXPECT_EQ(Schema::Optional(Schema::Double()).min_encoded_size(), 1);
  EXPECT_EQ(Schema::Record("R", {Field{.name = "a", .type = Schema::Float()},
                                 Field{.name = "b", .type = Schema::String()}})
                .min_encoded_size(),
            5);
}

TEST(SchemaTest, EqualityLooksAtEverything) {
  Schema a = Schema::Record("R", {Field{.name = "a", .type = Schema::Int(),
                                        .attributes = {{"field-id", 1}}}});
  Schema b = Schema::Record("R", {Field{.name = "a", .type = Schema::Int(),
                                        .attributes = {{"field-id", 2}}}});
  Schema c = Schema::Record("R", {Field{.name = "a", .type = Schema::Int(),
                                        .attributes = {{"field-id", 1}}}});
  EXPECT_NE(a, b);
  EXPECT_EQ(a, c);
  EXPECT_NE(Schema::Int(), Schema::Int().WithAttribute("logicalType", "date"));
  EXPECT_EQ(Schema(), Schema::Null());
}

TEST(SchemaTest, ACopyWithAnAttributeRendersItsOwnText) {
  // ToString is rendered once per node; a copy made by WithAttribute must not reuse the text of
  // the node it was copied from.
  Schema base = Schema::Record("r", {});
  const std::string before = base.ToString();
  Schema tagged = base.WithAttribute("doc-id", 7);
  EXPECT_EQ(base.ToString(), before);
  EXPECT_NE(tagged.ToString(), before);
  EXPECT_NE(tagged.ToString().find("\"doc-id\":7"), std::string::npos) << tagged.ToString();
}

}  // namespace
}  // namespace pg2iceberg::avro
