#include "avro/container.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "avro/deflate.h"

namespace pg2iceberg::avro {
namespace {

constexpr SyncMarker kSync = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                              0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};

Schema EntrySchema() {
  Schema partition = Schema::Record(
      "r102", {Field{.name = "id_bucket",
                     .type = Schema::Optional(Schema::Int()),
                     .default_value = nullptr,
                     .attributes = {{"field-id", 1000}}}});
  Schema data_file = Schema::Record(
      "r2",
      {Field{.name = "file_path", .type = Schema::String(), .attributes = {{"field-id", 100}}},
       Field{.name = "partition", .type = partition, .attributes = {{"field-id", 102}}},
       Field{.name = "record_count", .type = Schema::Long(), .attributes = {{"field-id", 103}}},
       Field{.name = "lower_bounds",
             .type = Schema::Optional(
                 Schema::Array(Schema::Record(
                                   "k126_v127",
                                   {Field{.name = "key", .type = Schema::Int(),
                                          .attributes = {{"field-id", 126}}},
                                    Field{.name = "value", .type = Schema::Bytes(),
                                          .attributes = {{"field-id", 127}}}}))
                     .WithAttribute("logicalType", "map")),
             .default_value = nullptr,
             .attributes = {{"field-id", 125}}}});
  return Schema::Record(
      "manifest_entry",
      {Field{.name = "status", .type = Schema::Int(), .attributes = {{"field-id", 0}}},
       Field{.name = "snapshot_id",
             .type = Schema::Optional(Schema::Long()),
             .default_value = nullptr,
             .attributes = {{"field-id", 1}}},
       Field{.name = "data_file", .type = data_file, .attributes = {{"field-id", 2}}}});
}

Datum Entry(int i) {
  std::vector<Datum> bounds;
  for (int k = 0; k < i % 3; ++k) {
    bounds.push_back(Datum::Record(
        {{"key", Datum::Int(k + 1)}, {"value", Datum::Bytes(std::string(4, static_cast<char>(i)))}}));
  }
  return Datum::Record({
      {"status", Datum::Int(1)},
      {"snapshot_id", Datum::Union(1, Datum::Long(1000 + i))},
      {"data_file",
       Datum::Record({
           {"file_path", Datum::String("s3://bucket/t/data/" + std::to_string(i) + ".parquet")},
           {"partition", Datum::Record({{"id_bucket", i % 4 ? Datum::Union(1, Datum::Int(i % 16))
                                                            : Datum::Union(0, Datum())}})},
           {"record_count", Datum::Long(i * 10)},
           {"lower_bounds", i % 3 ? Datum::Union(1, Datum::Array(std::move(bounds)))
                                  : Datum::Union(0, Datum())},
       })},
  });
}

std::map<std::string, std::string> IcebergMetadata() {
  return {{"schema", R"({"type":"struct","schema-id":0,"fields":[]})"},
          {"partition-spec", "[]"},
          {"partition-spec-id", "0"},
          {"format-version", "2"},
          {"content", "data"}};
}

std::string WriteFile(Codec codec, int n, size_t block_target = 64000) {
  auto w = ContainerWriter::Create(
      EntrySchema(), IcebergMetadata(),
      {.codec = codec, .block_target_bytes = block_target, .sync_marker = kSync});
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  for (int i = 0; i < n; ++i) {
    Status st = w->Append(Entry(i));
    EXPECT_TRUE(st.ok()) << st.ToString();
  }
  auto bytes = w->Finish();
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  return bytes.ok() ? *bytes : std::string();
}

// Counts blocks by walking the file with the primitives, independently of the reader.
int CountBlocks(const std::string& file, size_t header_size) {
  BinaryReader in(std::string_view(file).substr(header_size));
  int blocks = 0;
  while (!in.at_end()) {
    EXPECT_TRUE(in.ReadLong().ok());
    auto size = in.ReadLong();
    EXPECT_TRUE(size.ok());
    EXPECT_TRUE(in.ReadFixed(*size).ok());
    auto sync = in.ReadFixed(16);
    EXPECT_TRUE(sync.ok());
    EXPECT_EQ(*sync, std::string_view(reinterpret_cast<const char*>(kSync.data()), 16));
    ++blocks;
  }
  return blocks;
}

size_t HeaderSize(const std::string& file) {
  auto r = ContainerReader::Open(file);
  EXPECT_TRUE(r.ok());
  // The header ends at the first sync marker.
  return file.find(std::string(reinterpret_cast<const char*>(kSync.data()), 16)) + 16;
}

TEST(ContainerTest, RoundTripsWithBothCodecsAndManyBlocks) {
  for (Codec codec : {Codec::kNull, Codec::kDeflate}) {
    SCOPED_TRACE(std::string(CodecName(codec)));
    const int n = 500;
    std::string file = WriteFile(codec, n, /*block_target=*/2000);
    EXPECT_GT(CountBlocks(file, HeaderSize(file)), 5);

    auto r = ContainerReader::Open(file);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->codec(), codec);
    EXPECT_EQ(r->schema(), EntrySchema());
    EXPECT_EQ(r->sync_marker(), kSync);
    for (const auto& [k, v] : IcebergMetadata()) EXPECT_EQ(r->metadata().at(k), v) << k;
    EXPECT_EQ(r->metadata().at("avro.codec"), CodecName(codec));
    EXPECT_EQ(r->metadata().at("avro.schema"), EntrySchema().ToString());
    auto all = r->ReadAll();
    ASSERT_TRUE(all.ok()) << all.status().ToString();
    ASSERT_EQ(all->size(), static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) ASSERT_EQ((*all)[i], Entry(i)) << i;
    // The end stays the end.
    auto more = r->Next();
    ASSERT_TRUE(more.ok());
    EXPECT_FALSE(more->has_value());
  }
}

