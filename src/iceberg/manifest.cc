#include "iceberg/manifest.h"

#include <algorithm>

#include "avro/container.h"
#include "base/memo.h"
#include "iceberg/single_value.h"
#include "iceberg/transform.h"

namespace pg2iceberg::iceberg {
namespace {

using avro::Datum;
using Json = nlohmann::json;

avro::Field F(std::string name, avro::Schema type, int32_t id, bool optional = false) {
  avro::Field f;
  f.name = std::move(name);
  if (optional) {
    f.type = avro::Schema::Optional(std::move(type));
    f.default_value = Json(nullptr);
  } else {
    f.type = std::move(type);
  }
  f.attributes["field-id"] = id;
  return f;
}

// Iceberg map<int, V> as Avro: an array of key/value records with logicalType "map".
avro::Schema IntMap(int32_t key_id, int32_t value_id, avro::Schema value) {
  std::string name = "k" + std::to_string(key_id) + "_v" + std::to_string(value_id);
  avro::Schema rec = avro::Schema::Record(
      name, {F("key", avro::Schema::Int(), key_id), F("value", std::move(value), value_id)});
  return avro::Schema::Array(rec).WithAttribute("logicalType", "map");
}

avro::Schema IntArray(int32_t element_id, avro::Schema element) {
  return avro::Schema::Array(std::move(element)).WithAttribute("element-id", element_id);
}

int32_t DecimalBytes(int32_t precision) {
  // Smallest n with 2^(8n-1) > 10^precision.
  for (int32_t n = 1; n <= 16; ++n) {
    long double max = 1;
    for (int i = 0; i < 8 * n - 1; ++i) max *= 2;
    long double need = 1;
    for (int i = 0; i < precision; ++i) need *= 10;
    if (max > need) return n;
  }
  return 16;
}

Result<avro::Schema> AvroTypeFor(const Type& t) {
  switch (t.id) {
    case TypeId::kBoolean: return avro::Schema::Boolean();
    case TypeId::kInt: return avro::Schema::Int();
    case TypeId::kLong: return avro::Schema::Long();
    case TypeId::kFloat: return avro::Schema::Float();
    case TypeId::kDouble: return avro::Schema::Double();
    case TypeId::kDate: return avro::Schema::Int().WithAttribute("logicalType", "date");
    case TypeId::kTime: return avro::Schema::Long().WithAttribute("logicalType", "time-micros");
    case TypeId::kTimestamp:
      return avro::Schema::Long()
          .WithAttribute("logicalType", "timestamp-micros")
          .WithAttribute("adjust-to-utc", false);
    case TypeId::kTimestampTz:
      return avro::Schema::Long()
          .WithAttribute("logicalType", "timestamp-micros")
          .WithAttribute("adjust-to-utc", true);
    case TypeId::kString: return avro::Schema::String();
    case TypeId::kBinary: return avro::Schema::Bytes();
    case TypeId::kUuid:
      return avro::Schema::Fixed("uuid_fixed", 16).WithAttribute("logicalType", "uuid");
    case TypeId::kDecimal:
      return avro::Schema::Fixed("decimal_" + std::to_string(t.precision) + "_" +
                                     std::to_string(t.scale),
                                 DecimalBytes(t.precision))
          .WithAttribute("logicalType", "decimal")
          .WithAttribute("precision", t.precision)
          .WithAttribute("scale", t.scale);
  }
  return InvalidArgument("no Avro mapping for " + t.ToString());
}

}  // namespace

Result<Value> PartitionValueAs(const Type& t, const Value& v) {
  if (IsNull(v)) return v;
  auto mismatch = [&]() {
    return InvalidArgument("a partition value of another type (variant index " +
                           std::to_string(v.index()) + ") for a partition field of type " +
                           t.ToString());
  };
  // Other writers read and write the same ordinal under other logical types: a day ordinal is
  // an Avro int with logicalType "date" from Iceberg Java and Spark; an hour ordinal an int.
  switch (t.id) {
    case TypeId::kInt:
      if (const auto* d = std::get_if<Date>(&v)) return Value(d->days);
      if (std::holds_alternative<int32_t>(v)) return v;
      return mismatch();
    case TypeId::kLong:
      if (const auto* i = std::get_if<int32_t>(&v)) return Value(int64_t{*i});
      if (std::holds_alternative<int64_t>(v)) return v;
      return mismatch();
    case TypeId::kDate:
      if (const auto* i = std::get_if<int32_t>(&v)) return Value(Date{*i});
      if (std::holds_alternative<Date>(v)) return v;
      return mismatch();
    case TypeId::kTimestamp:
      if (const auto* i = std::get_if<int64_t>(&v)) return Value(Timestamp{*i});
      if (std::holds_alternative<Timestamp>(v)) return v;
      return mismatch();
    case TypeId::kTimestampTz:
      if (const auto* i = std::get_if<int64_t>(&v)) return Value(TimestampTz{*i});
      if (std::holds_alternative<TimestampTz>(v)) return v;
      return mismatch();
    case TypeId::kTime:
      if (const auto* i = std::get_if<int64_t>(&v)) return Value(Time{*i});
      if (std::holds_alternative<Time>(v)) return v;
      return mismatch();
    case TypeId::kDouble:
      if (const auto* f = std::get_if<float>(&v)) return Value(double{*f});
      if (std::holds_alternative<double>(v)) return v;
      return mismatch();
    case TypeId::kBinary:
      if (const auto* str = std::get_if<std::string>(&v)) return Value(Binary{*str});
      if (std::holds_alternative<Binary>(v)) return v;
      return mismatch();
    case TypeId::kBoolean:
      return std::holds_alternative<bool>(v) ? Result<Value>(v) : mismatch();
    case TypeId::kFloat:
      return std::holds_alternative<float>(v) ? Result<Value>(v) : mismatch();
    case TypeId::kString:
      return std::holds_alternative<std::string>(v) ? Result<Value>(v) : mismatch();
    case TypeId::kUuid:
      return std::holds_alternative<Uuid>(v) ? Result<Value>(v) : mismatch();
    case TypeId::kDecimal:
      return std::holds_alternative<Decimal128>(v) ? Result<Value>(v) : mismatch();
  }
  return mismatch();
}

namespace {

// `v` must already be of `t`'s value type (PartitionValueAs).
Result<Datum> ToDatum(const Type& t, const Value& v) {
  if (IsNull(v)) return Datum::Union(0, Datum::Null());
  Datum d;
  switch (t.id) {
    case TypeId::kBoolean: d = Datum::Boolean(std::get<bool>(v)); break;
    case TypeId::kInt: d = Datum::Int(std::get<int32_t>(v)); break;
    case TypeId::kLong: d = Datum::Long(std::get<int64_t>(v)); break;
    case TypeId::kFloat: d = Datum::Float(std::get<float>(v)); break;
    case TypeId::kDouble: d = Datum::Double(std::get<double>(v)); break;
    case TypeId::kDate: d = Datum::Int(std::get<Date>(v).days); break;
    case TypeId::kTime: d = Datum::Long(std::get<Time>(v).micros); break;
    case TypeId::kTimestamp: d = Datum::Long(std::get<Timestamp>(v).micros); break;
    case TypeId::kTimestampTz: d = Datum::Long(std::get<TimestampTz>(v).micros); break;
    case TypeId::kString: d = Datum::String(std::get<std::string>(v)); break;
    case TypeId::kBinary: d = Datum::Bytes(std::get<Binary>(v).bytes); break;
    case TypeId::kUuid: {
      const auto& b = std::get<Uuid>(v).bytes;
      d = Datum::Fixed(std::string(b.begin(), b.end()));
      break;
    }
    case TypeId::kDecimal: {
      std::string minimal = MinimalBigEndianBytes(std::get<Decimal128>(v).unscaled);
      const size_t size = static_cast<size_t>(DecimalBytes(t.precision));
      if (minimal.size() > size) return InvalidArgument("decimal does not fit its precision");
      const char pad = (!minimal.empty() && (minimal[0] & 0x80)) ? '\xFF' : '\0';
      d = Datum::Fixed(std::string(size - minimal.size(), pad) + minimal);
      break;
    }
  }
  return Datum::Union(1, std::move(d));
}

// Reads a partition value using the Avro field's own (logical) type, so manifests written by
// other engines read without consulting the table schema.
Value FromDatum(const avro::Schema& field_schema, const Datum& raw) {
  const Datum& d = raw.Unwrapped();
  if (d.is_null()) return Value();
  const avro::Schema* s = &field_schema;
  if (s->type() == avro::Type::kUnion) {
    for (const auto& b : s->branches()) {
      if (b.type() != avro::Type::kNull) s = &b;
    }
  }
  const Json* logical = s->attribute("logicalType");
  const std::string lt = logical && logical->is_string() ? logical->get<std::string>() : "";
  switch (d.type()) {
    case avro::Type::kBoolean: return Value(d.bool_value());
    case avro::Type::kInt:
      if (lt == "date") return Value(Date{d.int_value()});
      return Value(d.int_value());
    case avro::Type::kLong:
      if (lt == "time-micros") return Value(Time{d.long_value()});
      if (lt == "timestamp-micros") {
        const Json* utc = s->attribute("adjust-to-utc");
        if (utc && utc->is_boolean() && utc->get<bool>()) {
          return Value(TimestampTz{d.long_value()});
        }
        return Value(Timestamp{d.long_value()});
      }
      return Value(d.long_value());
    case avro::Type::kFloat: return Value(d.float_value());
    case avro::Type::kDouble: return Value(d.double_value());
    case avro::Type::kString: return Value(d.string_value());
    case avro::Type::kBytes: return Value(Binary{d.bytes_value()});
    case avro::Type::kFixed: {
      const std::string& b = d.fixed_value();
      if (lt == "uuid" && b.size() == 16) {
        Uuid u;
        std::copy(b.begin(), b.end(), u.bytes.begin());
        return Value(u);
      }
      if (lt == "decimal") {
        __int128 v = (!b.empty() && (b[0] & 0x80)) ? -1 : 0;
        for (unsigned char c : b) v = (v << 8) | c;
        const Json* scale = s->attribute("scale");
        return Value(Decimal128{v, scale && scale->is_number() ? scale->get<int32_t>() : 0});
      }
      return Value(Binary{b});
    }
    default: return Value();
  }
}

Datum IntLongMap(const std::map<int32_t, int64_t>& m) {
  std::vector<Datum> items;
  items.reserve(m.size());
  for (const auto& [k, v] : m) {
    items.push_back(Datum::Record({{"key", Datum::Int(k)}, {"value", Datum::Long(v)}}));
  }
  return Datum::Union(1, Datum::Array(std::move(items)));
}

Datum IntBytesMap(const std::map<int32_t, std::string>& m) {
  std::vector<Datum> items;
  items.reserve(m.size());
  for (const auto& [k, v] : m) {
    items.push_back(Datum::Record({{"key", Datum::Int(k)}, {"value", Datum::Bytes(v)}}));
  }
  return Datum::Union(1, Datum::Array(std::move(items)));
}

template <typename V>
void ReadMap(const Datum* d, std::map<int32_t, V>* out) {
  if (d == nullptr) return;
  const Datum& a = d->Unwrapped();
  if (a.type() != avro::Type::kArray) return;
  for (const Datum& item : a.items()) {
    const Datum* k = item.FindField("key");
    const Datum* v = item.FindField("value");
    if (!k || !v) continue;
    if constexpr (std::is_same_v<V, int64_t>) {
      (*out)[k->int_value()] = v->Unwrapped().long_value();
    } else {
      (*out)[k->int_value()] = v->Unwrapped().bytes_value();
    }
  }
}

std::optional<int64_t> OptLong(const Datum* d) {
  if (d == nullptr || d->Unwrapped().is_null()) return std::nullopt;
  return d->Unwrapped().long_value();
}

Status Missing(const char* what) {
  return DataLoss(std::string("manifest entry lacks required field ") + what);
}

// The Avro shape a known field of a manifest or manifest list must have (after an optional
// ["null", T] union), so that reading its values cannot meet a value of another type. Fields
// not listed, and listed fields the file lacks, are not checked here.
struct Shape {
  std::string name;
  avro::Type type;
  std::vector<Shape> fields;    // a record's known fields
  std::vector<Shape> items;     // an array's item: one Shape (its name unused)
};

const avro::Schema* NonNull(const avro::Schema& s) {
  if (s.type() != avro::Type::kUnion) return &s;
  const avro::Schema* found = nullptr;
  for (const auto& b : s.branches()) {
    if (b.type() == avro::Type::kNull) continue;
    if (found != nullptr) return nullptr;  // a union of several types
    found = &b;
  }
  return found;
}

Status CheckShape(const avro::Schema& schema, const Shape& want, const std::string& path) {
  const avro::Schema* s = NonNull(schema);
  if (s == nullptr || s->type() != want.type) {
    return DataLoss("field " + path + " has an unexpected Avro type; this file was not written "
                    "as the Iceberg spec says");
  }
  for (const Shape& f : want.fields) {
    if (const avro::Field* have = s->FindField(f.name)) {
      PG2I_RETURN_IF_ERROR(CheckShape(have->type, f, path + "." + f.name));
    }
  }
  if (!want.items.empty()) PG2I_RETURN_IF_ERROR(CheckShape(s->items(), want.items[0], path + "[]"));
  return Status::Ok();
}

Shape IntMapShape(const std::string& name, avro::Type value) {
  return {name, avro::Type::kArray, {},
          {{"", avro::Type::kRecord, {{"key", avro::Type::kInt}, {"value", value}}}}};
}

const Shape& ManifestEntryShape() {
  using T = avro::Type;
  static const Shape shape{
      "manifest_entry", T::kRecord,
      {{"status", T::kInt},
       {"snapshot_id", T::kLong},
       {"sequence_number", T::kLong},
       {"file_sequence_number", T::kLong},
       {"data_file", T::kRecord,
        {{"content", T::kInt},
         {"file_path", T::kString},
         {"file_format", T::kString},
         {"partition", T::kRecord},
         {"record_count", T::kLong},
         {"file_size_in_bytes", T::kLong},
         IntMapShape("column_sizes", T::kLong),
         IntMapShape("value_counts", T::kLong),
         IntMapShape("null_value_counts", T::kLong),
         IntMapShape("nan_value_counts", T::kLong),
         IntMapShape("lower_bounds", T::kBytes),
         IntMapShape("upper_bounds", T::kBytes),
         {"split_offsets", T::kArray, {}, {{"", T::kLong}}},
         {"equality_ids", T::kArray, {}, {{"", T::kInt}}},
         {"sort_order_id", T::kInt},
         {"first_row_id", T::kLong},
         {"referenced_data_file", T::kString},
         {"content_offset", T::kLong},
         {"content_size_in_bytes", T::kLong}}}}};
  return shape;
}

const Shape& ManifestFileShape() {
  using T = avro::Type;
  static const Shape shape{
      "manifest_file", T::kRecord,
      {{"manifest_path", T::kString},
       {"manifest_length", T::kLong},
       {"partition_spec_id", T::kInt},
       {"content", T::kInt},
       {"sequence_number", T::kLong},
       {"min_sequence_number", T::kLong},
       {"added_snapshot_id", T::kLong},
       {"added_files_count", T::kInt},
       {"existing_files_count", T::kInt},
       {"deleted_files_count", T::kInt},
       {"added_data_files_count", T::kInt},
       {"existing_data_files_count", T::kInt},
       {"deleted_data_files_count", T::kInt},
       {"added_rows_count", T::kLong},
       {"existing_rows_count", T::kLong},
       {"deleted_rows_count", T::kLong},
       {"first_row_id", T::kLong},
       {"partitions", T::kArray, {},
        {{"", T::kRecord,
          {{"contains_null", T::kBoolean},
           {"contains_nan", T::kBoolean},
           {"lower_bound", T::kBytes},
           {"upper_bound", T::kBytes}}}}}}};
  return shape;
}

}  // namespace

Result<std::vector<Type>> PartitionTypes(const Schema& schema, const PartitionSpec& spec) {
  std::vector<Type> out;
  for (const PartitionField& pf : spec.fields) {
    const Field* src = schema.FindById(pf.source_id);
    if (src == nullptr || !src->type.is_primitive()) {
      return InvalidArgument("partition field " + pf.name + " refers to source id " +
                             std::to_string(pf.source_id) + ", which is not a primitive column");
    }
    PG2I_ASSIGN_OR_RETURN(Transform t, Transform::Parse(pf.transform));
    PG2I_ASSIGN_OR_RETURN(Type rt, t.ResultType(src->type.primitive));
    out.push_back(rt);
  }
  return out;
}

namespace {

// The Avro schema of a manifest's entries. Built once per format version and partition type
// and reused, so that its JSON (in every manifest's header) is rendered once.
Result<avro::Schema> ManifestEntrySchema(int32_t format_version, const std::vector<Type>& ptypes,
                                         const PartitionSpec& spec) {
  static Memo<avro::Schema> built(64);
  std::vector<avro::Field> pfields;
  std::string key = "v" + std::to_string(format_version);
  for (size_t i = 0; i < spec.fields.size(); ++i) {
    PG2I_ASSIGN_OR_RETURN(avro::Schema at, AvroTypeFor(ptypes[i]));
    key += "|" + spec.fields[i].name + ":" + std::to_string(spec.fields[i].field_id) + ":" +
           at.ToString();
    pfields.push_back(F(spec.fields[i].name, at, spec.fields[i].field_id, true));
  }
  if (std::optional<avro::Schema> known = built.Find(key)) return *std::move(known);
  const avro::Schema bytes = avro::Schema::Bytes();
  const avro::Schema lng = avro::Schema::Long();
  std::vector<avro::Field> df = {
      F("content", avro::Schema::Int(), 134),
      F("file_path", avro::Schema::String(), 100),
      F("file_format", avro::Schema::String(), 101),
      F("partition", avro::Schema::Record("r102", pfields), 102),
      F("record_count", lng, 103),
      F("file_size_in_bytes", lng, 104),
      F("column_sizes", IntMap(117, 118, lng), 108, true),
      F("value_counts", IntMap(119, 120, lng), 109, true),
      F("null_value_counts", IntMap(121, 122, lng), 110, true),
      F("nan_value_counts", IntMap(138, 139, lng), 137, true),
      F("lower_bounds", IntMap(126, 127, bytes), 125, true),
      F("upper_bounds", IntMap(129, 130, bytes), 128, true),
      F("key_metadata", bytes, 131, true),
      F("split_offsets", IntArray(133, lng), 132, true),
      F("equality_ids", IntArray(136, avro::Schema::Int()), 135, true),
      F("sort_order_id", avro::Schema::Int(), 140, true),
  };
  if (format_version >= 3) {
    df.push_back(F("first_row_id", lng, 142, true));
    df.push_back(F("referenced_data_file", avro::Schema::String(), 143, true));
    df.push_back(F("content_offset", lng, 144, true));
    df.push_back(F("content_size_in_bytes", lng, 145, true));
  }
  avro::Schema entry = avro::Schema::Record(
      "manifest_entry", {F("status", avro::Schema::Int(), 0),
                         F("snapshot_id", lng, 1, true),
                         F("sequence_number", lng, 3, true),
                         F("file_sequence_number", lng, 4, true),
                         F("data_file", avro::Schema::Record("r2", df), 2)});
  built.Put(key, entry);
  return entry;
}

}  // namespace

Result<ManifestWriteResult> WriteManifest(int32_t format_version, const Schema& schema,
                                          const PartitionSpec& spec, ManifestContent content,
                                          int64_t snapshot_id,
                                          const std::vector<ManifestEntry>& entries) {
  PG2I_ASSIGN_OR_RETURN(std::vector<Type> ptypes, PartitionTypes(schema, spec));
  PG2I_ASSIGN_OR_RETURN(avro::Schema entry, ManifestEntrySchema(format_version, ptypes, spec));
  std::map<std::string, std::string> meta = {
      {"schema", SerializeSchema(schema)},
      {"schema-id", std::to_string(schema.schema_id())},
      {"partition-spec", SerializePartitionSpecFields(spec)},
      {"partition-spec-id", std::to_string(spec.spec_id)},
      {"format-version", std::to_string(format_version)},
      {"content", content == ManifestContent::kData ? "data" : "deletes"},
  };
  PG2I_ASSIGN_OR_RETURN(avro::ContainerWriter w,
                        avro::ContainerWriter::Create(entry, std::move(meta)));

  ManifestWriteResult out;
  ManifestFile& mf = out.summary;
  mf.partition_spec_id = spec.spec_id;
  mf.content = content;
  mf.added_snapshot_id = snapshot_id;
  mf.partitions.resize(spec.fields.size());
  std::vector<std::optional<Value>> lo(spec.fields.size()), hi(spec.fields.size());
  for (const ManifestEntry& e : entries) {
    const DataFile& f = e.file;
    if (f.partition.size() != spec.fields.size()) {
      return InvalidArgument("data file " + f.file_path + " has " +
                             std::to_string(f.partition.size()) +
                             " partition values but spec " + std::to_string(spec.spec_id) +
                             " has " + std::to_string(spec.fields.size()) + " fields");
    }
    std::vector<Datum::Entry> part;
    for (size_t i = 0; i < spec.fields.size(); ++i) {
      auto as = PartitionValueAs(ptypes[i], f.partition[i]);
      if (!as.ok()) return as.status().WithContext("data file " + f.file_path);
      const Value v = std::move(*as);
      PG2I_ASSIGN_OR_RETURN(Datum pd, ToDatum(ptypes[i], v));
      part.emplace_back(spec.fields[i].name, std::move(pd));
      FieldSummary& fs = mf.partitions[i];
      if (IsNull(v)) {
        fs.contains_null = true;
        continue;
      }
      bool nan = (std::holds_alternative<float>(v) && std::isnan(std::get<float>(v))) ||
                 (std::holds_alternative<double>(v) && std::isnan(std::get<double>(v)));
      if (nan) {
        fs.contains_nan = true;
        continue;
      }
      if (!lo[i] || v < *lo[i]) lo[i] = v;
      if (!hi[i] || *hi[i] < v) hi[i] = v;
    }
    std::vector<Datum> splits, eq;
    for (int64_t s : f.split_offsets) splits.push_back(Datum::Long(s));
    for (int32_t id : f.equality_ids) eq.push_back(Datum::Int(id));
    std::vector<Datum::Entry> dfd = {
        {"content", Datum::Int(static_cast<int32_t>(f.content))},
        {"file_path", Datum::String(f.file_path)},
        {"file_format", Datum::String(f.file_format)},
        {"partition", Datum::Record(std::move(part))},
        {"record_count", Datum::Long(f.record_count)},
        {"file_size_in_bytes", Datum::Long(f.file_size_in_bytes)},
        {"column_sizes", IntLongMap(f.column_sizes)},
        {"value_counts", IntLongMap(f.value_counts)},
        {"null_value_counts", IntLongMap(f.null_value_counts)},
        {"nan_value_counts", IntLongMap(f.nan_value_counts)},
        {"lower_bounds", IntBytesMap(f.lower_bounds)},
        {"upper_bounds", IntBytesMap(f.upper_bounds)},
        {"key_metadata", Datum::Union(0, Datum::Null())},
        {"split_offsets", f.split_offsets.empty() ? Datum::Union(0, Datum::Null())
                                                  : Datum::Union(1, Datum::Array(splits))},
        {"equality_ids", f.equality_ids.empty() ? Datum::Union(0, Datum::Null())
                                                : Datum::Union(1, Datum::Array(eq))},
        {"sort_order_id", f.sort_order_id ? Datum::Union(1, Datum::Int(*f.sort_order_id))
                                          : Datum::Union(0, Datum::Null())},
    };
    auto opt_long = [](const std::optional<int64_t>& v) {
      return v ? Datum::Union(1, Datum::Long(*v)) : Datum::Union(0, Datum::Null());
    };
    if (format_version >= 3) {
      // Row ids only for data files that are still live (a deleted entry's are not carried).
      dfd.emplace_back("first_row_id", opt_long(f.content == FileContent::kData &&
                                                        e.status != ManifestEntry::EntryStatus::kDeleted
                                                    ? f.first_row_id
                                                    : std::nullopt));
      dfd.emplace_back("referenced_data_file",
                       f.referenced_data_file ? Datum::Union(1, Datum::String(*f.referenced_data_file))
                                              : Datum::Union(0, Datum::Null()));
      dfd.emplace_back("content_offset", opt_long(f.content_offset));
      dfd.emplace_back("content_size_in_bytes", opt_long(f.content_size_in_bytes));
    }
    PG2I_RETURN_IF_ERROR(w.Append(Datum::Record({
        {"status", Datum::Int(static_cast<int32_t>(e.status))},
        {"snapshot_id", opt_long(e.snapshot_id)},
        {"sequence_number", opt_long(e.sequence_number)},
        {"file_sequence_number", opt_long(e.file_sequence_number)},
        {"data_file", Datum::Record(std::move(dfd))},
    })));
    switch (e.status) {
      case ManifestEntry::EntryStatus::kAdded:
        ++mf.added_files_count;
        mf.added_rows_count += f.record_count;
        break;
      case ManifestEntry::EntryStatus::kExisting:
        ++mf.existing_files_count;
        mf.existing_rows_count += f.record_count;
        break;
      case ManifestEntry::EntryStatus::kDeleted:
        ++mf.deleted_files_count;
        mf.deleted_rows_count += f.record_count;
        break;
    }
  }
  for (size_t i = 0; i < spec.fields.size(); ++i) {
    FieldSummary& fs = mf.partitions[i];
    if (ptypes[i].id == TypeId::kFloat || ptypes[i].id == TypeId::kDouble) {
      if (!fs.contains_nan) fs.contains_nan = false;
    }
    if (lo[i]) {
      PG2I_ASSIGN_OR_RETURN(std::string l, SerializeSingleValue(ptypes[i], *lo[i]));
      PG2I_ASSIGN_OR_RETURN(std::string h, SerializeSingleValue(ptypes[i], *hi[i]));
      fs.lower_bound = std::move(l);
      fs.upper_bound = std::move(h);
    }
  }
  PG2I_ASSIGN_OR_RETURN(out.bytes, w.Finish());
  return out;
}

Result<std::vector<ManifestEntry>> ReadManifest(const std::string& bytes,
                                                const ManifestFile& from) {
  PG2I_ASSIGN_OR_RETURN(avro::ContainerReader r, avro::ContainerReader::Open(bytes));
  PG2I_RETURN_IF_ERROR(CheckShape(r.schema(), ManifestEntryShape(), "manifest_entry"));
  // The partition record's field schemas carry the logical types of the values.
  std::vector<avro::Field> pfields;
  if (const avro::Field* dff = r.schema().FindField("data_file")) {
    if (const avro::Field* pf = dff->type.FindField("partition")) pfields = pf->type.fields();
  }
  std::vector<ManifestEntry> out;
  // (A flag and a value rather than an optional: GCC 12 -O2 misreports it as uninitialized.)
  const bool inherit_row_ids = from.content == ManifestContent::kData && from.first_row_id;
  int64_t next_row_id = inherit_row_ids ? *from.first_row_id : 0;
  while (true) {
    PG2I_ASSIGN_OR_RETURN(std::optional<Datum> d, r.Next());
    if (!d) break;
    ManifestEntry e;
    const Datum* status = d->FindField("status");
    const Datum* dfd = d->FindField("data_file");
    if (!status || !dfd) return Missing("status/data_file");
    e.status = static_cast<ManifestEntry::EntryStatus>(status->int_value());
    e.snapshot_id = OptLong(d->FindField("snapshot_id"));
    e.sequence_number = OptLong(d->FindField("sequence_number"));
    e.file_sequence_number = OptLong(d->FindField("file_sequence_number"));
    if (!e.snapshot_id) e.snapshot_id = from.added_snapshot_id;
    if (e.status == ManifestEntry::EntryStatus::kAdded) {
      if (!e.sequence_number) e.sequence_number = from.sequence_number;
      if (!e.file_sequence_number) e.file_sequence_number = from.sequence_number;
    }
    DataFile& f = e.file;
    const Datum* content = dfd->FindField("content");
    f.content = content ? static_cast<FileContent>(content->int_value()) : FileContent::kData;
    const Datum* path = dfd->FindField("file_path");
    const Datum* fmt = dfd->FindField("file_format");
    const Datum* rc = dfd->FindField("record_count");
    const Datum* sz = dfd->FindField("file_size_in_bytes");
    if (!path || !rc || !sz) return Missing("file_path/record_count/file_size_in_bytes");
    f.file_path = path->string_value();
    if (fmt) f.file_format = fmt->string_value();
    f.record_count = rc->long_value();
    f.file_size_in_bytes = sz->long_value();
    f.spec_id = from.partition_spec_id;
    if (const Datum* part = dfd->FindField("partition")) {
      for (size_t i = 0; i < part->fields().size() && i < pfields.size(); ++i) {
        f.partition.push_back(FromDatum(pfields[i].type, part->fields()[i].second));
      }
    }
    ReadMap(dfd->FindField("column_sizes"), &f.column_sizes);
    ReadMap(dfd->FindField("value_counts"), &f.value_counts);
    ReadMap(dfd->FindField("null_value_counts"), &f.null_value_counts);
    ReadMap(dfd->FindField("nan_value_counts"), &f.nan_value_counts);
    ReadMap(dfd->FindField("lower_bounds"), &f.lower_bounds);
    ReadMap(dfd->FindField("upper_bounds"), &f.upper_bounds);
    if (const Datum* s = dfd->FindField("split_offsets"); s && !s->Unwrapped().is_null()) {
      for (const Datum& x : s->Unwrapped().items()) f.split_offsets.push_back(x.long_value());
    }
    if (const Datum* s = dfd->FindField("equality_ids"); s && !s->Unwrapped().is_null()) {
      for (const Datum& x : s->Unwrapped().items()) f.equality_ids.push_back(x.int_value());
    }
    if (const Datum* s = dfd->FindField("sort_order_id"); s && !s->Unwrapped().is_null()) {
      f.sort_order_id = s->Unwrapped().int_value();
    }
    if (const Datum* s = dfd->FindField("referenced_data_file"); s && !s->Unwrapped().is_null()) {
      f.referenced_data_file = s->Unwrapped().string_value();
    }
    f.content_offset = OptLong(dfd->FindField("content_offset"));
    f.content_size_in_bytes = OptLong(dfd->FindField("content_size_in_bytes"));
    f.first_row_id = OptLong(dfd->FindField("first_row_id"));
    // v3 row lineage: a live data file without its own first row id takes the next ones of
    // its manifest's range, in manifest order.
    if (f.content == FileContent::kData && inherit_row_ids &&
        e.status != ManifestEntry::EntryStatus::kDeleted && !f.first_row_id) {
      f.first_row_id = next_row_id;
      next_row_id += f.record_count;
    }
    out.push_back(std::move(e));
  }
  return out;
}

namespace {

// The Avro schema of a manifest list, built once per format version (see ManifestEntrySchema).
avro::Schema ManifestListSchema(int32_t format_version) {
  static Memo<avro::Schema> built(4);
  const std::string key = std::to_string(format_version);
  if (std::optional<avro::Schema> known = built.Find(key)) return *std::move(known);
  const avro::Schema lng = avro::Schema::Long();
  const avro::Schema i32 = avro::Schema::Int();
  avro::Schema summary = avro::Schema::Record(
      "r508", {F("contains_null", avro::Schema::Boolean(), 509),
               F("contains_nan", avro::Schema::Boolean(), 518, true),
               F("lower_bound", avro::Schema::Bytes(), 510, true),
               F("upper_bound", avro::Schema::Bytes(), 511, true)});
  std::vector<avro::Field> fields = {
      F("manifest_path", avro::Schema::String(), 500),
      F("manifest_length", lng, 501),
      F("partition_spec_id", i32, 502),
      F("content", i32, 517),
      F("sequence_number", lng, 515),
      F("min_sequence_number", lng, 516),
      F("added_snapshot_id", lng, 503),
      F("added_files_count", i32, 504),
      F("existing_files_count", i32, 505),
      F("deleted_files_count", i32, 506),
      F("added_rows_count", lng, 512),
      F("existing_rows_count", lng, 513),
      F("deleted_rows_count", lng, 514),
      F("partitions", IntArray(508, summary), 507, true),
      F("key_metadata", avro::Schema::Bytes(), 519, true),
  };
  if (format_version >= 3) fields.push_back(F("first_row_id", lng, 520, true));
  avro::Schema schema = avro::Schema::Record("manifest_file", fields);
  built.Put(key, schema);
  return schema;
}

}  // namespace

Result<std::string> WriteManifestList(int32_t format_version, int64_t snapshot_id,
                                      std::optional<int64_t> parent_snapshot_id,
                                      int64_t sequence_number,
                                      const std::vector<ManifestFile>& manifests) {
  avro::Schema schema = ManifestListSchema(format_version);
  std::map<std::string, std::string> meta = {
      {"snapshot-id", std::to_string(snapshot_id)},
      {"parent-snapshot-id", parent_snapshot_id ? std::to_string(*parent_snapshot_id) : "null"},
      {"sequence-number", std::to_string(sequence_number)},
      {"format-version", std::to_string(format_version)},
  };
  PG2I_ASSIGN_OR_RETURN(avro::ContainerWriter w,
                        avro::ContainerWriter::Create(schema, std::move(meta)));
  auto opt_bytes = [](const std::optional<std::string>& b) {
    return b ? Datum::Union(1, Datum::Bytes(*b)) : Datum::Union(0, Datum::Null());
  };
  for (const ManifestFile& m : manifests) {
    std::vector<Datum> parts;
    for (const FieldSummary& s : m.partitions) {
      parts.push_back(Datum::Record({
          {"contains_null", Datum::Boolean(s.contains_null)},
          {"contains_nan", s.contains_nan ? Datum::Union(1, Datum::Boolean(*s.contains_nan))
                                          : Datum::Union(0, Datum::Null())},
          {"lower_bound", opt_bytes(s.lower_bound)},
          {"upper_bound", opt_bytes(s.upper_bound)},
      }));
    }
    std::vector<Datum::Entry> rec = {
        {"manifest_path", Datum::String(m.manifest_path)},
        {"manifest_length", Datum::Long(m.manifest_length)},
        {"partition_spec_id", Datum::Int(m.partition_spec_id)},
        {"content", Datum::Int(static_cast<int32_t>(m.content))},
        {"sequence_number", Datum::Long(m.sequence_number)},
        {"min_sequence_number", Datum::Long(m.min_sequence_number)},
        {"added_snapshot_id", Datum::Long(m.added_snapshot_id)},
        {"added_files_count", Datum::Int(m.added_files_count)},
        {"existing_files_count", Datum::Int(m.existing_files_count)},
        {"deleted_files_count", Datum::Int(m.deleted_files_count)},
        {"added_rows_count", Datum::Long(m.added_rows_count)},
        {"existing_rows_count", Datum::Long(m.existing_rows_count)},
        {"deleted_rows_count", Datum::Long(m.deleted_rows_count)},
        {"partitions", Datum::Union(1, Datum::Array(std::move(parts)))},
        {"key_metadata", Datum::Union(0, Datum::Null())},
    };
    if (format_version >= 3) {
      rec.emplace_back("first_row_id", m.first_row_id ? Datum::Union(1, Datum::Long(*m.first_row_id))
                                                      : Datum::Union(0, Datum::Null()));
    }
    PG2I_RETURN_IF_ERROR(w.Append(Datum::Record(std::move(rec))));
  }
  return w.Finish();
}

Result<std::vector<ManifestFile>> ReadManifestList(const std::string& bytes) {
  PG2I_ASSIGN_OR_RETURN(avro::ContainerReader r, avro::ContainerReader::Open(bytes));
  PG2I_RETURN_IF_ERROR(CheckShape(r.schema(), ManifestFileShape(), "manifest_file"));
  std::vector<ManifestFile> out;
  while (true) {
    PG2I_ASSIGN_OR_RETURN(std::optional<Datum> d, r.Next());
    if (!d) break;
    ManifestFile m;
    auto req = [&](const char* name) -> const Datum* { return d->FindField(name); };
    const Datum* path = req("manifest_path");
    const Datum* len = req("manifest_length");
    if (!path || !len) return DataLoss("manifest list entry lacks manifest_path/length");
    m.manifest_path = path->string_value();
    m.manifest_length = len->long_value();
    auto i32 = [&](const char* name, int32_t dflt) {
      const Datum* x = req(name);
      return x && !x->Unwrapped().is_null() ? x->Unwrapped().int_value() : dflt;
    };
    auto i64 = [&](const char* name, int64_t dflt) {
      const Datum* x = req(name);
      return x && !x->Unwrapped().is_null() ? x->Unwrapped().long_value() : dflt;
    };
    m.partition_spec_id = i32("partition_spec_id", 0);
    m.content = static_cast<ManifestContent>(i32("content", 0));
    m.sequence_number = i64("sequence_number", 0);  // v1 lists have none: 0
    m.min_sequence_number = i64("min_sequence_number", 0);
    m.added_snapshot_id = i64("added_snapshot_id", 0);
    m.added_files_count = i32("added_files_count", i32("added_data_files_count", 0));
    m.existing_files_count = i32("existing_files_count", i32("existing_data_files_count", 0));
    m.deleted_files_count = i32("deleted_files_count", i32("deleted_data_files_count", 0));
    m.added_rows_count = i64("added_rows_count", 0);
    m.existing_rows_count = i64("existing_rows_count", 0);
    m.deleted_rows_count = i64("deleted_rows_count", 0);
    if (const Datum* fr = req("first_row_id"); fr && !fr->Unwrapped().is_null()) {
      m.first_row_id = fr->Unwrapped().long_value();
    }
    if (const Datum* p = req("partitions"); p && !p->Unwrapped().is_null()) {
      for (const Datum& s : p->Unwrapped().items()) {
        FieldSummary fs;
        if (const Datum* x = s.FindField("contains_null")) fs.contains_null = x->bool_value();
        if (const Datum* x = s.FindField("contains_nan"); x && !x->Unwrapped().is_null()) {
          fs.contains_nan = x->Unwrapped().bool_value();
        }
        if (const Datum* x = s.FindField("lower_bound"); x && !x->Unwrapped().is_null()) {
          fs.lower_bound = x->Unwrapped().bytes_value();
        }
        if (const Datum* x = s.FindField("upper_bound"); x && !x->Unwrapped().is_null()) {
          fs.upper_bound = x->Unwrapped().bytes_value();
        }
        m.partitions.push_back(std::move(fs));
      }
    }
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace pg2iceberg::iceberg
