#include "stage/staged_file.h"

#include <algorithm>
#include <iterator>
#include <string_view>

#include <arrow/io/memory.h>
#include <arrow/table.h>
#include <arrow/util/key_value_metadata.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/writer.h>

#include <nlohmann/json.hpp>

#include "iceberg/parquet_io.h"
#include "iceberg/schema.h"

namespace pg2iceberg::stage {
namespace {

constexpr char kRelationKey[] = "pg2iceberg.relation";
constexpr int32_t kMetaFieldBase = 1'000'000;

Status FromArrow(const arrow::Status& s, const std::string& what) {
  if (s.ok()) return Status::Ok();
  return DataLoss(what + ": " + s.ToString());
}

iceberg::Field Meta(int32_t offset, const char* name, TypeId t) {
  return iceberg::Field{kMetaFieldBase + offset, name, false,
                        iceberg::DataType::Primitive(Type{t}), "", {}, {}};
}

std::vector<iceberg::Field> FieldsOf(const StagedRelation& r, bool before_images) {
  std::vector<iceberg::Field> fields;
  for (size_t i = 0; i < r.columns.size(); ++i) {
    fields.push_back(iceberg::Field{static_cast<int32_t>(i + 1), r.columns[i].name, false,
                                    iceberg::DataType::Primitive(r.columns[i].type), "", {}, {}});
  }
  fields.push_back(Meta(0, "_pg2i_op", TypeId::kString));
  fields.push_back(Meta(1, "_pg2i_lsn", TypeId::kLong));
  fields.push_back(Meta(2, "_pg2i_xid", TypeId::kLong));
  fields.push_back(Meta(3, "_pg2i_ts", TypeId::kLong));
  fields.push_back(Meta(4, "_pg2i_seq", TypeId::kLong));
  fields.push_back(Meta(5, "_pg2i_unch", TypeId::kString));
  for (size_t k = 0; k < r.key.size(); ++k) {
    fields.push_back(iceberg::Field{kMetaFieldBase + 100 + static_cast<int32_t>(k),
                                    "_pg2i_old_" + std::to_string(k), false,
                                    iceberg::DataType::Primitive(r.columns[r.key[k]].type), "",
                                    {}, {}});
  }
  if (before_images) {
    fields.push_back(Meta(6, "_pg2i_before", TypeId::kString));
    for (size_t i = 0; i < r.columns.size(); ++i) {
      fields.push_back(iceberg::Field{kMetaFieldBase + 1000 + static_cast<int32_t>(i),
                                      "_pg2i_before_" + std::to_string(i), false,
                                      iceberg::DataType::Primitive(r.columns[i].type), "", {}, {}});
    }
  }
  return fields;
}

std::string IndexList(const std::vector<int>& indexes) {
  std::string out;
  for (int i : indexes) out += (out.empty() ? "" : ",") + std::to_string(i);
  return out;
}

std::vector<int> ParseIndexList(std::string_view text) {
  std::vector<int> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string_view::npos) comma = text.size();
    out.push_back(std::atoi(std::string(text.substr(pos, comma - pos)).c_str()));
    pos = comma + 1;
  }
  return out;
}

// The _pg2i_before cell of `b`: NULL for none, else its kind and unchanged columns.
Value BeforeCell(const BeforeImage& b) {
  if (b.kind == BeforeImage::Kind::kNone) return Value();
  return std::string(1, static_cast<char>(b.kind)) + ":" + IndexList(b.unchanged);
}

std::string RelationJson(const StagedRelation& r) {
  nlohmann::ordered_json j;
  j["table"] = r.table;
  j["key"] = r.key;
  j["oid"] = r.oid;
  auto& cols = j["columns"] = nlohmann::ordered_json::array();
  for (const StagedColumn& c : r.columns) {
    cols.push_back({{"name", c.name},
                    {"type_oid", c.type_oid},
                    {"typmod", c.typmod},
                    {"type", c.type.ToString()},
                    {"nullable", c.nullable},
                    {"attnum", c.attnum}});
  }
  return j.dump();
}

Result<StagedRelation> ParseRelation(const std::string& text) {
  try {
    auto j = nlohmann::json::parse(text);
    StagedRelation r;
    r.table = j.at("table").get<std::string>();
    r.key = j.at("key").get<std::vector<int>>();
    r.oid = j.value("oid", 0u);
    for (const auto& c : j.at("columns")) {
      StagedColumn col;
      col.name = c.at("name").get<std::string>();
      col.type_oid = c.at("type_oid").get<uint32_t>();
      col.typmod = c.at("typmod").get<int32_t>();
      PG2I_ASSIGN_OR_RETURN(col.type, Type::Parse(c.at("type").get<std::string>()));
      col.nullable = c.at("nullable").get<bool>();
      col.attnum = c.value("attnum", 0);  // absent in files staged by older versions
      r.columns.push_back(std::move(col));
    }
    for (int k : r.key) {
      if (k < 0 || static_cast<size_t>(k) >= r.columns.size()) {
        return DataLoss("staged relation key index out of range");
      }
    }
    return r;
  } catch (const std::exception& e) {
    return DataLoss(std::string("staged file relation metadata is malformed: ") + e.what());
  }
}

