#include "iceberg/manifest_cache.h"

#include <memory>
#include <string>

#include "base/memo.h"

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
using Cache = Memo<std::shared_ptr<const std::vector<T>>>;

Cache<ManifestEntry>& Manifests() {
  static auto* cache = new Cache<ManifestEntry>(kMaxCacheBytes);
  return *cache;
}

Cache<ManifestFile>& Lists() {
  static auto* cache = new Cache<ManifestFile>(kMaxCacheBytes);
  return *cache;
}

// Reads through `cache`: `read` makes the values on a miss.
template <typename T, typename Read>
Result<std::vector<T>> Through(Cache<T>& cache, const std::string& key, Read read) {
  if (auto cached = cache.Find(key)) return **cached;
  PG2I_ASSIGN_OR_RETURN(std::vector<T> values, read());
  size_t bytes = key.size();
  for (const T& v : values) bytes += BytesOf(v);
  if (bytes <= kMaxCachedFileBytes) {
    cache.Put(key, std::make_shared<const std::vector<T>>(values), bytes);
  }
  return values;
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
  return Through(Manifests(), KeyOf(from), [&]() -> Result<std::vector<ManifestEntry>> {
    PG2I_ASSIGN_OR_RETURN(std::string bytes, io.ReadAll(from.manifest_path));
    return ReadManifest(bytes, from);
  });
}

Result<std::vector<ManifestFile>> LoadManifestList(io::FileIO& io, const std::string& path) {
  return Through(Lists(), path, [&]() -> Result<std::vector<ManifestFile>> {
    PG2I_ASSIGN_OR_RETURN(std::string bytes, io.ReadAll(path));
    return ReadManifestList(bytes);
  });
}

void ClearManifestCaches() {
  Manifests().Clear();
  Lists().Clear();
}

}  // namespace pg2iceberg::iceberg
