#include "iceberg/partitioned_writer.h"

#include <arrow/record_batch.h>

#include <algorithm>

namespace pg2iceberg::iceberg {

namespace {

Result<std::unique_ptr<PartitionedWriter>> Fail(const std::string& what) {
  return InvalidArgument(what);
}

}  // namespace

Result<std::unique_ptr<PartitionedWriter>> PartitionedWriter::MakeData(
    std::shared_ptr<io::FileIO> io, const TableMetadata& m, ParquetWriteOptions options) {
  const Schema* schema = m.CurrentSchema();
  const PartitionSpec* spec = m.DefaultSpec();
  if (schema == nullptr || spec == nullptr) return Fail("table has no schema or spec");
  std::unique_ptr<PartitionedWriter> w(new PartitionedWriter());
  w->io_ = std::move(io);
  w->schema_ = *schema;
  w->spec_ = *spec;
  w->options_ = std::move(options);
  w->data_dir_ = TableSubdir(m.location, "data");
  for (const PartitionField& pf : spec->fields) {
    PG2I_ASSIGN_OR_RETURN(Transform t, Transform::Parse(pf.transform));
    int idx = -1;
    for (size_t i = 0; i < schema->fields().size(); ++i) {
      if (schema->fields()[i].id == pf.source_id) idx = static_cast<int>(i);
    }
    if (idx < 0 || !schema->fields()[static_cast<size_t>(idx)].type.is_primitive()) {
      return Fail("partition field " + pf.name + " has no top-level primitive source column");
    }
    w->transforms_.push_back(t);
    w->source_index_.push_back(idx);
    w->source_types_.push_back(schema->fields()[static_cast<size_t>(idx)].type.primitive);
  }
  return w;
}

Result<std::unique_ptr<PartitionedWriter>> PartitionedWriter::MakeEqualityDeletes(
    std::shared_ptr<io::FileIO> io, const TableMetadata& m, std::vector<int32_t> equality_ids,
    ParquetWriteOptions options) {
  PG2I_ASSIGN_OR_RETURN(std::unique_ptr<PartitionedWriter> w,
                        MakeData(std::move(io), m, std::move(options)));
  w->deletes_ = true;
  w->equality_ids_ = equality_ids.empty() ? w->schema_.identifier_field_ids() : equality_ids;
  if (w->equality_ids_.empty()) {
    return Fail("equality deletes need identifier fields (the primary key) on the table");
  }
  return w;
}

Result<std::vector<Value>> PartitionedWriter::PartitionOf(const std::vector<Value>& row) const {
  std::vector<Value> out;
  out.reserve(transforms_.size());
  for (size_t i = 0; i < transforms_.size(); ++i) {
    const size_t idx = static_cast<size_t>(source_index_[i]);
    if (idx >= row.size()) return InvalidArgument("row is narrower than the table schema");
    PG2I_ASSIGN_OR_RETURN(Value v, transforms_[i].Apply(source_types_[i], row[idx]));
    out.push_back(std::move(v));
  }
  return out;
}

Result<DataFileWriter*> PartitionedWriter::WriterFor(const std::vector<Value>& partition) {
  auto it = writers_.find(partition);
  if (it != writers_.end()) return it->second.get();
  std::string dir = data_dir_;
  for (size_t i = 0; i < transforms_.size(); ++i) {
    std::string human = "null";
    if (!IsNull(partition[i])) {
      PG2I_ASSIGN_OR_RETURN(human, transforms_[i].ToHumanString(source_types_[i], partition[i]));
    }
    dir += "/" + PartitionPathSegment(spec_.fields[i].name, human);
  }
  ParquetWriteOptions o = options_;
  o.new_file_uri = NewDataFileUris(dir, deletes_ ? DataFileRole::kEqualityDeletes : DataFileRole::kData);
  std::unique_ptr<DataFileWriter> w;
  if (deletes_) {
    PG2I_ASSIGN_OR_RETURN(w, DataFileWriter::MakeEqualityDeleteWriter(io_, schema_,
                                                                       equality_ids_, o));
  } else {
    PG2I_ASSIGN_OR_RETURN(w, DataFileWriter::MakeDataWriter(io_, schema_, o));
  }
  DataFileWriter* raw = w.get();
  writers_.emplace(partition, std::move(w));
  return raw;
}

Status PartitionedWriter::Write(std::span<const std::vector<Value>> rows) {
  if (deletes_) return InvalidArgument("delete rows need an explicit partition: use WriteTo");
  // Per row of this call: its writer and its row number there.
  std::vector<std::pair<const DataFileWriter*, int64_t>> at(rows.size());
  // Group the rows by partition so each writer gets batches.
  std::map<std::vector<Value>, std::vector<size_t>> groups;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (transforms_.empty()) {
      groups[{}].push_back(i);
      continue;
    }
    PG2I_ASSIGN_OR_RETURN(std::vector<Value> p, PartitionOf(rows[i]));
    groups[std::move(p)].push_back(i);
  }
  for (auto& [p, idx] : groups) {
    PG2I_ASSIGN_OR_RETURN(DataFileWriter * w, WriterFor(p));
    const int64_t before = w->rows_written();
    if (idx.size() == rows.size()) {
      PG2I_RETURN_IF_ERROR(WriteTo(p, rows));
    } else {
      std::vector<std::vector<Value>> group;
      group.reserve(idx.size());
      for (size_t i : idx) group.push_back(rows[i]);
      PG2I_RETURN_IF_ERROR(WriteTo(p, group));
    }
    for (size_t k = 0; k < idx.size(); ++k) at[idx[k]] = {w, before + static_cast<int64_t>(k)};
  }
  for (const auto& [w, row] : at) Record(w, row, 1);
  return Status::Ok();
}

