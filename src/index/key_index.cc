#include "index/key_index.h"

#include <atomic>

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/write_batch.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_buffer_manager.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/log.h"
#include "iceberg/table_scan.h"

namespace pg2iceberg::index {
namespace {

// Key space: "k" + encoded key -> file id (8 bytes) + position (8 bytes); "f" + file id ->
// file record; "m:" + name -> metadata (the snapshot reflected, the key, the next file id).
constexpr char kKeyPrefix = 'k';
constexpr char kFilePrefix = 'f';
constexpr const char* kSnapshotMeta = "m:snapshot";
constexpr const char* kKeyIdsMeta = "m:key-ids";
constexpr const char* kNextFileMeta = "m:next-file";
// Entries written per RocksDB write while (re)building.
constexpr size_t kBuildBatch = 50'000;

Status FromRocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return Status::Ok();
  const std::string msg = what + ": " + s.ToString();
  if (s.IsIOError() || s.IsBusy() || s.IsTimedOut() || s.IsTryAgain()) return Unavailable(msg);
  if (s.IsCorruption()) return DataLoss(msg);
  return Internal(msg);
}

void PutFixed64(std::string* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetFixed64(std::string_view in) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

void PutBytes(std::string* out, std::string_view b) {
  PutFixed64(out, b.size());
  out->append(b);
}

// Exact form of a value: its variant index, then its bytes. `widen`: int as long, float as
// double (keys; a widened key column keeps its entries).
void EncodeValue(std::string* out, const Value& v, bool widen) {
  size_t tag = v.index();
  if (widen && tag == 2) tag = 3;  // int32 -> int64
  if (widen && tag == 4) tag = 5;  // float -> double
  out->push_back(static_cast<char>(tag));
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
        } else if constexpr (std::is_same_v<T, bool>) {
          out->push_back(x ? 1 : 0);
        } else if constexpr (std::is_same_v<T, int32_t>) {
          PutFixed64(out, static_cast<uint64_t>(static_cast<int64_t>(x)));
        } else if constexpr (std::is_same_v<T, int64_t>) {
          PutFixed64(out, static_cast<uint64_t>(x));
        } else if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
          const double d = static_cast<double>(x);
          uint64_t bits;
          std::memcpy(&bits, &d, 8);
          PutFixed64(out, bits);
        } else if constexpr (std::is_same_v<T, Decimal128>) {
          const auto u = static_cast<unsigned __int128>(x.unscaled);
          PutFixed64(out, static_cast<uint64_t>(u >> 64));
          PutFixed64(out, static_cast<uint64_t>(u));
          PutFixed64(out, static_cast<uint64_t>(static_cast<int64_t>(x.scale)));
        } else if constexpr (std::is_same_v<T, Date>) {
          PutFixed64(out, static_cast<uint64_t>(static_cast<int64_t>(x.days)));
        } else if constexpr (std::is_same_v<T, Time> || std::is_same_v<T, Timestamp> ||
                             std::is_same_v<T, TimestampTz>) {
          PutFixed64(out, static_cast<uint64_t>(x.micros));
        } else if constexpr (std::is_same_v<T, std::string>) {
          PutBytes(out, x);
        } else if constexpr (std::is_same_v<T, Uuid>) {
          out->append(reinterpret_cast<const char*>(x.bytes.data()), x.bytes.size());
        } else if constexpr (std::is_same_v<T, Binary>) {
          PutBytes(out, x.bytes);
        }
      },
      v);
}