TEST(ContainerTest, DeflateCompresses) {
  EXPECT_LT(WriteFile(Codec::kDeflate, 300).size(), WriteFile(Codec::kNull, 300).size() / 2);
}

TEST(ContainerTest, HeaderLayoutIsByteExact) {
  auto w = ContainerWriter::Create(Schema::Long(), {{"k", "v"}},
                                   {.codec = Codec::kNull, .sync_marker = kSync});
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w->Append(Datum::Long(1)).ok());
  ASSERT_TRUE(w->Append(Datum::Long(-1)).ok());
  auto file = w->Finish();
  ASSERT_TRUE(file.ok());
  std::string expected("Obj\x01", 4);
  expected += '\x06';  // 3 metadata entries
  expected += "\x16" "avro.schema" "\x0c" "\"long\"";
  expected += "\x14" "avro.codec" "\x08" "null";
  expected += "\x02" "k" "\x02" "v";
  expected += '\0';  // end of the map
  expected.append(reinterpret_cast<const char*>(kSync.data()), 16);
  expected += "\x04\x04\x02\x01";  // block: 2 values, 2 bytes: 1, -1
  expected.append(reinterpret_cast<const char*>(kSync.data()), 16);
  EXPECT_EQ(*file, expected);
}

TEST(ContainerTest, EmptyFileIsHeaderOnly) {
  for (Codec codec : {Codec::kNull, Codec::kDeflate}) {
    auto w = ContainerWriter::Create(EntrySchema(), {}, {.codec = codec});
    ASSERT_TRUE(w.ok());
    auto file = w->Finish();
    ASSERT_TRUE(file.ok());
    auto r = ContainerReader::Open(*file);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    auto all = r->ReadAll();
    ASSERT_TRUE(all.ok());
    EXPECT_TRUE(all->empty());
  }
}

