// libFuzzer target for the Avro object container reader (src/avro/container.h).
//
// Besides "no crash, no sanitizer report", it checks three properties on every input the
// reader accepts, and traps when one fails:
//   1. the writer schema renders to JSON that parses back to an equal schema;
//   2. every decoded value encodes and decodes back to itself (a decoded string that is not
//      UTF-8 is the one thing the encoder may refuse);
//   3. when the schema is valid for writing, ContainerWriter writes the values and metadata
//      into a file that reads back equal.
// See docs/avro.md and fuzz/run.sh.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "avro/container.h"
#include "avro/encoding.h"

namespace {

using namespace pg2iceberg::avro;  // NOLINT(build/namespaces)

// Smaller limits than the defaults keep each execution fast; the checks are the same.
constexpr size_t kMaxBlockBytes = size_t{1} << 20;
constexpr int64_t kZeroSizeBudget = int64_t{1} << 16;
constexpr size_t kMaxValues = 2000;

void Check(bool condition) {
  if (!condition) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto reader = ContainerReader::Open(std::string(reinterpret_cast<const char*>(data), size),
                                      {.max_block_bytes = kMaxBlockBytes,
                                       .zero_size_budget = kZeroSizeBudget});
  if (!reader.ok()) return 0;
  const Schema& schema = reader->schema();

  auto reparsed = Schema::Parse(schema.ToString());
  Check(reparsed.ok() && *reparsed == schema);

  std::vector<Datum> values;
  bool read_all = false;
  while (values.size() < kMaxValues) {
    auto next = reader->Next();
    if (!next.ok()) break;
    if (!next->has_value()) {
      read_all = true;
      break;
    }
    const Datum& value = **next;
    std::string bytes;
    pg2iceberg::Status st = Encode(schema, value, &bytes);
    if (st.ok()) {
      auto back = DecodeExactly(schema, bytes);
      Check(back.ok() && *back == value);
      values.push_back(std::move(**next));
    } else {
      Check(st.message().find("UTF-8") != std::string::npos);
      read_all = false;
      break;
    }
  }

  if (!read_all || !schema.Validate().ok()) return 0;
  std::map<std::string, std::string> metadata;
  for (const auto& [key, value] : reader->metadata()) {
    if (key.rfind("avro.", 0) != 0) metadata.emplace(key, value);
  }
  auto writer = ContainerWriter::Create(
      schema, metadata,
      {.codec = reader->codec(),
       .block_target_bytes = 512,
       .sync_marker = reader->sync_marker()});
  Check(writer.ok());
  for (const Datum& value : values) Check(writer->Append(value).ok());
  auto file = writer->Finish();
  Check(file.ok());
  auto again = ContainerReader::Open(std::move(file).value(),
                                     {.max_block_bytes = SIZE_MAX,
                                      .zero_size_budget = kZeroSizeBudget});
  Check(again.ok());
  Check(again->schema() == schema);
  for (const auto& [key, value] : metadata) {
    auto it = again->metadata().find(key);
    Check(it != again->metadata().end() && it->second == value);
  }
  auto all = again->ReadAll();
  Check(all.ok() && *all == values);
  return 0;
}