// Reads a value EncodeValue wrote (widen = false) from `in`, advancing it.
Result<Value> DecodeValue(std::string_view* in) {
  auto need = [&](size_t n) -> Status {
    return in->size() >= n ? Status::Ok() : DataLoss("key index: truncated file record");
  };
  PG2I_RETURN_IF_ERROR(need(1));
  const int tag = static_cast<uint8_t>((*in)[0]);
  in->remove_prefix(1);
  auto fixed = [&]() -> Result<uint64_t> {
    PG2I_RETURN_IF_ERROR(need(8));
    const uint64_t v = GetFixed64(*in);
    in->remove_prefix(8);
    return v;
  };
  auto bytes = [&]() -> Result<std::string> {
    PG2I_ASSIGN_OR_RETURN(uint64_t n, fixed());
    PG2I_RETURN_IF_ERROR(need(n));
    std::string s(in->substr(0, n));
    in->remove_prefix(n);
    return s;
  };
  switch (tag) {
    case 0: return Value{};
    case 1: {
      PG2I_RETURN_IF_ERROR(need(1));
      const bool b = (*in)[0] != 0;
      in->remove_prefix(1);
      return Value{b};
    }
    case 2: { PG2I_ASSIGN_OR_RETURN(uint64_t v, fixed()); return Value{static_cast<int32_t>(static_cast<int64_t>(v))}; }
    case 3: { PG2I_ASSIGN_OR_RETURN(uint64_t v, fixed()); return Value{static_cast<int64_t>(v)}; }
    case 4:
    case 5: {
      PG2I_ASSIGN_OR_RETURN(uint64_t bits, fixed());
      double d;
      std::memcpy(&d, &bits, 8);
      if (tag == 4) return Value{static_cast<float>(d)};
      return Value{d};
    }
    case 6: {
      PG2I_ASSIGN_OR_RETURN(uint64_t hi, fixed());
      PG2I_ASSIGN_OR_RETURN(uint64_t lo, fixed());
      PG2I_ASSIGN_OR_RETURN(uint64_t scale, fixed());
      const auto u = (static_cast<unsigned __int128>(hi) << 64) | lo;
      return Value{Decimal128{static_cast<__int128>(u), static_cast<int32_t>(static_cast<int64_t>(scale))}};
    }
    case 7: { PG2I_ASSIGN_OR_RETURN(uint64_t v, fixed()); return Value{Date{static_cast<int32_t>(static_cast<int64_t>(v))}}; }
    case 8: { PG2I_ASSIGN_OR_RETURN(uint64_t v, fixed()); return Value{Time{static_cast<int64_t>(v)}}; }
    case 9: { PG2I_ASSIGN_OR_RETURN(uint64_t v, fixed()); return Value{Timestamp{static_cast<int64_t>(v)}}; }
    case 10: { PG2I_ASSIGN_OR_RETURN(uint64_t v, fixed()); return Value{TimestampTz{static_cast<int64_t>(v)}}; }
    case 11: { PG2I_ASSIGN_OR_RETURN(std::string s, bytes()); return Value{std::move(s)}; }
    case 12: {
      PG2I_RETURN_IF_ERROR(need(16));
      Uuid u;
      std::memcpy(u.bytes.data(), in->data(), 16);
      in->remove_prefix(16);
      return Value{u};
    }
    case 13: { PG2I_ASSIGN_OR_RETURN(std::string s, bytes()); return Value{Binary{std::move(s)}}; }
    default: return DataLoss("key index: unknown value tag " + std::to_string(tag));
  }
}

std::string FileKey(uint64_t id) {
  std::string k(1, kFilePrefix);
  PutFixed64(&k, id);
  return k;
}

std::string EncodeRecord(const RowLocation& loc) {
  std::string r;
  PutBytes(&r, loc.file_path);
  PutFixed64(&r, static_cast<uint64_t>(static_cast<int64_t>(loc.spec_id)));
  PutFixed64(&r, loc.partition.size());
  for (const Value& v : loc.partition) EncodeValue(&r, v, /*widen=*/false);
  return r;
}

