// The other direction of the golden files: metadata that pg2iceberg writes (built with
// metadata_edit.h, for format versions 1, 2 and 3) is read by Iceberg Java's own
// TableMetadataParser (tools/java/.../ParseMetadata.java), which must report the same schemas,
// specs, sort orders, properties, snapshots, refs and logs; and what Java writes back from it
// parses to the same model here.
//
// Needs java and the test-tools jar (mvn -q -B -o -f tools/java/pom.xml package, done by
// scripts/bootstrap.sh). Label: integration.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fixtures/paths.h"
#include "fixtures/temp_dir.h"
#include "iceberg/metadata.h"
#include "iceberg/metadata_edit.h"

namespace pg2iceberg::iceberg {
namespace {

constexpr int64_t kT0 = 1700000000000;

std::string SourceDir() {
  const char* env = std::getenv("PG2I_SOURCE_DIR");
  return env != nullptr && *env != '\0' ? env : PG2I_METADATA_TEST_SOURCE_DIR;
}

std::string ToolsJar() { return SourceDir() + "/tools/java/target/pg2iceberg-test-tools.jar"; }

std::string Quote(const std::string& s) { return "'" + s + "'"; }

// Runs a shell command and returns its stdout and exit code.
std::pair<std::string, int> RunShell(const std::string& command) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return {"", -1};
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int rc = pclose(p);
  return {out, rc};
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ----- The summary ParseMetadata prints, computed from our model -----------------------------

std::string JavaTypeName(const DataType& t) {
  switch (t.kind) {
    case DataType::Kind::kPrimitive:
      if (t.primitive.id == TypeId::kDecimal) {
        return "decimal(" + std::to_string(t.primitive.precision) + ", " +
               std::to_string(t.primitive.scale) + ")";
      }
      return t.primitive.ToString();
    case DataType::Kind::kOpaque: return t.opaque;
    case DataType::Kind::kStruct: return "struct";
    case DataType::Kind::kList: return "list";
    case DataType::Kind::kMap: return "map";
  }
  return "?";
}

// A default value as Java's Object.toString prints it (strings unquoted; ints as is).
std::string JavaDefault(const std::string& raw) {
  nlohmann::json j = nlohmann::json::parse(raw);
  return j.is_string() ? j.get<std::string>() : j.dump();
}

void Fields(std::ostringstream& os, const std::vector<Field>& fields, int depth) {
  for (const Field& f : fields) {
    os << std::string(2 * depth, ' ') << f.id << ' ' << f.name << ' '
       << (f.required ? "required" : "optional") << ' ' << JavaTypeName(f.type);
    if (!f.doc.empty()) os << " doc=" << f.doc;
    if (f.initial_default_json) {
      os << " initial-default=" << JavaDefault(*f.initial_default_json);
    }
    if (f.write_default_json) os << " write-default=" << JavaDefault(*f.write_default_json);
    os << '\n';
    Fields(os, f.type.fields, depth + 1);
  }
}

template <typename T>
std::string OrNone(const std::optional<T>& v) {
  return v ? std::to_string(*v) : "none";
}

std::string JavaSummary(const TableMetadata& m) {
  std::ostringstream os;
  os << "format-version " << m.format_version << '\n'
     << "table-uuid " << m.table_uuid << '\n'
     << "location " << m.location << '\n'
     << "last-sequence-number " << m.last_sequence_number << '\n'
     << "last-updated-ms " << m.last_updated_ms << '\n'
     << "last-column-id " << m.last_column_id << '\n'
     << "current-schema-id " << m.current_schema_id << '\n';
  for (const Schema& s : m.schemas) {
    std::vector<int32_t> ids = s.identifier_field_ids();
    std::sort(ids.begin(), ids.end());
    os << "schema " << s.schema_id() << " identifier-field-ids [";
    for (size_t i = 0; i < ids.size(); ++i) os << (i ? "," : "") << ids[i];
    os << "]\n";
    Fields(os, s.fields(), 1);
  }
  os << "default-spec-id " << m.default_spec_id << '\n'
     << "last-partition-id " << m.last_partition_id << '\n';
  for (const PartitionSpec& spec : m.partition_specs) {
    os << "spec " << spec.spec_id << '\n';
    for (const PartitionField& f : spec.fields) {
      os << "  " << f.field_id << ' ' << f.name << ' ' << f.transform << " source "
         << f.source_id << '\n';
    }
  }
  os << "default-sort-order-id " << m.default_sort_order_id << '\n';
  for (const SortOrder& o : m.sort_orders) {
    os << "sort-order " << o.order_id << '\n';
    for (const SortField& f : o.fields) {
      os << "  " << f.transform << " source " << f.source_id << ' ' << f.direction << ' '
         << f.null_order << '\n';
    }
  }
  for (const auto& [k, v] : m.properties) os << "property " << k << '=' << v << '\n';
  os << "current-snapshot-id " << OrNone(m.current_snapshot_id) << '\n';
  if (m.format_version >= 3) os << "next-row-id " << m.next_row_id.value_or(0) << '\n';
  for (const Snapshot& s : m.snapshots) {
    os << "snapshot " << s.snapshot_id << " parent " << OrNone(s.parent_snapshot_id)
       << " sequence-number " << s.sequence_number << " timestamp-ms " << s.timestamp_ms
       << " schema-id " << OrNone(s.schema_id) << " first-row-id " << OrNone(s.first_row_id)
       << " added-rows " << OrNone(s.added_rows) << '\n';
    os << "  manifest-list " << s.manifest_list << '\n';
    for (const auto& [k, v] : s.summary) os << "  summary " << k << '=' << v << '\n';
  }
  for (const auto& [name, r] : m.refs) {
    os << "ref " << name << ' ' << r.type << ' ' << r.snapshot_id << " min-snapshots-to-keep "
       << OrNone(r.min_snapshots_to_keep) << " max-snapshot-age-ms "
       << OrNone(r.max_snapshot_age_ms) << " max-ref-age-ms " << OrNone(r.max_ref_age_ms)
       << '\n';
  }
  for (const SnapshotLogEntry& e : m.snapshot_log) {
    os << "snapshot-log " << e.timestamp_ms << ' ' << e.snapshot_id << '\n';
  }
  for (const MetadataLogEntry& e : m.metadata_log) {
    os << "metadata-log " << e.timestamp_ms << ' ' << e.metadata_file << '\n';
  }
  return os.str();
}

// ----- Metadata as pg2iceberg writes it ------------------------------------------------------

DataType Prim(TypeId id) { return DataType::Primitive(Type{id}); }

Field F(int32_t id, std::string name, DataType type, bool required = false,
        std::string doc = "") {
  return Field{id, std::move(name), required, std::move(type), std::move(doc), {}, {}};
}

DataType Nested(DataType::Kind kind, std::vector<Field> fields) {
  DataType t;
  t.kind = kind;
  t.fields = std::move(fields);
  return t;
}

Snapshot Snap(const std::string& location, int64_t id, std::optional<int64_t> parent,
              int64_t ts, int64_t added) {
  Snapshot s;
  s.snapshot_id = id;
  s.parent_snapshot_id = parent;
  s.timestamp_ms = ts;
  s.manifest_list = location + "/metadata/snap-" + std::to_string(id) + "-1-abc.avro";
  s.summary = {{"operation", "append"},
               {"added-data-files", "1"},
               {"added-records", std::to_string(added)},
               {"pg2iceberg.lsn", "0/16B3748"}};
  return s;
}

Result<TableMetadata> BuildTable(int32_t format_version) {
  std::vector<Field> fields = {
      F(1, "id", Prim(TypeId::kLong), true, "primary key"),
      F(2, "name", Prim(TypeId::kString), true),
      F(3, "amount", DataType::Primitive(Type::Decimal(10, 2))),
      F(4, "ts", Prim(TypeId::kTimestampTz)),
      F(5, "d", Prim(TypeId::kDate)),
      F(6, "t", Prim(TypeId::kTimestamp)),
      F(7, "f", Prim(TypeId::kFloat)),
      F(8, "flag", Prim(TypeId::kBoolean)),
      F(9, "u", Prim(TypeId::kUuid)),
      F(10, "fx", DataType::Opaque("fixed[8]")),
      F(11, "b", Prim(TypeId::kBinary)),
      F(12, "tm", Prim(TypeId::kTime)),
      F(13, "ev", Nested(DataType::Kind::kStruct,
                         {F(14, "at", Prim(TypeId::kTimestamp), true),
                          F(15, "note", Prim(TypeId::kString), false, "free text")})),
      F(16, "tags", Nested(DataType::Kind::kList, {F(17, "element", Prim(TypeId::kString))})),
      F(18, "attrs", Nested(DataType::Kind::kMap, {F(19, "key", Prim(TypeId::kString), true),
                                                   F(20, "value", Prim(TypeId::kInt))})),
  };
  if (format_version >= 3) {
    fields.push_back(F(21, "ts_ns", DataType::Opaque("timestamp_ns")));
    fields.push_back(F(22, "v", DataType::Opaque("variant")));
    Field with_default = F(23, "dflt", Prim(TypeId::kInt));
    with_default.initial_default_json = "42";
    with_default.write_default_json = "7";
    fields.push_back(with_default);
    Field str_default = F(24, "sdflt", Prim(TypeId::kString));
    str_default.initial_default_json = "\"n/a\"";
    fields.push_back(str_default);
  }
  PartitionSpec spec{0,
                     {{8, 0, "", "identity"},
                      {1, 0, "", "bucket[8]"},
                      {2, 0, "", "truncate[3]"},
                      {5, 0, "", "year"},
                      {6, 0, "", "month"},
                      {4, 0, "", "day"},
                      {14, 0, "", "hour"},
                      {3, 0, "", "void"}}};
  NewTableOptions options;
  options.format_version = format_version;
  options.sort_order.fields = {{"identity", 1, "asc", "nulls-first"},
                               {"bucket[4]", 2, "desc", "nulls-last"}};
  const std::string location = "s3://warehouse/db/interop_v" + std::to_string(format_version);
  PG2I_ASSIGN_OR_RETURN(
      TableMetadata m,
      NewTableMetadata(location, Schema(0, fields, {1, 2}), spec,
                       {{"owner", "pg2iceberg"}, {"write.metadata.previous-versions-max", "5"}},
                       "6f1c2b1e-3a54-4c1d-9e0b-7c2a1d3e4f5" + std::to_string(format_version),
                       kT0, options));
  std::string previous = location + "/metadata/00000-a.metadata.json";
  int64_t previous_ts = m.last_updated_ms;

  // Commit 1: an append on main, a tag and a branch.
  Snapshot s1 = Snap(location, 1001, std::nullopt, kT0 + 100, 10);
  s1.sequence_number = NextSequenceNumber(m);
  if (format_version >= 3) s1.added_rows = 10;
  PG2I_RETURN_IF_ERROR(ApplyUpdates(
      &m,
      {TableUpdate::AddSnapshot(s1),
       TableUpdate::SetSnapshotRef("main", SnapshotRef{1001, "branch", {}, {}, {}}),
       TableUpdate::SetSnapshotRef("release", SnapshotRef{1001, "tag", 604800000, {}, {}}),
       TableUpdate::SetSnapshotRef("audit", SnapshotRef{1001, "branch", {}, 3600000, 2})},
      kT0 + 100));
  PG2I_RETURN_IF_ERROR(AppendMetadataLog(&m, previous, previous_ts));
  previous = location + "/metadata/00001-b.metadata.json";
  previous_ts = m.last_updated_ms;

  // Commit 2: schema evolution (new column, float → double) and partition spec evolution.
  // NewTableMetadata gave the columns fresh ids: look them up by name.
  const Schema created = *m.CurrentSchema();
  auto id = [&](std::string_view dotted) {
    const Field* f = created.FindByName(std::string(dotted.substr(0, dotted.find('.'))));
    if (f != nullptr && dotted.find('.') != std::string_view::npos) {
      std::string child(dotted.substr(dotted.find('.') + 1));
      for (const Field& c : f->type.fields) {
        if (c.name == child) return c.id;
      }
      return 0;
    }
    return f != nullptr ? f->id : 0;
  };
  std::vector<Field> evolved = created.fields();
  evolved[6].type = Prim(TypeId::kDouble);
  evolved.push_back(F(0, "region", Prim(TypeId::kString), false, "added later"));
  PG2I_RETURN_IF_ERROR(ApplyUpdates(
      &m,
      {TableUpdate::AddSchema(Schema(0, evolved, {1, 2})), TableUpdate::SetCurrentSchema(-1),
       TableUpdate::AddSpec(PartitionSpec{0,
                                          {{id("flag"), 0, "", "identity"},
                                           {id("id"), 0, "", "bucket[8]"},
                                           {id("d"), 0, "", "year"},
                                           {id("t"), 0, "", "month"},
                                           {id("ts"), 0, "", "day"},
                                           {id("ev.at"), 0, "", "hour"},
                                           {id("amount"), 0, "", "void"},
                                           {id("u"), 0, "", "bucket[4]"}}}),
       TableUpdate::SetDefaultSpec(-1), TableUpdate::SetProperties({{"commit", "2"}})},
      kT0 + 200));
  PG2I_RETURN_IF_ERROR(AppendMetadataLog(&m, previous, previous_ts));
  previous = location + "/metadata/00002-c.metadata.json";
  previous_ts = m.last_updated_ms;

  // Commit 3: a second append on main, checked against the first.
  PG2I_RETURN_IF_ERROR(
      CheckRequirements(&m, {TableRequirement::AssertRefSnapshotId("main", 1001)}));
  Snapshot s2 = Snap(location, 1002, 1001, kT0 + 300, 5);
  if (format_version >= 3) s2.added_rows = 5;
  PG2I_RETURN_IF_ERROR(AddSnapshot(&m, s2));
  PG2I_RETURN_IF_ERROR(AppendMetadataLog(&m, previous, previous_ts));
  PG2I_RETURN_IF_ERROR(ValidateTableMetadata(m));
  return m;
}

class MetadataJavaInteropTest : public ::testing::TestWithParam<int32_t> {};

TEST_P(MetadataJavaInteropTest, IcebergJavaReadsWhatWeWrite) {
  const int32_t version = GetParam();
  ASSERT_TRUE(std::ifstream(ToolsJar()).good())
      << ToolsJar() << " is missing; build it: mvn -q -B -o -f tools/java/pom.xml package";
  Result<fixtures::TempDir> dir = fixtures::TempDir::Create("pg2i-meta-");
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();

  Result<TableMetadata> built = BuildTable(version);
  ASSERT_TRUE(built.ok()) << built.status().ToString();
  const TableMetadata& m = *built;
  ASSERT_EQ(m.snapshots.size(), 2u);
  ASSERT_EQ(m.schemas.size(), 2u);

  for (bool pretty : {false, true}) {
    SCOPED_TRACE(pretty ? "pretty" : "compact");
    const std::string ours = dir->str() + "/v" + std::to_string(version) +
                             (pretty ? "-pretty" : "") + ".metadata.json";
    const std::string rewritten = ours + ".java.json";
    const std::string err = ours + ".stderr";
    {
      std::ofstream out(ours, std::ios::binary);
      out << SerializeTableMetadata(m, pretty);
    }
    auto [summary, rc] =
        RunShell(Quote(fixtures::JavaPath()) + " -cp " +
            Quote(ToolsJar() + ":" + fixtures::JavaLibDir() + "/*") +
            " dev.pg2iceberg.tools.ParseMetadata " + Quote(ours) + " --rewrite " +
            Quote(rewritten) + " 2>" + Quote(err));
    ASSERT_EQ(rc, 0) << "Iceberg Java failed to read our metadata:\n" << ReadFile(err);
    EXPECT_EQ(summary, JavaSummary(m));

    // Java's own serialisation of what it read comes back to the same model. Java adds empty
    // statistics lists, which we keep as unknown keys.
    Result<TableMetadata> back = ParseTableMetadata(ReadFile(rewritten));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    TableMetadata theirs = *back;
    EXPECT_EQ(theirs.extra.at("statistics"), "[]");
    EXPECT_EQ(theirs.extra.at("partition-statistics"), "[]");
    theirs.extra.erase("statistics");
    theirs.extra.erase("partition-statistics");
    EXPECT_EQ(theirs, m);
  }
}

INSTANTIATE_TEST_SUITE_P(FormatVersions, MetadataJavaInteropTest, ::testing::Values(1, 2, 3),
                         [](const auto& info) { return "v" + std::to_string(info.param); });

}  // namespace
}  // namespace pg2iceberg::iceberg
