#include "iceberg/manifest_cache.h"

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

namespace pg2iceberg::iceberg {
namespace {

// Approximate bytes held by a value (the node of a std::map is taken as 48 bytes).
size_t BytesOf(const ManifestEntry& e) {
  const DataFile& f = e.file;
  size_t n = sizeof(ManifestEntry) + f.file_path.size() + f.partition.size() * sizeof(Value);
  n += (f.column_sizes.size() + f.value_counts.size() + f.null_value_counts.size() +
        f.nan_value_counts.size()) * 48;
  for (const auto& [id, b] : f.lower_bounds) n += 48 + b.size();
  for (const auto& [id, b] : f.upper_bounds) n += 48 + b.size();
  return n;
}

size_t BytesOf(const ManifestFile& mf) {
  return sizeof(ManifestFile) + mf.manifest_path.size() + mf.partitions.size() * 96;
}

template <typename T>
size_t BytesOf(const std::vector<T>& values) {
  size_t n = 0;
  for (const T& v : values) n += BytesOf(v);
  return n;
}

// Values by key, bounded by the bytes they hold.
template <typename T>
class Cache {
 public:
  std::shared_ptr<const std::vector<T>> Find(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) {
      ++stats_.misses;
      return nullptr;
    }
    ++stats_.hits;
    return it->second;
  }

  void Put(const std::string& key, std::shared_ptr<const std::vector<T>> value) {
    const size_t bytes = BytesOf(*value) + key.size();
    if (bytes > kMaxCachedFileBytes) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (held_ + bytes > kMaxCacheBytes) {
      entries_.clear();
      held_ = 0;
    }
    if (entries_.try_emplace(key, std::move(value)).second) held_ += bytes;
  }

  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    entries_.clear();
    held_ = 0;
  }

  ManifestCacheStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const std::vector<T>>> entries_;
  size_t held_ = 0;
  ManifestCacheStats stats_;
};

Cache<ManifestEntry>& Manifests() {
  static auto* cache = new Cache<ManifestEntry>();
  return *cache;
}

Cache<ManifestFile>& Lists() {
  static auto* cache = new Cache<ManifestFile>();
  return *cache;
}

std::string KeyOf(const ManifestFile& mf) {
  std::string key = mf.manifest_path;
  key += '\n';
  key += std::to_string(mf.manifest_length);
  key += ' ';
  key += std::to_string(static_cast<int32_t>(mf.content));
  key += ' ';
  key += std::to_string(mf.added_snapshot_id);
  key += ' ';
  key += std::to_string(mf.sequence_number);
  key += ' ';
  key += mf.first_row_id ? std::to_string(*mf.first_row_id) : "-";
  return key;
}

}  // namespace

Result<std::vector<ManifestEntry>> LoadManifest(io::FileIO& io, const ManifestFile& from) {
  const std::string key = KeyOf(from);
  if (auto cached = Manifests().Find(key)) return *cached;
  PG2I_ASSIGN_OR_RETURN(std::string bytes, io.ReadAll(from.manifest_path));
  PG2I_ASSIGN_OR_RETURN(std::vector<ManifestEntry> entries, ReadManifest(bytes, from));
  Manifests().Put(key, std::make_shared<const std::vector<ManifestEntry>>(entries));
  return entries;
}

Result<std::vector<ManifestFile>> LoadManifestList(io::FileIO& io, const std::string& path) {
  if (auto cached = Lists().Find(path)) return *cached;
  PG2I_ASSIGN_OR_RETURN(std::string bytes, io.ReadAll(path));
  PG2I_ASSIGN_OR_RETURN(std::vector<ManifestFile> manifests, ReadManifestList(bytes));
  Lists().Put(path, std::make_shared<const std::vector<ManifestFile>>(manifests));
  return manifests;
}

void ClearManifestCaches() {
  Manifests().Clear();
  Lists().Clear();
}

ManifestCacheStats ManifestCacheStatsForTest() {
  ManifestCacheStats a = Manifests().stats();
  const ManifestCacheStats b = Lists().stats();
  a.hits += b.hits;
  a.misses += b.misses;
  return a;
}

}  // namespace pg2iceberg::iceberg
