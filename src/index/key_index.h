// The primary-key index of one Iceberg table: for every live key, the data file and row
// position holding it. It lets the materializer write position deletes (only for keys that are
// live) instead of an equality delete per change, and read an unchanged TOAST value from the
// one row that has it.
//
// Stored in RocksDB (Debian's librocksdb) in a local directory per table (named by the table's
// UUID), so memory stays bounded (block cache and write buffers) whatever the table's size, and
// a restart opens it instead of rebuilding. A checkpoint of it is kept next to the table
// (Checkpoint/Restore), so that a process on another machine loads it too. docs/key-index.md
// says why RocksDB and how it is kept current.
//
// The index says which snapshot it reflects. Sync brings it to a table's current snapshot:
// nothing to do when it reflects it; replace snapshots since (compactions: the same rows in new
// files) are caught up by reading the files they added; anything else (another writer, a crash
// between a commit and its index update, a changed key) rebuilds it from the table. After each
// commit the materializer applies what the commit changed, with the new snapshot id, in one
// atomic write. Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "iceberg/data_file.h"
#include "iceberg/metadata.h"
#include "io/file_io.h"
#include "types/value.h"

namespace rocksdb {
class DB;
}

namespace pg2iceberg::index {

// The memory every index of the process shares: half of it block cache, half write buffers
// (128 MiB unless set; the pipeline sets memory_limit / 8). Takes effect when the first index
// is opened; later calls change nothing.
void SetSharedMemory(int64_t bytes);

// A live row: the data file (path, spec and partition, as a position delete for it needs them)
// and its position there.
struct RowLocation {
  std::string file_path;
  int32_t spec_id = 0;
  std::vector<Value> partition;
  int64_t pos = 0;
  bool operator==(const RowLocation&) const = default;
};

// What one commit changed: keys no longer live where the index has them (deleted or moved), and
// where keys are live now. `cleared`: the commit replaced the table's content (a truncate, a
// copy), so every earlier entry goes first.
struct IndexUpdate {
  bool cleared = false;
  std::vector<std::vector<Value>> removed;
  std::vector<std::pair<std::vector<Value>, RowLocation>> added;
};

struct SyncStats {
  enum class Kind { kCurrent, kCaughtUp, kRebuilt };
  Kind kind = Kind::kCurrent;
  int64_t keys = 0;       // rebuilt or caught up: keys written
  double seconds = 0;
  std::string reason;     // why it was rebuilt
};

class KeyIndex {
 public:
  // Opens (creating if missing) the index in directory `dir`. An index another process holds
  // open fails with Unavailable.
  static Result<std::unique_ptr<KeyIndex>> Open(const std::string& dir);
  // Open, but an index that cannot be opened for another reason than another process holding
  // it (files a kill left half-written or half-deleted: CURRENT naming a MANIFEST that is
  // gone, a missing table file) is removed and created empty, and `*recreated` says so: the
  // index is a cache of the table, which Sync rebuilds it from.
  static Result<std::unique_ptr<KeyIndex>> OpenOrRecreate(const std::string& dir, Status* recreated);
  ~KeyIndex();
  KeyIndex(const KeyIndex&) = delete;
  KeyIndex& operator=(const KeyIndex&) = delete;

  // The snapshot the index reflects (-1: a table without snapshots), if it reflects any.
  std::optional<int64_t> snapshot_id() const { return snapshot_id_; }

  // Brings the index to `m`'s current snapshot, the table folded by `key_ids`.
  Result<SyncStats> Sync(const std::shared_ptr<io::FileIO>& io, const iceberg::TableMetadata& m,
                         const std::vector<int32_t>& key_ids);

  // The live location of each key, in order (nullopt: not live).
  Result<std::vector<std::optional<RowLocation>>> Lookup(
      const std::vector<std::vector<Value>>& keys);

  // Applies a commit's changes and records that the index reflects `snapshot_id`, atomically.
  Status Apply(const IndexUpdate& update, int64_t snapshot_id);

  // Forgets which snapshot the index reflects: the next Sync rebuilds it.
  Status Invalidate();

  int64_t approximate_keys() const;

  // Copies the index as it is now next to its table: RocksDB's checkpoint of it, uploaded under
  // `prefix` (CheckpointPrefix), then `prefix/checkpoint-<unique>.json` naming its files. Table
  // files (SST) already uploaded by an earlier checkpoint of this index are not uploaded again;
  // the previous checkpoint's description and the files the new one does not use are deleted.
  // Returns the bytes uploaded.
  Result<int64_t> Checkpoint(io::FileIO* io, const std::string& prefix);
  // Fills `dir` (which must not hold an index) from the newest checkpoint under `prefix`. false
  // when there is none, or it is incomplete (a newer checkpoint replaced it meanwhile): then
  // `dir` is removed. The index restored says which snapshot it reflects; Sync takes it from
  // there (or rebuilds it).
  static Result<bool> Restore(io::FileIO* io, const std::string& prefix, const std::string& dir);
  // Where the checkpoints of a table's index go: `<table location>/metadata/pg2iceberg-key-index`.
  // maintain leaves these objects alone (they are no orphans).
  static std::string CheckpointPrefix(const std::string& table_location);

  // The byte form of a key (exposed for tests): integers and floating-point values are widened
  // (int to long, float to double) so that a widened key column keeps its entries.
  static std::string EncodeKey(const std::vector<Value>& key);

 private:
  explicit KeyIndex(std::unique_ptr<rocksdb::DB> db);
  Status Rebuild(const std::shared_ptr<io::FileIO>& io, const iceberg::TableMetadata& m,
                 const std::vector<int32_t>& key_ids, SyncStats* stats);
  // Writes the live keys of the data files added by `snapshot_ids` (all of them when empty).
  Status IndexFiles(const std::shared_ptr<io::FileIO>& io, const iceberg::TableMetadata& m,
                    const std::vector<int32_t>& key_ids, const std::vector<int64_t>& snapshot_ids,
                    int64_t* keys);
  // The id of a data file, assigned (and recorded in `batch` by the caller) when new.
  uint64_t FileId(const RowLocation& loc, std::string* record_key, std::string* record);
  Result<const RowLocation*> FileRecord(uint64_t id);
  Status LoadMeta();
  // Empties the index (the directory is destroyed and created again).
  Status Clear();

  std::string dir_;
  std::unique_ptr<rocksdb::DB> db_;
  std::optional<int64_t> snapshot_id_;
  std::string key_ids_;  // the key the entries are by, as "1,2"
  uint64_t next_file_id_ = 1;
  std::map<std::string, uint64_t> file_ids_;   // path -> id, of files seen this process
  std::map<uint64_t, RowLocation> files_;      // id -> file (pos unused)
};

}  // namespace pg2iceberg::index
