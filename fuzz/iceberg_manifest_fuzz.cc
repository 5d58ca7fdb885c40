// libFuzzer target for what pg2iceberg reads of tables other writers may also write: manifests,
// manifest lists and table metadata JSON (src/iceberg/manifest.h, metadata.h).
//
// Besides "no crash, no sanitizer report, no exception", it checks on every manifest the reader
// accepts that writing its entries back (what a manifest merge does with another writer's
// entries) either succeeds and reads back the same files, or fails with a status: a partition
// value of an unexpected type is an error, never std::bad_variant_access.
// Seeds (fuzz/corpus/iceberg/): manifests and manifest lists written by Iceberg Java, and the
// metadata files of src/iceberg/testdata/. See fuzz/run.sh.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "avro/container.h"
#include "iceberg/manifest.h"
#include "iceberg/metadata.h"

namespace {

using namespace pg2iceberg;           // NOLINT(build/namespaces)
using namespace pg2iceberg::iceberg;  // NOLINT(build/namespaces)

void Check(bool condition) {
  if (!condition) __builtin_trap();
}

// The schema and partition spec a manifest names in its own metadata, as a merge would use.
bool SchemaAndSpecOf(const std::string& bytes, Schema* schema, PartitionSpec* spec) {
  auto reader = avro::ContainerReader::Open(bytes);
  if (!reader.ok()) return false;
  const auto& meta = reader->metadata();
  auto s = meta.find("schema");
  auto fields = meta.find("partition-spec");
  auto id = meta.find("partition-spec-id");
  if (s == meta.end() || fields == meta.end()) return false;
  auto parsed_schema = ParseSchema(s->second);
  if (!parsed_schema.ok()) return false;
  const std::string spec_json = "{\"spec-id\": " + (id == meta.end() ? std::string("0") : id->second) +
                                ", \"fields\": " + fields->second + "}";
  auto parsed_spec = ParsePartitionSpec(spec_json);
  if (!parsed_spec.ok()) return false;
  *schema = std::move(*parsed_schema);
  *spec = std::move(*parsed_spec);
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    (void)ParseTableMetadata(bytes);
    (void)ReadManifestList(bytes);
    ManifestFile from;
    from.added_snapshot_id = 7;
    from.sequence_number = 3;
    auto entries = ReadManifest(bytes, from);
    if (!entries.ok() || entries->empty()) return 0;
    Schema schema;
    PartitionSpec spec;
    if (!SchemaAndSpecOf(bytes, &schema, &spec)) return 0;
    std::vector<ManifestEntry> same_content;
    for (const ManifestEntry& e : *entries) {
      if (e.file.content == entries->front().file.content) same_content.push_back(e);
    }
    const ManifestContent content = same_content.front().file.content == FileContent::kData
                                        ? ManifestContent::kData
                                        : ManifestContent::kDeletes;
    auto written = WriteManifest(2, schema, spec, content, 9, same_content);
    if (!written.ok()) return 0;
    ManifestFile again = written->summary;
    again.sequence_number = 3;
    auto back = ReadManifest(written->bytes, again);
    Check(back.ok());
    Check(back->size() == same_content.size());
    for (size_t i = 0; i < back->size(); ++i) {
      Check((*back)[i].file.file_path == same_content[i].file.file_path);
      Check((*back)[i].file.record_count == same_content[i].file.record_count);
    }
  } catch (...) {
    Check(false);  // an exception would end the process
  }
  return 0;
}