Result<RowLocation> DecodeRecord(std::string_view in) {
  RowLocation loc;
  auto fixed = [&]() -> Result<uint64_t> {
    if (in.size() < 8) return DataLoss("key index: truncated file record");
    const uint64_t v = GetFixed64(in);
    in.remove_prefix(8);
    return v;
  };
  PG2I_ASSIGN_OR_RETURN(uint64_t n, fixed());
  if (in.size() < n) return DataLoss("key index: truncated file record");
  loc.file_path = std::string(in.substr(0, n));
  in.remove_prefix(n);
  PG2I_ASSIGN_OR_RETURN(uint64_t spec, fixed());
  loc.spec_id = static_cast<int32_t>(static_cast<int64_t>(spec));
  PG2I_ASSIGN_OR_RETURN(uint64_t count, fixed());
  for (uint64_t i = 0; i < count; ++i) {
    PG2I_ASSIGN_OR_RETURN(Value v, DecodeValue(&in));
    loc.partition.push_back(std::move(v));
  }
  return loc;
}

std::string KeyIdsText(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += (s.empty() ? "" : ",") + std::to_string(id);
  return s;
}

// Every index of the process shares one block cache and one budget for write buffers, so
// memory stays bounded however many tables there are (SetSharedMemory).
std::atomic<int64_t> shared_memory{int64_t{128} << 20};

rocksdb::Options DbOptions() {
  static const int64_t half = std::max<int64_t>(shared_memory.load() / 2, int64_t{8} << 20);
  static const std::shared_ptr<rocksdb::Cache> cache =
      rocksdb::NewLRUCache(static_cast<size_t>(half), /*num_shard_bits=*/4);
  static const std::shared_ptr<rocksdb::WriteBufferManager> buffers =
      std::make_shared<rocksdb::WriteBufferManager>(static_cast<size_t>(half));
  rocksdb::Options o;
  o.create_if_missing = true;
  o.max_open_files = 128;
  o.write_buffer_size = static_cast<size_t>(std::min<int64_t>(half / 4, int64_t{16} << 20));
  o.max_write_buffer_number = 2;
  // A bloom filter over the memtable's keys: most lookups are of keys not in it (new keys, or
  // keys flushed long ago) and skip its skip list.
  o.memtable_prefix_bloom_size_ratio = 0.05;
  o.memtable_whole_key_filtering = true;
  o.write_buffer_manager = buffers;
  o.keep_log_file_num = 2;
  o.max_background_jobs = 2;
  // No preallocation: RocksDB would reserve 1.1 write buffers (17.6 MiB) for every WAL file it
  // opens, which on a memory-backed index directory (tmpfs, a container's memory volume) is
  // memory taken and zeroed at every open, while the index's WAL writes are small.
  o.allow_fallocate = false;
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = cache;
  // Index and filter blocks in the cache too (memory bounded whatever the key count), in
  // partitions small enough to be cached: a whole-file filter of a large file would not fit a
  // cache shard and be read again for every lookup.
  t.cache_index_and_filter_blocks = true;
  t.cache_index_and_filter_blocks_with_high_priority = true;
  t.pin_top_level_index_and_filter = true;
  t.index_type = rocksdb::BlockBasedTableOptions::IndexType::kTwoLevelIndexSearch;
  t.partition_filters = true;
  t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  return o;
}

}  // namespace

void SetSharedMemory(int64_t bytes) { shared_memory = bytes; }

std::string KeyIndex::EncodeKey(const std::vector<Value>& key) {
  std::string out(1, kKeyPrefix);
  for (const Value& v : key) EncodeValue(&out, v, /*widen=*/true);
  return out;
}

Result<std::unique_ptr<KeyIndex>> KeyIndex::Open(const std::string& dir) {
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(DbOptions(), dir, &raw);
  if (!s.ok()) {
    return FromRocks(s, "opening the key index in " + dir +
                            " (is another pg2iceberg process using it? each process needs its "
                            "own sink.index_dir)");
  }
  std::unique_ptr<KeyIndex> index(new KeyIndex(std::unique_ptr<rocksdb::DB>(raw)));
  index->dir_ = dir;
  PG2I_RETURN_IF_ERROR(index->LoadMeta());
  return index;
}