TEST(ContainerTest, RandomSyncMarkersDiffer) {
  auto a = ContainerWriter::Create(Schema::Int(), {});
  auto b = ContainerWriter::Create(Schema::Int(), {});
  ASSERT_TRUE(a.ok() && b.ok());
  auto fa = a->Finish();
  auto fb = b->Finish();
  ASSERT_TRUE(fa.ok() && fb.ok());
  EXPECT_NE(fa->substr(fa->size() - 16), fb->substr(fb->size() - 16));
}

TEST(ContainerTest, WriterRejectsBadInput) {
  EXPECT_EQ(ContainerWriter::Create(EntrySchema(), {{"avro.custom", "x"}}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ContainerWriter::Create(Schema::Record("bad name", {}), {}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ContainerWriter::Create(Schema::Int(), {}, {.deflate_level = 10}).status().code(),
            StatusCode::kInvalidArgument);

  auto w = ContainerWriter::Create(Schema::Int(), {}, {.sync_marker = kSync});
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->Append(Datum::String("x")).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(w->Append(Datum::Int(5)).ok());  // still usable
  EXPECT_EQ(w->value_count(), 1);
  auto file = w->Finish();
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(w->Append(Datum::Int(5)).code(), StatusCode::kFailedPrecondition);
  auto r = ContainerReader::Open(*file);
  ASSERT_TRUE(r.ok());
  auto all = r->ReadAll();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0], Datum::Int(5));
}

TEST(ContainerTest, FlushBoundsBlocksByCount) {
  auto w = ContainerWriter::Create(Schema::Int(), {},
                                   {.codec = Codec::kNull, .sync_marker = kSync});
  ASSERT_TRUE(w.ok());
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(w->Append(Datum::Int(i)).ok());
    if (i % 2 == 1) {
      ASSERT_TRUE(w->Flush().ok());
    }
  }
  ASSERT_TRUE(w->Flush().ok());  // empty: no block
  auto file = w->Finish();
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(CountBlocks(*file, HeaderSize(*file)), 3);
}

std::string Header(std::string_view schema, std::string_view codec) {
  std::string h("Obj\x01", 4);
  AppendLong(codec.empty() ? 1 : 2, &h);
  AppendBytes("avro.schema", &h);
  AppendBytes(schema, &h);
  if (!codec.empty()) {
    AppendBytes("avro.codec", &h);
    AppendBytes(codec, &h);
  }
  AppendLong(0, &h);
  h.append(reinterpret_cast<const char*>(kSync.data()), 16);
  return h;
}

std::string Block(int64_t count, std::string_view data, bool good_sync = true) {
  std::string b;
  AppendLong(count, &b);
  AppendLong(static_cast<int64_t>(data.size()), &b);
  b.append(data);
  std::string sync(reinterpret_cast<const char*>(kSync.data()), 16);
  if (!good_sync) sync[7] ^= 1;
  b += sync;
  return b;
}

StatusCode ReadCode(const std::string& file, ReaderOptions options = {}) {
  auto r = ContainerReader::Open(file, options);
  if (!r.ok()) return r.status().code();
  return r->ReadAll().status().code();
}