// `owned`: `changes` itself, whose values are moved into the file's rows (the caller discards
// them); nullptr: they are copied.
Result<std::string> Encode(const StagedRelation& relation, const std::vector<StagedChange>& changes,
                           std::vector<StagedChange>* owned) {
  const bool before_images =
      std::any_of(changes.begin(), changes.end(), [](const StagedChange& sc) {
        return sc.before.kind != BeforeImage::Kind::kNone;
      });
  const std::vector<iceberg::Field> fields = FieldsOf(relation, before_images);
  const size_t width = relation.columns.size();
  // Rows are built a chunk at a time and turned into Arrow columns, so the rows of a large
  // file (a spilled transaction) are never all held twice.
  constexpr size_t kChunkRows = 16384;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  std::vector<std::vector<Value>> rows;
  rows.reserve(std::min(changes.size(), kChunkRows));
  for (size_t at = 0; at < changes.size(); ++at) {
    const StagedChange& sc = changes[at];
    const fold::Change& c = sc.change;
    std::vector<Value> row;
    row.reserve(fields.size());
    if (c.op == fold::Op::kTruncate) {
      row.resize(width);
    } else {
      if (c.values.size() != width) return InvalidArgument("staged change has the wrong width");
      if (owned != nullptr) {
        row = std::move((*owned)[at].change.values);
        row.reserve(fields.size());
      } else {
        row = c.values;
      }
    }
    row.emplace_back(std::string(1, static_cast<char>(c.op)));
    row.emplace_back(static_cast<int64_t>(c.commit_lsn.value()));
    row.emplace_back(static_cast<int64_t>(sc.xid.value()));
    row.emplace_back(sc.commit_ts_micros);
    row.emplace_back(c.seq);
    row.emplace_back(IndexList(c.unchanged));
    for (size_t k = 0; k < relation.key.size(); ++k) {
      row.push_back(k < c.old_key.size() ? c.old_key[k] : Value());
    }
    if (before_images) {
      if (!sc.before.values.empty() && sc.before.values.size() != width) {
        return InvalidArgument("staged change has an old row of the wrong width");
      }
      row.push_back(BeforeCell(sc.before));
      for (size_t i = 0; i < width; ++i) {
        row.push_back(sc.before.values.empty() ? Value() : sc.before.values[i]);
      }
    }
    rows.push_back(std::move(row));
    if (rows.size() == kChunkRows || at + 1 == changes.size()) {
      PG2I_ASSIGN_OR_RETURN(std::shared_ptr<arrow::RecordBatch> batch,
                            iceberg::RecordBatchOf(rows, fields));
      batches.push_back(std::move(batch));
      rows.clear();
    }
  }
  if (batches.empty()) {
    PG2I_ASSIGN_OR_RETURN(std::shared_ptr<arrow::RecordBatch> batch,
                          iceberg::RecordBatchOf(rows, fields));
    batches.push_back(std::move(batch));
  }
  auto meta = std::make_shared<arrow::KeyValueMetadata>();
  meta->Append(kRelationKey, RelationJson(relation));
  auto table = arrow::Table::FromRecordBatches(batches.front()->schema()->WithMetadata(meta),
                                               batches);
  if (!table.ok()) return DataLoss(table.status().ToString());
  auto sink = arrow::io::BufferOutputStream::Create();
  if (!sink.ok()) return ResourceExhausted(sink.status().ToString());
  // The position columns differ on nearly every row (seq) or repeat in runs that compression
  // already folds (lsn, xid, ts): a dictionary there costs a hash per value and saves nothing.
  parquet::WriterProperties::Builder props_builder;
  props_builder.compression(parquet::Compression::ZSTD);
  props_builder.disable_dictionary();
  auto props = props_builder.build();
  PG2I_RETURN_IF_ERROR(FromArrow(
      parquet::arrow::WriteTable(**table, arrow::default_memory_pool(), *sink,
                                 std::max<int64_t>(1, (*table)->num_rows()), props,
                                 parquet::ArrowWriterProperties::Builder().store_schema()->build()),
      "writing staged file"));
  auto buffer = (*sink)->Finish();
  if (!buffer.ok()) return DataLoss(buffer.status().ToString());
  return (*buffer)->ToString();
}

}  // namespace

Result<std::string> EncodeStagedFile(const StagedRelation& relation,
                                     const std::vector<StagedChange>& changes) {
  return Encode(relation, changes, nullptr);
}

Result<std::string> EncodeStagedFile(const StagedRelation& relation,
                                     std::vector<StagedChange>&& changes) {
  return Encode(relation, changes, &changes);
}