Result<std::unique_ptr<KeyIndex>> KeyIndex::OpenOrRecreate(const std::string& dir,
                                                          Status* recreated) {
  *recreated = Status::Ok();
  auto opened = Open(dir);
  // Held by another process ("While lock file: <dir>/LOCK: …") or by this one ("lock hold by
  // current process … <dir>/LOCK"): never removed.
  if (opened.ok() || opened.status().message().find("/LOCK") != std::string::npos) {
    return opened;
  }
  // What was there, for the report (the cause of a broken index is worth knowing).
  std::string files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (files.size() > 400) {
      files += " …";
      break;
    }
    files += (files.empty() ? "" : " ") + e.path().filename().string();
  }
  *recreated = opened.status().WithContext("files: " + (files.empty() ? "none" : files));
  std::filesystem::remove_all(dir, ec);
  if (ec) {
    return Unavailable("cannot remove the broken key index " + dir + " (" + ec.message() +
                       "): " + opened.status().message());
  }
  return Open(dir);
}

KeyIndex::KeyIndex(std::unique_ptr<rocksdb::DB> db) : db_(std::move(db)) {}
KeyIndex::~KeyIndex() = default;

Status KeyIndex::LoadMeta() {
  std::string v;
  snapshot_id_.reset();
  key_ids_.clear();
  next_file_id_ = 1;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), kSnapshotMeta, &v);
  if (s.ok()) {
    snapshot_id_ = std::atoll(v.c_str());
  } else if (!s.IsNotFound()) {
    return FromRocks(s, "reading the key index");
  }
  s = db_->Get(rocksdb::ReadOptions(), kKeyIdsMeta, &v);
  if (s.ok()) key_ids_ = v;
  s = db_->Get(rocksdb::ReadOptions(), kNextFileMeta, &v);
  if (s.ok()) next_file_id_ = std::strtoull(v.c_str(), nullptr, 10);
  return Status::Ok();
}

std::string KeyIndex::CheckpointPrefix(const std::string& table_location) {
  return iceberg::KeyIndexCheckpointPrefix(table_location);
}

namespace {

// The checkpoint descriptions under `prefix` (checkpoint-<unique>.json), newest first. There is
// one, unless a process stopped between writing a new one and deleting the old.
Result<std::vector<io::FileEntry>> CheckpointPointers(io::FileIO* io, const std::string& prefix) {
  PG2I_ASSIGN_OR_RETURN(std::vector<io::FileEntry> listed, io->List(prefix));
  std::vector<io::FileEntry> out;
  const std::string start = prefix + "/checkpoint-";
  for (io::FileEntry& e : listed) {
    if (e.uri.rfind(start, 0) == 0 && e.uri.size() > 5 && e.uri.substr(e.uri.size() - 5) == ".json" &&
        e.uri.find('/', start.size()) == std::string::npos) {
      out.push_back(std::move(e));
    }
  }
  std::sort(out.begin(), out.end(),
            [](const io::FileEntry& a, const io::FileEntry& b) { return a.mtime > b.mtime; });
  return out;
}

}  // namespace