TEST(ContainerTest, ReaderRejectsCorruptFiles) {
  const std::string ints = "\x02\x04";  // 1, 2
  EXPECT_EQ(ReadCode(Header("\"int\"", "") + Block(2, ints)), StatusCode::kOk);  // no codec: null
  EXPECT_EQ(ReadCode("Obj"), StatusCode::kDataLoss);
  EXPECT_EQ(ReadCode("Obj\x02" + Header("\"int\"", "null").substr(4)), StatusCode::kDataLoss);
  EXPECT_EQ(ReadCode(Header("\"int\"", "null").substr(0, 30)), StatusCode::kDataLoss);
  EXPECT_EQ(ReadCode(Header("{", "null")), StatusCode::kDataLoss);
  EXPECT_EQ(ReadCode(Header("\"int\"", "snappy")), StatusCode::kUnimplemented);
  EXPECT_EQ(ReadCode(Header(R"({"type":"record","name":"L","fields":[{"name":"n","type":["null","L"]}]})",
                            "null")),
            StatusCode::kUnimplemented);
  // Missing avro.schema.
  {
    std::string f("Obj\x01", 4);
    AppendLong(1, &f);
    AppendBytes("avro.codec", &f);
    AppendBytes("null", &f);
    AppendLong(0, &f);
    f.append(reinterpret_cast<const char*>(kSync.data()), 16);
    EXPECT_EQ(ReadCode(f), StatusCode::kDataLoss);
  }
  // Duplicate metadata key.
  {
    std::string f("Obj\x01", 4);
    AppendLong(2, &f);
    AppendBytes("avro.schema", &f);
    AppendBytes("\"int\"", &f);
    AppendBytes("avro.schema", &f);
    AppendBytes("\"long\"", &f);
    AppendLong(0, &f);
    f.append(reinterpret_cast<const char*>(kSync.data()), 16);
    EXPECT_EQ(ReadCode(f), StatusCode::kDataLoss);
  }
  const std::string h = Header("\"int\"", "null");
  EXPECT_EQ(ReadCode(h + Block(2, ints, /*good_sync=*/false)), StatusCode::kDataLoss);
  EXPECT_EQ(ReadCode(h + Block(3, ints)), StatusCode::kDataLoss);   // too few values
  EXPECT_EQ(ReadCode(h + Block(1, ints)), StatusCode::kDataLoss);   // trailing bytes
  EXPECT_EQ(ReadCode(h + Block(-1, ints)), StatusCode::kDataLoss);  // negative count
  EXPECT_EQ(ReadCode(h + Block(1000000, ints)), StatusCode::kDataLoss);
  EXPECT_EQ(ReadCode(h + Block(2, ints) + "\x02"), StatusCode::kDataLoss);  // junk after
  EXPECT_EQ(ReadCode(h + Block(2, ints), {.max_block_bytes = 1}),
            StatusCode::kResourceExhausted);
  // A file of nulls may not claim more values than the zero-size budget.
  const std::string nulls = Header("\"null\"", "null");
  EXPECT_EQ(ReadCode(nulls + Block(1000, "")), StatusCode::kOk);
  EXPECT_EQ(ReadCode(nulls + Block(int64_t{1} << 50, "")), StatusCode::kDataLoss);
  EXPECT_EQ(ReadCode(nulls + Block(600, "") + Block(600, ""), {.zero_size_budget = 1000}),
            StatusCode::kDataLoss);
}

TEST(ContainerTest, DeflateBombIsCapped) {
  std::string zeros(100000, '\0');  // 100000 int zeros, a few hundred bytes compressed
  auto compressed = internal::DeflateRaw(zeros, 9);
  ASSERT_TRUE(compressed.ok());
  EXPECT_LT(compressed->size(), 1024u);
  const std::string h = Header("\"int\"", "deflate");
  EXPECT_EQ(ReadCode(h + Block(100000, *compressed)), StatusCode::kOk);
  EXPECT_EQ(ReadCode(h + Block(100000, *compressed), {.max_block_bytes = 50000}),
            StatusCode::kResourceExhausted);
  // Truncated and corrupt streams.
  EXPECT_EQ(ReadCode(h + Block(100000, compressed->substr(0, compressed->size() / 2))),
            StatusCode::kDataLoss);
  EXPECT_EQ(ReadCode(h + Block(1, "\xff\xff\xff")), StatusCode::kDataLoss);
  // Bytes after the end of the stream are ignored, as fastavro leaves some there.
  EXPECT_EQ(ReadCode(h + Block(100000, *compressed + "xyz")), StatusCode::kOk);
}

