// Interoperability with fastavro, in both directions, through tests/avro/fastavro_interop.py
// run by the project venv's Python ($PG2I_VENV), and with Java Avro (what Iceberg Java reads
// manifests with) through tests/avro/JavaAvroInterop.java on $PG2I_JAVA_LIB_DIR's jars. Both
// are installed by scripts/bootstrap.sh.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include <unistd.h>

#include "avro/container.h"

namespace pg2iceberg::avro {
namespace {

namespace fs = std::filesystem;

constexpr int kRecords = 50;  // N in the script
const char* const kSuits[] = {"SPADES", "HEARTS", "DIAMONDS", "CLUBS"};

std::map<std::string, std::string> IcebergMetadata() {
  return {
      {"schema",
       R"({"type":"struct","schema-id":0,"fields":[{"id":1,"name":"id","required":true,"type":"long"}]})"},
      {"partition-spec",
       R"([{"name":"id_bucket","transform":"bucket[16]","source-id":1,"field-id":1000}])"},
      {"partition-spec-id", "0"},
      {"format-version", "2"},
      {"content", "data"},
  };
}

Field F(std::string name, Schema type, int id) {
  return Field{.name = std::move(name), .type = std::move(type), .attributes = {{"field-id", id}}};
}

Field Optional(std::string name, Schema type, int id) {
  return Field{.name = std::move(name),
               .type = Schema::Optional(std::move(type)),
               .default_value = nullptr,
               .attributes = {{"field-id", id}}};
}

Schema KvMap(std::string name, int key_id, int value_id, Schema value) {
  return Schema::Array(Schema::Record(std::move(name), {F("key", Schema::Int(), key_id),
                                                        F("value", std::move(value), value_id)}))
      .WithAttribute("logicalType", "map");
}

// SCHEMA in the script, built the way pg2iceberg builds manifest schemas.
Schema InteropSchema() {
  Field file_path = F("file_path", Schema::String(), 100);
  file_path.doc = "Location URI with FS scheme";
  Schema partition = Schema::Record(
      "r102", {Optional("id_bucket", Schema::Int(), 1000),
               Optional("day", Schema::Int().WithAttribute("logicalType", "date"), 1001)});
  Schema data_file = Schema::Record(
      "r2", {file_path, F("file_format", Schema::String(), 101),
             F("partition", partition, 102), F("record_count", Schema::Long(), 103),
             F("file_size_in_bytes", Schema::Long(), 104),
             Optional("column_sizes", KvMap("k117_v118", 117, 118, Schema::Long()), 108),
             Optional("lower_bounds", KvMap("k126_v127", 126, 127, Schema::Bytes()), 125),
             Optional("split_offsets",
                      Schema::Array(Schema::Long()).WithAttribute("element-id", 133), 132),
             Optional("sort_order_id", Schema::Int(), 140)});
  Schema extras = Schema::Record(
      "extras",
      {F("f", Schema::Float(), 200), F("d", Schema::Double(), 201),
       F("e", Schema::Enum("Suit", {kSuits[0], kSuits[1], kSuits[2], kSuits[3]}), 202),
       F("fx", Schema::Fixed("four", 4), 203),
       F("m", Schema::Map(Schema::String()).WithAttribute("key-id", 205).WithAttribute(
                  "value-id", 206),
         204),
       F("flag", Schema::Boolean(), 207)});
  return Schema::Record("manifest_entry",
                        {F("status", Schema::Int(), 0), Optional("snapshot_id", Schema::Long(), 1),
                         F("data_file", data_file, 2), F("extras", extras, 3)});
}

Datum Null() { return Datum::Union(0, Datum()); }
Datum Some(Datum d) { return Datum::Union(1, std::move(d)); }

// expected_record() in the script.
Datum ExpectedRecord(int i) {
  std::vector<Datum> sizes;
  for (int k = 1; k <= 3; ++k) {
    sizes.push_back(Datum::Record({{"key", Datum::Int(k)}, {"value", Datum::Long(k * i)}}));
  }
  std::string fx;
  for (int k = 0; k < 4; ++k) fx.push_back(static_cast<char>((i + k) % 256));
  char path[64];
  std::snprintf(path, sizeof(path), "s3://bucket/db/t/data/%05d.parquet", i);
  return Datum::Record({
      {"status", Datum::Int(i % 3)},
      {"snapshot_id", i % 5 == 0 ? Null() : Some(Datum::Long(1000 + i))},
      {"data_file",
       Datum::Record({
           {"file_path", Datum::String(path)},
           {"file_format", Datum::String("PARQUET")},
           {"partition",
            Datum::Record({{"id_bucket", i % 4 == 0 ? Null() : Some(Datum::Int(i % 16))},
                           {"day", i % 7 == 0 ? Null() : Some(Datum::Int(19000 + i))}})},
           {"record_count", Datum::Long(i * 100)},
           {"file_size_in_bytes", Datum::Long((int64_t{1} << 33) + i)},
           {"column_sizes", i % 2 ? Null() : Some(Datum::Array(std::move(sizes)))},
           {"lower_bounds",
            i % 6 == 0 ? Null()
                       : Some(Datum::Array({Datum::Record(
                             {{"key", Datum::Int(1)},
                              {"value", Datum::Bytes(std::string{static_cast<char>(i % 256),
                                                                 '\0', '\xff'})}})}))},
           {"split_offsets",
            i % 3 == 0 ? Null()
                       : Some(Datum::Array({Datum::Long(4), Datum::Long(4 + i * 1000)}))},
           {"sort_order_id", i % 2 == 0 ? Null() : Some(Datum::Int(0))},
       })},
      {"extras", Datum::Record({
                     {"f", Datum::Float(static_cast<float>(i) * 0.5f)},
                     {"d", Datum::Double(-i / 4.0)},
                     {"e", Datum::Enum(kSuits[i % 4], i % 4)},
                     {"fx", Datum::Fixed(fx)},
                     {"m", Datum::Map({{"k" + std::to_string(i), Datum::String("v")},
                                       {"\xc3\xa9", Datum::String("\xc3\xbc")}})},
                     {"flag", Datum::Boolean(i % 2 == 0)},
                 })},
  });
}

// Java's HashMap does not keep map order, which Avro does not promise anyway.
Datum SortMaps(const Datum& d) {
  switch (d.type()) {
    case Type::kRecord:
    case Type::kMap: {
      std::vector<Datum::Entry> entries;
      for (const auto& [k, v] : d.type() == Type::kRecord ? d.fields() : d.map_entries()) {
        entries.emplace_back(k, SortMaps(v));
      }
      if (d.type() == Type::kRecord) return Datum::Record(std::move(entries));
      std::sort(entries.begin(), entries.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      return Datum::Map(std::move(entries));
    }
    case Type::kArray: {
      std::vector<Datum> items;
      for (const Datum& item : d.items()) items.push_back(SortMaps(item));
      return Datum::Array(std::move(items));
    }
    case Type::kUnion:
      return Datum::Union(d.union_branch(), SortMaps(d.union_value()));
    default:
      return d;
  }
}

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

class AvroInteropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string source = EnvOr("PG2I_SOURCE_DIR", PG2I_AVRO_TEST_SOURCE_DIR);
    python_ = EnvOr("PG2I_VENV", source + "/.deps/venv") + "/bin/python";
    script_ = source + "/tests/avro/fastavro_interop.py";
    java_program_ = source + "/tests/avro/JavaAvroInterop.java";
    java_lib_dir_ = EnvOr("PG2I_JAVA_LIB_DIR", source + "/.deps/java/lib");
    const char* java_home = std::getenv("JAVA_HOME");
    java_ = java_home != nullptr && *java_home != '\0' ? std::string(java_home) + "/bin/java"
                                                      : "java";
    ASSERT_TRUE(fs::exists(python_)) << python_ << " is missing; run scripts/bootstrap.sh";
    ASSERT_TRUE(fs::exists(script_)) << script_;
    dir_ = fs::temp_directory_path() /
           ("pg2i_avro_interop_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Runs the script; returns its exit status and fills `output` with stdout and stderr.
  int RunScript(const std::string& args, std::string* output) {
    return Run("'" + python_ + "' '" + script_ + "' " + args, output);
  }

  int Run(const std::string& command, std::string* output) {
    const fs::path log = dir_ / "command.log";
    const std::string cmd = command + " >'" + log.string() + "' 2>&1";
    int rc = std::system(cmd.c_str());
    std::ifstream in(log);
    std::stringstream ss;
    ss << in.rdbuf();
    *output = ss.str();
    return rc;
  }

  std::string python_;
  std::string script_;
  std::string java_;
  std::string java_program_;
  std::string java_lib_dir_;
  fs::path dir_;
};

TEST_F(AvroInteropTest, FastavroReadsOurFiles) {
  for (Codec codec : {Codec::kNull, Codec::kDeflate}) {
    auto w = ContainerWriter::Create(InteropSchema(), IcebergMetadata(),
                                     {.codec = codec, .block_target_bytes = 1500});
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    for (int i = 0; i < kRecords; ++i) ASSERT_TRUE(w->Append(ExpectedRecord(i)).ok()) << i;
    auto bytes = w->Finish();
    ASSERT_TRUE(bytes.ok());
    const fs::path file = dir_ / ("ours_" + std::string(CodecName(codec)) + ".avro");
    std::ofstream(file, std::ios::binary) << *bytes;

    std::string output;
    int rc = RunScript("check '" + file.string() + "' " + std::string(CodecName(codec)), &output);
    EXPECT_EQ(rc, 0) << output;
    std::cout << output;
  }
}

TEST_F(AvroInteropTest, WeReadFastavroFiles) {
  const fs::path file = dir_ / "fastavro.avro";
  std::string output;
  ASSERT_EQ(RunScript("write '" + file.string() + "'", &output), 0) << output;
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();

  auto r = ContainerReader::Open(ss.str());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->codec(), Codec::kDeflate);
  for (const auto& [k, v] : IcebergMetadata()) EXPECT_EQ(r->metadata().at(k), v) << k;
  // The writer schema, with every id attribute, equals the one we build.
  EXPECT_EQ(r->schema(), InteropSchema()) << r->schema().ToString() << "\n"
                                          << InteropSchema().ToString();
  const Field* data_file = r->schema().FindField("data_file");
  ASSERT_NE(data_file, nullptr);
  EXPECT_EQ(data_file->attributes.at("field-id"), 2);
  const Schema& offsets = data_file->type.FindField("split_offsets")->type.branches()[1];
  EXPECT_EQ(*offsets.attribute("element-id"), 133);

  int i = 0;
  while (true) {
    auto v = r->Next();
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    if (!v->has_value()) break;
    ASSERT_EQ(**v, ExpectedRecord(i)) << "record " << i << "\n got " << (*v)->DebugString()
                                      << "\nwant " << ExpectedRecord(i).DebugString();
    ++i;
  }
  EXPECT_EQ(i, kRecords);
}

// Java Avro parses our schema strictly, reads our values, and writes them back; we read its
// file and find the same schema, metadata and values.
TEST_F(AvroInteropTest, JavaAvroReadsAndRewritesOurFiles) {
  std::error_code ec;
  ASSERT_TRUE(fs::is_directory(java_lib_dir_, ec))
      << java_lib_dir_ << " (Java Avro's jars) is missing; run scripts/bootstrap.sh";
  for (Codec codec : {Codec::kNull, Codec::kDeflate}) {
    auto w = ContainerWriter::Create(InteropSchema(), IcebergMetadata(),
                                     {.codec = codec, .block_target_bytes = 1500});
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    for (int i = 0; i < kRecords; ++i) ASSERT_TRUE(w->Append(ExpectedRecord(i)).ok()) << i;
    auto bytes = w->Finish();
    ASSERT_TRUE(bytes.ok());
    const fs::path ours = dir_ / ("ours_" + std::string(CodecName(codec)) + ".avro");
    const fs::path theirs = dir_ / ("java_" + std::string(CodecName(codec)) + ".avro");
    std::ofstream(ours, std::ios::binary) << *bytes;

    std::string output;
    int rc = Run("'" + java_ + "' -cp '" + java_lib_dir_ + "/*' '" + java_program_ + "' '" +
                     ours.string() + "' '" + theirs.string() + "'",
                 &output);
    ASSERT_EQ(rc, 0) << output;
    std::cout << output;

    std::ifstream in(theirs, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    auto r = ContainerReader::Open(ss.str());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->codec(), Codec::kDeflate);
    EXPECT_EQ(r->schema(), InteropSchema());
    for (const auto& [k, v] : IcebergMetadata()) EXPECT_EQ(r->metadata().at(k), v) << k;
    auto all = r->ReadAll();
    ASSERT_TRUE(all.ok()) << all.status().ToString();
    ASSERT_EQ(all->size(), static_cast<size_t>(kRecords));
    for (int i = 0; i < kRecords; ++i) {
      EXPECT_EQ(SortMaps((*all)[i]), SortMaps(ExpectedRecord(i))) << i;
    }
  }
}

}  // namespace
}  // namespace pg2iceberg::avro