Result<int64_t> KeyIndex::Checkpoint(io::FileIO* io, const std::string& prefix) {
  namespace fs = std::filesystem;
  // The previous checkpoints: which files they have (an SST of this database is immutable, so
  // one uploaded then is not uploaded again).
  PG2I_ASSIGN_OR_RETURN(std::vector<io::FileEntry> pointers, CheckpointPointers(io, prefix));
  std::set<std::string> previous;
  for (const io::FileEntry& p : pointers) {
    PG2I_ASSIGN_OR_RETURN(std::string text, io->ReadAll(p.uri));
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object() || !j["files"].is_array()) continue;
    for (const auto& f : j["files"]) {
      if (f.is_object()) previous.insert(f.value("uri", ""));
    }
  }
  std::string identity;
  PG2I_RETURN_IF_ERROR(FromRocks(db_->GetDbIdentity(identity), "reading the key index's identity"));
  const std::string local = dir_ + ".checkpoint";
  std::error_code ec;
  fs::remove_all(local, ec);
  rocksdb::Checkpoint* raw = nullptr;
  PG2I_RETURN_IF_ERROR(FromRocks(rocksdb::Checkpoint::Create(db_.get(), &raw), "checkpointing the key index"));
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  PG2I_RETURN_IF_ERROR(FromRocks(checkpoint->CreateCheckpoint(local), "checkpointing the key index"));
  const std::string unique = io::NewUniqueName();
  nlohmann::json files = nlohmann::json::array();
  std::set<std::string> used;
  int64_t uploaded = 0;
  Status status = Status::Ok();
  for (const auto& e : fs::directory_iterator(local, ec)) {
    if (!e.is_regular_file()) continue;
    const std::string name = e.path().filename().string();
    const bool table_file = name.size() > 4 && name.substr(name.size() - 4) == ".sst";
    const std::string uri =
        prefix + "/" + (table_file ? "sst/" + identity + "-" + name : unique + "/" + name);
    used.insert(uri);
    files.push_back({{"name", name}, {"uri", uri}});
    if (table_file && previous.count(uri)) continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream read;
    read << in.rdbuf();
    if (!in.good() && !in.eof()) {
      status = Unavailable("reading " + e.path().string() + " for the key index checkpoint");
      break;
    }
    const std::string bytes = std::move(read).str();
    status = io->WriteAll(uri, bytes);
    if (!status.ok()) break;
    uploaded += static_cast<int64_t>(bytes.size());
  }
  fs::remove_all(local, ec);
  PG2I_RETURN_IF_ERROR(status);
  const nlohmann::json pointer = {{"snapshot-id", snapshot_id_.value_or(-1)},
                                  {"key-ids", key_ids_},
                                  {"files", files}};
  PG2I_RETURN_IF_ERROR(io->WriteAll(prefix + "/checkpoint-" + unique + ".json", pointer.dump()));
  std::vector<std::string> unused;
  for (const std::string& uri : previous) {
    if (!used.count(uri)) unused.push_back(uri);
  }
  for (const io::FileEntry& p : pointers) unused.push_back(p.uri);
  if (!unused.empty()) {
    // Best effort: a file left behind costs storage, not correctness.
    Status gone = io->DeleteMany(unused);
    if (!gone.ok()) log::Warn("could not delete files of the previous key index checkpoint", {{"error", gone}});
  }
  return uploaded;
}

