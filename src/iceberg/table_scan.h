// Merge-on-read over one snapshot of a table (Iceberg spec, "Scan Planning"): each live data
// file with the delete files that apply to it, and its live rows with those deletes applied.
// The product's one reader of table rows (verify, the materializer's unchanged-TOAST lookup).
//
// Which deletes apply to a data file:
//   - an equality delete, when the data file's data sequence number is lower than the delete's
//     and the delete is in the data file's partition (spec and values) or its spec is
//     unpartitioned (a global delete);
//   - a position delete, when the data file's data sequence number is not higher than the
//     delete's, the delete is in the data file's partition or its spec is unpartitioned, and a
//     row of it names the data file's path (and, if it says which file it references, that is
//     the one).
// Delete files are read once per scan and kept in memory (the keys and positions they hold).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "io/file_io.h"
#include "iceberg/manifest.h"
#include "iceberg/metadata.h"

namespace pg2iceberg::iceberg {

// The deleted positions per data file path of a position delete file: the rows of a Parquet
// one, or the one data file of a deletion vector (Puffin). DataLoss for a row without path or
// position, or a vector that does not decode.
Result<std::map<std::string, std::set<int64_t>>> ReadPositionDeletes(
    const std::shared_ptr<io::FileIO>& io, const DataFile& file);

struct FileScanTask {
  ManifestEntry data;
  // Indexes into TableScan::deletes().
  std::vector<size_t> equality_deletes;
  std::vector<size_t> position_deletes;
};

class TableScan {
 public:
  // Plans the scan of `snapshot_id` (default: the current snapshot; none: an empty scan).
  // Errors: NotFound for an unknown snapshot; what reading the manifests returns.
  static Result<TableScan> Plan(std::shared_ptr<io::FileIO> io, const TableMetadata& m,
                                std::optional<int64_t> snapshot_id = {});

  const std::vector<FileScanTask>& tasks() const { return tasks_; }
  const std::vector<ManifestEntry>& deletes() const { return deletes_; }

  // The live rows of `task`, each with the values of `projection` (fields of the table's
  // schemas, by id; a field the file lacks reads NULL), in file order.
  Result<std::vector<std::vector<Value>>> Read(const FileScanTask& task,
                                               const std::vector<Field>& projection);
  // The same, and the position in the data file of each row returned, in `positions`.
  Result<std::vector<std::vector<Value>>> ReadLive(const FileScanTask& task,
                                                   const std::vector<Field>& projection,
                                                   std::vector<int64_t>* positions);
  // The same, one row at a time (moved to `each` with its position), reading the file a batch
  // at a time: memory does not grow with the file. Stops at `each`'s first error.
  Status ForEachLive(const FileScanTask& task, const std::vector<Field>& projection,
                     const std::function<Status(std::vector<Value>&&, int64_t)>& each);
  // Every live row of the scan, task by task.
  Result<std::vector<std::vector<Value>>> ReadAll(const std::vector<Field>& projection);

 private:
  TableScan(std::shared_ptr<io::FileIO> io, TableMetadata m) : io_(std::move(io)), m_(std::move(m)) {}
  // A field of any of the table's schemas (the newest that has it).
  Result<Field> FieldById(int32_t id) const;
  // The keys of equality delete deletes_[i], with its equality fields.
  Result<const std::set<std::vector<Value>>*> EqualityKeys(size_t i);
  // The deleted positions per data file path of position delete deletes_[i].
  Result<const std::map<std::string, std::set<int64_t>>*> Positions(size_t i);

  std::shared_ptr<io::FileIO> io_;
  TableMetadata m_;
  std::vector<FileScanTask> tasks_;
  std::vector<ManifestEntry> deletes_;
  std::map<size_t, std::set<std::vector<Value>>> equality_keys_;
  std::map<size_t, std::map<std::string, std::set<int64_t>>> positions_;
};

}  // namespace pg2iceberg::iceberg