TEST(ContainerTest, InflateExactlyAtTheLimit) {
  std::string data(100000, 'a');
  auto compressed = internal::DeflateRaw(data, -1);
  ASSERT_TRUE(compressed.ok());
  auto exact = internal::InflateRaw(*compressed, data.size());
  ASSERT_TRUE(exact.ok()) << exact.status().ToString();
  EXPECT_EQ(*exact, data);
  EXPECT_EQ(internal::InflateRaw(*compressed, data.size() - 1).status().code(),
            StatusCode::kResourceExhausted);
  auto empty = internal::DeflateRaw("", -1);
  ASSERT_TRUE(empty.ok());
  auto back = internal::InflateRaw(*empty, 0);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->empty());
}

// Every prefix of a file either fails or reads a prefix of its values; flipped bytes never
// crash. (The fuzz target explores this further.)
TEST(ContainerTest, TruncatedAndCorruptedFilesFailCleanly) {
  for (Codec codec : {Codec::kNull, Codec::kDeflate}) {
    std::string file = WriteFile(codec, 12, /*block_target=*/300);
    for (size_t len = 0; len < file.size(); ++len) {
      auto r = ContainerReader::Open(file.substr(0, len));
      if (!r.ok()) {
        EXPECT_NE(r.status().code(), StatusCode::kOk);
        continue;
      }
      int i = 0;
      while (true) {
        auto v = r->Next();
        if (!v.ok()) {
          EXPECT_EQ(v.status().code(), StatusCode::kDataLoss) << v.status().ToString();
          break;
        }
        if (!v->has_value()) break;
        ASSERT_EQ(**v, Entry(i)) << "prefix " << len;
        ++i;
      }
    }
    std::mt19937 rng(7);
    for (int iter = 0; iter < 1500; ++iter) {
      std::string bad = file;
      bad[rng() % bad.size()] ^= static_cast<char>(1 + rng() % 255);
      auto r = ContainerReader::Open(bad);
      if (r.ok()) (void)r->ReadAll();
    }
  }
}

// Writes seed files for the fuzzer when PG2I_AVRO_WRITE_CORPUS names a directory:
//   PG2I_AVRO_WRITE_CORPUS=fuzz/corpus/avro build/src/avro/avro_test --gtest_filter='*Corpus*'
TEST(ContainerTest, WriteFuzzCorpus) {
  const char* dir = std::getenv("PG2I_AVRO_WRITE_CORPUS");
  if (dir == nullptr) GTEST_SKIP() << "PG2I_AVRO_WRITE_CORPUS not set";
  std::filesystem::create_directories(dir);
  auto put = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(std::filesystem::path(dir) / name, std::ios::binary) << bytes;
  };
  put("manifest_entry_null.avro", WriteFile(Codec::kNull, 3, 200));
  put("manifest_entry_deflate.avro", WriteFile(Codec::kDeflate, 3, 200));
  auto w = ContainerWriter::Create(
      Schema::Record("Everything",
                     {Field{.name = "b", .type = Schema::Boolean()},
                      Field{.name = "f", .type = Schema::Float()},
                      Field{.name = "d", .type = Schema::Double()},
                      Field{.name = "e", .type = Schema::Enum("E", {"A", "B"})},
                      Field{.name = "x", .type = Schema::Fixed("F", 2)},
                      Field{.name = "m", .type = Schema::Map(Schema::String())},
                      Field{.name = "n", .type = Schema::Null()}}),
      {{"k", "v"}}, {.codec = Codec::kNull, .sync_marker = kSync});
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w->Append(Datum::Record({{"b", Datum::Boolean(true)},
                                       {"f", Datum::Float(1.5f)},
                                       {"d", Datum::Double(-2)},
                                       {"e", Datum::Enum("B")},
                                       {"x", Datum::Fixed("xy")},
                                       {"m", Datum::Map({{"a", Datum::String("b")}})},
                                       {"n", Datum::Null()}}))
                  .ok());
  auto f = w->Finish();
  ASSERT_TRUE(f.ok());
  put("all_types_null.avro", *f);
}

}  // namespace
}  // namespace pg2iceberg::avro