Result<bool> KeyIndex::Restore(io::FileIO* io, const std::string& prefix, const std::string& dir) {
  namespace fs = std::filesystem;
  PG2I_ASSIGN_OR_RETURN(std::vector<io::FileEntry> pointers, CheckpointPointers(io, prefix));
  if (pointers.empty()) return false;
  auto latest = io->ReadAll(pointers.front().uri);
  if (!latest.ok()) {
    if (IsNotFound(latest.status())) return false;  // replaced meanwhile
    return latest.status();
  }
  auto j = nlohmann::json::parse(*latest, nullptr, false);
  if (!j.is_object() || !j["files"].is_array()) {
    log::Warn("the key index checkpoint is not valid; the index is rebuilt instead",
              {{"checkpoint", pointers.front().uri}});
    return false;
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Unavailable("cannot create the key-index directory " + dir + ": " + ec.message());
  for (const auto& f : j["files"]) {
    const std::string name = f.is_object() ? f.value("name", "") : "";
    const std::string uri = f.is_object() ? f.value("uri", "") : "";
    if (name.empty() || name.find('/') != std::string::npos || uri.empty()) {
      fs::remove_all(dir, ec);
      log::Warn("the key index checkpoint names an invalid file; the index is rebuilt instead",
                {{"checkpoint", pointers.front().uri}});
      return false;
    }
    auto bytes = io->ReadAll(uri);
    if (!bytes.ok()) {
      fs::remove_all(dir, ec);
      if (IsNotFound(bytes.status())) return false;  // replaced by a newer one meanwhile
      return bytes.status();
    }
    std::ofstream out(fs::path(dir) / name, std::ios::binary | std::ios::trunc);
    out.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
    out.close();
    if (!out) {
      fs::remove_all(dir, ec);
      return Unavailable("writing " + (fs::path(dir) / name).string() + " (is the disk full?)");
    }
  }
  return true;
}

Status KeyIndex::Clear() {
  db_.reset();
  file_ids_.clear();
  files_.clear();
  PG2I_RETURN_IF_ERROR(FromRocks(rocksdb::DestroyDB(dir_, DbOptions()), "clearing the key index"));
  rocksdb::DB* raw = nullptr;
  PG2I_RETURN_IF_ERROR(FromRocks(rocksdb::DB::Open(DbOptions(), dir_, &raw), "reopening the key index"));
  db_.reset(raw);
  return LoadMeta();
}

uint64_t KeyIndex::FileId(const RowLocation& loc, std::string* record_key, std::string* record) {
  auto it = file_ids_.find(loc.file_path);
  if (it != file_ids_.end()) {
    record_key->clear();
    return it->second;
  }
  const uint64_t id = next_file_id_++;
  file_ids_[loc.file_path] = id;
  RowLocation file = loc;
  file.pos = 0;
  *record_key = FileKey(id);
  *record = EncodeRecord(file);
  files_[id] = std::move(file);
  return id;
}

Result<const RowLocation*> KeyIndex::FileRecord(uint64_t id) {
  if (auto it = files_.find(id); it != files_.end()) return &it->second;
  std::string v;
  PG2I_RETURN_IF_ERROR(FromRocks(db_->Get(rocksdb::ReadOptions(), FileKey(id), &v),
                                 "reading file " + std::to_string(id) + " of the key index"));
  PG2I_ASSIGN_OR_RETURN(RowLocation loc, DecodeRecord(v));
  return &(files_[id] = std::move(loc));
}

Result<std::vector<std::optional<RowLocation>>> KeyIndex::Lookup(
    const std::vector<std::vector<Value>>& keys) {
  std::vector<std::optional<RowLocation>> out(keys.size());
  // Looked up in key order, a slice at a time (MultiGet shares the work of finding each key's
  // memtable entry, filter partition and block among its neighbours).
  std::vector<std::string> encoded(keys.size());
  std::vector<size_t> order(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    encoded[i] = EncodeKey(keys[i]);
    order[i] = i;
  }
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return encoded[a] < encoded[b]; });
  constexpr size_t kSlice = 1024;
  std::vector<rocksdb::Slice> slices;
  std::vector<rocksdb::PinnableSlice> values(std::min(keys.size(), kSlice));
  std::vector<rocksdb::Status> statuses(values.size());
  for (size_t from = 0; from < order.size(); from += kSlice) {
    const size_t n = std::min(kSlice, order.size() - from);
    slices.clear();
    for (size_t j = 0; j < n; ++j) slices.emplace_back(encoded[order[from + j]]);
    for (size_t j = 0; j < n; ++j) values[j].Reset();
    db_->MultiGet(rocksdb::ReadOptions(), db_->DefaultColumnFamily(), n, slices.data(),
                  values.data(), statuses.data(), /*sorted_input=*/true);
    for (size_t j = 0; j < n; ++j) {
      if (statuses[j].IsNotFound()) continue;
      PG2I_RETURN_IF_ERROR(FromRocks(statuses[j], "looking up a key in the key index"));
      const std::string_view v(values[j].data(), values[j].size());
      if (v.size() != 16) {
        return DataLoss("key index: an entry of " + std::to_string(v.size()) + " bytes");
      }
      PG2I_ASSIGN_OR_RETURN(const RowLocation* file, FileRecord(GetFixed64(v)));
      RowLocation loc = *file;
      loc.pos = static_cast<int64_t>(GetFixed64(v.substr(8)));
      out[order[from + j]] = std::move(loc);
    }
  }
  return out;
}