Status PartitionedWriter::WriteTo(const std::vector<Value>& partition,
                                  std::span<const std::vector<Value>> rows) {
  if (partition.size() != transforms_.size()) {
    return InvalidArgument("partition tuple has " + std::to_string(partition.size()) +
                           " values; the spec has " + std::to_string(transforms_.size()));
  }
  PG2I_ASSIGN_OR_RETURN(DataFileWriter * w, WriterFor(partition));
  PG2I_RETURN_IF_ERROR(w->Write(rows));
  rows_ += static_cast<int64_t>(rows.size());
  return Status::Ok();
}

Status PartitionedWriter::WriteTo(const std::vector<Value>& partition,
                                  const arrow::RecordBatch& batch) {
  if (partition.size() != transforms_.size()) {
    return InvalidArgument("partition tuple has " + std::to_string(partition.size()) +
                           " values; the spec has " + std::to_string(transforms_.size()));
  }
  PG2I_ASSIGN_OR_RETURN(DataFileWriter * w, WriterFor(partition));
  const int64_t before = w->rows_written();
  PG2I_RETURN_IF_ERROR(w->Write(batch));
  rows_ += batch.num_rows();
  if (batch.num_rows() > 0) Record(w, before, batch.num_rows());
  return Status::Ok();
}

void PartitionedWriter::Record(const DataFileWriter* w, int64_t first_row, int64_t rows) {
  if (!written_.empty() && written_.back().writer == w &&
      written_.back().first_row + written_.back().rows == first_row) {
    written_.back().rows += rows;
  } else {
    written_.push_back({w, first_row, rows});
  }
}

void PartitionedWriter::RowLocations::Add(size_t rows, RowLocation first) {
  if (!runs_.empty()) {
    const Run& last = runs_.back();
    const size_t last_rows = last.end - (runs_.size() > 1 ? runs_[runs_.size() - 2].end : 0);
    if (last.first.file == first.file &&
        last.first.pos + static_cast<int64_t>(last_rows) == first.pos) {
      runs_.back().end += rows;
      return;
    }
  }
  runs_.push_back({size() + rows, first});
}

PartitionedWriter::RowLocation PartitionedWriter::RowLocations::operator[](size_t row) const {
  auto run = std::upper_bound(runs_.begin(), runs_.end(), row,
                              [](size_t r, const Run& x) { return r < x.end; });
  const size_t start = run == runs_.begin() ? 0 : std::prev(run)->end;
  return {run->first.file, run->first.pos + static_cast<int64_t>(row - start)};
}

Result<std::vector<DataFile>> PartitionedWriter::Close() {
  std::vector<DataFile> out;
  // Per writer: the index in `out` of its first file, and where each of its files began.
  std::map<const DataFileWriter*, std::pair<size_t, std::vector<int64_t>>> starts;
  for (auto& [p, w] : writers_) {
    starts[w.get()] = {out.size(), w->file_first_rows()};
    PG2I_ASSIGN_OR_RETURN(std::vector<DataFile> files, w->Close());
    for (DataFile& f : files) {
      f.partition = p;
      f.spec_id = spec_.spec_id;
      out.push_back(std::move(f));
    }
  }
  locations_ = {};
  for (Written run : written_) {
    const auto& [base, firsts] = starts.at(run.writer);
    while (run.rows > 0) {  // split where the writer started a new file
      const size_t k = static_cast<size_t>(std::upper_bound(firsts.begin(), firsts.end(),
                                                            run.first_row) - firsts.begin()) - 1;
      const int64_t in_file = k + 1 < firsts.size()
                                  ? std::min(run.rows, firsts[k + 1] - run.first_row)
                                  : run.rows;
      locations_.Add(static_cast<size_t>(in_file),
                     RowLocation{base + k, run.first_row - firsts[k]});
      run.first_row += in_file;
      run.rows -= in_file;
    }
  }
  written_.clear();
  writers_.clear();
  return out;
}

}  // namespace pg2iceberg::iceberg