namespace {

// The heap memory of `values`: the vector's block and what strings and binaries hold beyond it
// (a string of up to 15 bytes lives inside its Value); 16 bytes of allocator overhead per block.
int64_t Footprint(const std::vector<Value>& values) {
  if (values.capacity() == 0) return 0;
  int64_t bytes = static_cast<int64_t>(values.capacity() * sizeof(Value)) + 16;
  for (const Value& v : values) {
    if (const auto* s = std::get_if<std::string>(&v); s && s->capacity() > 15) {
      bytes += static_cast<int64_t>(s->capacity()) + 1 + 16;
    } else if (const auto* b = std::get_if<Binary>(&v); b && b->bytes.capacity() > 0) {
      bytes += static_cast<int64_t>(b->bytes.capacity()) + 16;
    }
  }
  return bytes;
}

}  // namespace

int64_t MemoryBytes(const StagedChange& c) {
  // The change (in a buffer entry that names its table and shape), its images and key, and the
  // indexes of its unchanged-TOAST columns.
  constexpr int64_t kEntry = sizeof(StagedChange) + sizeof(std::string) + 2 * sizeof(void*) + 16;
  return kEntry + Footprint(c.change.values) + Footprint(c.change.old_key) +
         Footprint(c.before.values) +
         static_cast<int64_t>((c.change.unchanged.capacity() + c.before.unchanged.capacity()) *
                              sizeof(int));
}

Result<DecodedStagedFile> DecodeStagedFile(std::shared_ptr<io::FileIO> io,
                                           const std::string& uri) {
  PG2I_ASSIGN_OR_RETURN(auto file, io->OpenReader(uri));
  // An outage of the object store is transient (retried); bytes that are not Parquet are not.
  auto reader = parquet::arrow::OpenFile(file, arrow::default_memory_pool());
  if (!reader.ok()) return iceberg::ParquetReadError(reader.status(), "staged file " + uri);
  auto read = (*reader)->ReadTable();
  if (!read.ok()) return iceberg::ParquetReadError(read.status(), "staged file " + uri);
  std::shared_ptr<arrow::Table> table = *read;
  auto meta = table->schema()->metadata();
  if (!meta || meta->FindKey(kRelationKey) < 0) {
    return DataLoss("staged file " + uri + " has no pg2iceberg.relation metadata");
  }
  DecodedStagedFile out;
  PG2I_ASSIGN_OR_RETURN(out.relation, ParseRelation(meta->value(meta->FindKey(kRelationKey))));
  // Files of tables without before images, and of versions before them, lack their columns.
  const bool before_images = table->schema()->GetFieldIndex("_pg2i_before") >= 0;
  const std::vector<iceberg::Field> fields = FieldsOf(out.relation, before_images);
  const size_t width = out.relation.columns.size();
  const size_t before_at = width + 6 + out.relation.key.size();
  arrow::TableBatchReader batches(*table);
  std::shared_ptr<arrow::RecordBatch> batch;
  while (true) {
    PG2I_RETURN_IF_ERROR(FromArrow(batches.ReadNext(&batch), "reading staged file " + uri));
    if (!batch) break;
    PG2I_ASSIGN_OR_RETURN(auto rows, iceberg::RowsOf(*batch, fields));
    for (auto& row : rows) {
      StagedChange sc;
      fold::Change& c = sc.change;
      const std::string op = std::get<std::string>(row[width]);
      c.op = static_cast<fold::Op>(op.empty() ? 'I' : op[0]);
      c.commit_lsn = Lsn(static_cast<uint64_t>(std::get<int64_t>(row[width + 1])));
      sc.xid = Xid(static_cast<uint32_t>(std::get<int64_t>(row[width + 2])));
      sc.commit_ts_micros = std::get<int64_t>(row[width + 3]);
      c.seq = std::get<int64_t>(row[width + 4]);
      c.unchanged = ParseIndexList(std::get<std::string>(row[width + 5]));
      bool has_old = false;
      for (size_t k = 0; k < out.relation.key.size(); ++k) {
        has_old |= !IsNull(row[width + 6 + k]);
      }
      if (has_old) {
        for (size_t k = 0; k < out.relation.key.size(); ++k) c.old_key.push_back(row[width + 6 + k]);
      }
      if (before_images) {
        if (const auto* cell = std::get_if<std::string>(&row[before_at]); cell && !cell->empty()) {
          sc.before.kind = static_cast<BeforeImage::Kind>((*cell)[0]);
          if (sc.before.kind != BeforeImage::Kind::kKey &&
              sc.before.kind != BeforeImage::Kind::kRow) {
            return DataLoss("staged file " + uri + " has an old row of unknown kind '" + *cell +
                            "'");
          }
          if (cell->size() > 2) sc.before.unchanged = ParseIndexList(std::string_view(*cell).substr(2));
          if (c.op == fold::Op::kUpdate) {
            sc.before.values.assign(std::make_move_iterator(row.begin() + before_at + 1),
                                    std::make_move_iterator(row.begin() + before_at + 1 + width));
          }
        }
      }
      if (c.op != fold::Op::kTruncate) {
        // A vector of the table's width: the row's metadata columns are not kept.
        c.values.assign(std::make_move_iterator(row.begin()),
                        std::make_move_iterator(row.begin() + static_cast<std::ptrdiff_t>(width)));
      }
      std::vector<Value>().swap(row);
      out.changes.push_back(std::move(sc));
    }
  }
  return out;
}

}  // namespace pg2iceberg::stage