Status KeyIndex::Apply(const IndexUpdate& update, int64_t snapshot_id) {
  if (update.cleared) {
    const std::string keys = key_ids_;  // a truncate empties the index, it keeps its key
    PG2I_RETURN_IF_ERROR(Clear());
    key_ids_ = keys;
  }
  rocksdb::WriteBatch b;
  for (const auto& k : update.removed) b.Delete(EncodeKey(k));
  std::string record_key, record, entry;
  for (const auto& [k, loc] : update.added) {
    const uint64_t id = FileId(loc, &record_key, &record);
    if (!record_key.empty()) b.Put(record_key, record);
    entry.clear();
    PutFixed64(&entry, id);
    PutFixed64(&entry, static_cast<uint64_t>(loc.pos));
    b.Put(EncodeKey(k), entry);
  }
  b.Put(kNextFileMeta, std::to_string(next_file_id_));
  b.Put(kKeyIdsMeta, key_ids_);
  b.Put(kSnapshotMeta, std::to_string(snapshot_id));
  PG2I_RETURN_IF_ERROR(FromRocks(db_->Write(rocksdb::WriteOptions(), &b), "updating the key index"));
  snapshot_id_ = snapshot_id;
  return Status::Ok();
}

Status KeyIndex::Invalidate() {
  PG2I_RETURN_IF_ERROR(
      FromRocks(db_->Delete(rocksdb::WriteOptions(), kSnapshotMeta), "invalidating the key index"));
  snapshot_id_.reset();
  return Status::Ok();
}

int64_t KeyIndex::approximate_keys() const {
  uint64_t n = 0;
  db_->GetIntProperty("rocksdb.estimate-num-keys", &n);
  return static_cast<int64_t>(n);
}

Status KeyIndex::IndexFiles(const std::shared_ptr<io::FileIO>& io, const iceberg::TableMetadata& m,
                            const std::vector<int32_t>& key_ids,
                            const std::vector<int64_t>& snapshot_ids, int64_t* keys) {
  const iceberg::Schema* schema = m.CurrentSchema();
  std::vector<iceberg::Field> fields;
  for (int32_t id : key_ids) {
    const iceberg::Field* f = nullptr;
    for (const auto& x : schema->fields()) {
      if (x.id == id) f = &x;
    }
    if (f == nullptr) return Internal("key field " + std::to_string(id) + " is not in the schema");
    fields.push_back(*f);
  }
  const std::set<int64_t> only(snapshot_ids.begin(), snapshot_ids.end());
  PG2I_ASSIGN_OR_RETURN(iceberg::TableScan scan, iceberg::TableScan::Plan(io, m));
  // Without the write-ahead log (a bulk load), then flushed before the caller records the
  // snapshot: a crash in between leaves an index that reflects no snapshot, rebuilt again.
  rocksdb::WriteOptions bulk;
  bulk.disableWAL = true;
  rocksdb::WriteBatch b;
  std::string record_key, record, entry;
  for (const iceberg::FileScanTask& task : scan.tasks()) {
    if (!only.empty() && (!task.data.snapshot_id || !only.count(*task.data.snapshot_id))) continue;
    RowLocation loc{task.data.file.file_path, task.data.file.spec_id, task.data.file.partition, 0};
    const uint64_t id = FileId(loc, &record_key, &record);
    if (!record_key.empty()) b.Put(record_key, record);
    // Row by row as the file is read: a compaction's output of millions of rows is not held.
    PG2I_RETURN_IF_ERROR(scan.ForEachLive(
        task, fields, [&](std::vector<Value>&& key, int64_t pos) -> Status {
          entry.clear();
          PutFixed64(&entry, id);
          PutFixed64(&entry, static_cast<uint64_t>(pos));
          b.Put(EncodeKey(key), entry);
          ++*keys;
          if (b.Count() >= kBuildBatch) {
            PG2I_RETURN_IF_ERROR(FromRocks(db_->Write(bulk, &b), "building the key index"));
            b.Clear();
          }
          return Status::Ok();
        }));
  }
  b.Put(kNextFileMeta, std::to_string(next_file_id_));
  PG2I_RETURN_IF_ERROR(FromRocks(db_->Write(bulk, &b), "building the key index"));
  PG2I_RETURN_IF_ERROR(FromRocks(db_->Flush(rocksdb::FlushOptions()), "flushing the key index"));
  // Keys arrive in file order, not key order: the flushed files overlap, and a lookup would
  // probe each. One compaction leaves sorted runs that one probe answers.
  if (*keys > static_cast<int64_t>(kBuildBatch)) {
    rocksdb::CompactRangeOptions c;
    c.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
    PG2I_RETURN_IF_ERROR(FromRocks(db_->CompactRange(c, nullptr, nullptr), "compacting the key index"));
  }
  return Status::Ok();
}

