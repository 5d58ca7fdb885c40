#include "iceberg/table_scan.h"

#include <algorithm>

#include "iceberg/parquet_io.h"
#include "iceberg/puffin.h"
#include "iceberg/snapshot_producer.h"

namespace pg2iceberg::iceberg {
namespace {

int64_t DataSeq(const ManifestEntry& e) { return e.sequence_number.value_or(0); }

bool Unpartitioned(const TableMetadata& m, const DataFile& f) {
  const PartitionSpec* spec = m.SpecById(f.spec_id);
  return spec == nullptr || spec->unpartitioned();
}

// The delete file is scoped to the data file's partition, or is global.
bool InScope(const TableMetadata& m, const DataFile& del, const DataFile& data) {
  if (Unpartitioned(m, del)) return true;
  return del.spec_id == data.spec_id && del.partition == data.partition;
}

}  // namespace

Result<std::map<std::string, std::set<int64_t>>> ReadPositionDeletes(
    const std::shared_ptr<io::FileIO>& io, const DataFile& f) {
  if (IsDeletionVector(f)) {
    if (!f.referenced_data_file) {
      return DataLoss("deletion vector in " + f.file_path + " does not say which data file it is for");
    }
    PG2I_ASSIGN_OR_RETURN(std::vector<int64_t> positions, ReadDeletionVector(io, f));
    std::map<std::string, std::set<int64_t>> out;
    out[*f.referenced_data_file].insert(positions.begin(), positions.end());
    return out;
  }
  const std::vector<Field> fields = {
      Field{kPositionDeleteFilePathId, "file_path", true,
            DataType::Primitive(Type{TypeId::kString}), "", {}, {}},
      Field{kPositionDeletePosId, "pos", true, DataType::Primitive(Type{TypeId::kLong}), "", {}, {}}};
  PG2I_ASSIGN_OR_RETURN(auto rows, ReadDataFile(io, f.file_path, fields));
  std::map<std::string, std::set<int64_t>> out;
  for (const auto& r : rows) {
    const auto* path = std::get_if<std::string>(&r.at(0));
    const auto* pos = std::get_if<int64_t>(&r.at(1));
    if (path == nullptr || pos == nullptr) {
      return DataLoss("position delete file " + f.file_path + " has a row without file_path or pos");
    }
    out[*path].insert(*pos);
  }
  return out;
}

Result<TableScan> TableScan::Plan(std::shared_ptr<io::FileIO> io, const TableMetadata& m,
                                  std::optional<int64_t> snapshot_id) {
  TableScan scan(io, m);
  const std::optional<int64_t> id = snapshot_id ? snapshot_id : m.current_snapshot_id;
  if (!id || *id < 0) return scan;
  if (std::none_of(m.snapshots.begin(), m.snapshots.end(),
                   [&](const Snapshot& s) { return s.snapshot_id == *id; })) {
    return NotFound("no snapshot " + std::to_string(*id) + " in the table's metadata");
  }
  PG2I_ASSIGN_OR_RETURN(std::vector<ManifestEntry> live, LiveEntries(io.get(), m, *id));
  std::vector<ManifestEntry> data;
  for (ManifestEntry& e : live) {
    (e.file.content == FileContent::kData ? data : scan.deletes_).push_back(std::move(e));
  }
  for (ManifestEntry& d : data) {
    FileScanTask task;
    for (size_t i = 0; i < scan.deletes_.size(); ++i) {
      const ManifestEntry& del = scan.deletes_[i];
      if (!InScope(m, del.file, d.file)) continue;
      if (del.file.content == FileContent::kEqualityDeletes) {
        if (DataSeq(d) < DataSeq(del)) task.equality_deletes.push_back(i);
      } else if (del.file.content == FileContent::kPositionDeletes) {
        if (DataSeq(d) <= DataSeq(del) &&
            (!del.file.referenced_data_file || *del.file.referenced_data_file == d.file.file_path)) {
          task.position_deletes.push_back(i);
        }
      }
    }
    task.data = std::move(d);
    scan.tasks_.push_back(std::move(task));
  }
  return scan;
}

Result<Field> TableScan::FieldById(int32_t id) const {
  if (const Schema* cur = m_.CurrentSchema()) {
    for (const Field& f : cur->fields()) {
      if (f.id == id) return f;
    }
  }
  for (auto s = m_.schemas.rbegin(); s != m_.schemas.rend(); ++s) {
    for (const Field& f : s->fields()) {
      if (f.id == id) return f;
    }
  }
  return NotFound("field id " + std::to_string(id) + " is in none of the table's schemas");
}

Result<const std::set<std::vector<Value>>*> TableScan::EqualityKeys(size_t i) {
  if (auto it = equality_keys_.find(i); it != equality_keys_.end()) return &it->second;
  const DataFile& f = deletes_.at(i).file;
  std::vector<Field> fields;
  for (int32_t id : f.equality_ids) {
    PG2I_ASSIGN_OR_RETURN(Field field, FieldById(id));
    fields.push_back(std::move(field));
  }
  PG2I_ASSIGN_OR_RETURN(auto rows, ReadDataFile(io_, f.file_path, fields));
  auto& keys = equality_keys_[i];
  for (auto& r : rows) keys.insert(std::move(r));
  return &keys;
}

Result<const std::map<std::string, std::set<int64_t>>*> TableScan::Positions(size_t i) {
  if (auto it = positions_.find(i); it != positions_.end()) return &it->second;
  PG2I_ASSIGN_OR_RETURN(auto positions, ReadPositionDeletes(io_, deletes_.at(i).file));
  return &(positions_[i] = std::move(positions));
}

Result<std::vector<std::vector<Value>>> TableScan::Read(const FileScanTask& task,
                                                        const std::vector<Field>& projection) {
  return ReadLive(task, projection, nullptr);
}

Result<std::vector<std::vector<Value>>> TableScan::ReadLive(const FileScanTask& task,
                                                            const std::vector<Field>& projection,
                                                            std::vector<int64_t>* positions) {
  std::vector<std::vector<Value>> out;
  PG2I_RETURN_IF_ERROR(ForEachLive(task, projection,
                                   [&](std::vector<Value>&& row, int64_t pos) -> Status {
                                     if (positions != nullptr) positions->push_back(pos);
                                     out.push_back(std::move(row));
                                     return Status::Ok();
                                   }));
  return out;
}

Status TableScan::ForEachLive(const FileScanTask& task, const std::vector<Field>& projection,
                              const std::function<Status(std::vector<Value>&&, int64_t)>& each) {
  // Read the projection and, after it, the equality fields it lacks.
  std::vector<Field> fields = projection;
  struct Equality {
    const std::set<std::vector<Value>>* keys;
    std::vector<size_t> columns;  // positions in `fields`
  };
  std::vector<Equality> equality;
  for (size_t i : task.equality_deletes) {
    Equality e;
    PG2I_ASSIGN_OR_RETURN(e.keys, EqualityKeys(i));
    if (e.keys->empty()) continue;
    for (int32_t id : deletes_[i].file.equality_ids) {
      auto at = std::find_if(fields.begin(), fields.end(), [&](const Field& f) { return f.id == id; });
      if (at == fields.end()) {
        PG2I_ASSIGN_OR_RETURN(Field f, FieldById(id));
        fields.push_back(std::move(f));
        at = fields.end() - 1;
      }
      e.columns.push_back(static_cast<size_t>(at - fields.begin()));
    }
    equality.push_back(std::move(e));
  }
  std::set<int64_t> deleted;
  for (size_t i : task.position_deletes) {
    PG2I_ASSIGN_OR_RETURN(const auto* positions, Positions(i));
    if (auto it = positions->find(task.data.file.file_path); it != positions->end()) {
      deleted.insert(it->second.begin(), it->second.end());
    }
  }
  // A batch at a time: a large file is never held as rows all at once.
  PG2I_ASSIGN_OR_RETURN(auto reader, DataFileReader::Open(io_, task.data.file.file_path, fields));
  int64_t pos = 0;
  std::vector<Value> key;
  while (true) {
    PG2I_ASSIGN_OR_RETURN(std::shared_ptr<arrow::RecordBatch> batch, reader->Next());
    if (batch == nullptr) break;
    PG2I_ASSIGN_OR_RETURN(auto rows, RowsOf(*batch, fields));
    for (auto& row : rows) {
      const int64_t at = pos++;
      if (deleted.count(at)) continue;
      bool gone = false;
      for (const Equality& e : equality) {
        key.clear();
        for (size_t c : e.columns) key.push_back(row[c]);
        if (e.keys->count(key)) {
          gone = true;
          break;
        }
      }
      if (gone) continue;
      row.resize(projection.size());
      PG2I_RETURN_IF_ERROR(each(std::move(row), at));
    }
  }
  return Status::Ok();
}

Result<std::vector<std::vector<Value>>> TableScan::ReadAll(const std::vector<Field>& projection) {
  std::vector<std::vector<Value>> out;
  for (const FileScanTask& t : tasks_) {
    PG2I_ASSIGN_OR_RETURN(auto rows, Read(t, projection));
    for (auto& r : rows) out.push_back(std::move(r));
  }
  return out;
}

}  // namespace pg2iceberg::iceberg