Status KeyIndex::Rebuild(const std::shared_ptr<io::FileIO>& io, const iceberg::TableMetadata& m,
                         const std::vector<int32_t>& key_ids, SyncStats* stats) {
  PG2I_RETURN_IF_ERROR(Clear());
  key_ids_ = KeyIdsText(key_ids);
  PG2I_RETURN_IF_ERROR(IndexFiles(io, m, key_ids, {}, &stats->keys));
  return Apply({}, m.current_snapshot_id.value_or(-1));
}

Result<SyncStats> KeyIndex::Sync(const std::shared_ptr<io::FileIO>& io,
                                 const iceberg::TableMetadata& m,
                                 const std::vector<int32_t>& key_ids) {
  const Stopwatch t0;
  SyncStats stats;
  const int64_t current = m.current_snapshot_id.value_or(-1);
  const std::string wanted = KeyIdsText(key_ids);
  if (!snapshot_id_) {
    stats.reason = "no index yet (new, or a commit was not reflected in it)";
  } else if (key_ids_ != wanted) {
    stats.reason = "the table is keyed by other columns now";
  } else if (*snapshot_id_ == current) {
    return stats;
  } else {
    // Only compactions since (replace snapshots: the same rows in new files)? Index the files
    // they added; the rows they removed are all in those.
    std::vector<int64_t> replaces;
    int64_t s = current;
    while (s != *snapshot_id_) {
      const iceberg::Snapshot* snap = m.SnapshotById(s);
      const bool replace = snap != nullptr && snap->summary.count("operation") &&
                           snap->summary.at("operation") == "replace";
      if (!replace) {
        replaces.clear();
        break;
      }
      replaces.push_back(s);
      s = snap->parent_snapshot_id.value_or(-1);
      if (s == -1 && *snapshot_id_ != -1) {
        replaces.clear();
        break;
      }
    }
    if (!replaces.empty()) {
      PG2I_RETURN_IF_ERROR(IndexFiles(io, m, key_ids, replaces, &stats.keys));
      PG2I_RETURN_IF_ERROR(Apply({}, current));
      stats.kind = SyncStats::Kind::kCaughtUp;
      stats.seconds = t0.Seconds();
      return stats;
    }
    stats.reason = "the table has snapshots the index does not reflect (another writer, or a "
                   "commit not yet reflected)";
  }
  stats.kind = SyncStats::Kind::kRebuilt;
  PG2I_RETURN_IF_ERROR(Rebuild(io, m, key_ids, &stats));
  stats.seconds = t0.Seconds();
  return stats;
}

}  // namespace pg2iceberg::index
