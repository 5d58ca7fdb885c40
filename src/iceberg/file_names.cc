#include "iceberg/file_names.h"

#include <cstdio>

#include "io/file_io.h"

namespace pg2iceberg::iceberg {

std::string TableSubdir(std::string_view location, std::string_view child) {
  while (!location.empty() && location.back() == '/') location.remove_suffix(1);
  std::string out(location);
  out += '/';
  out += child;
  return out;
}

std::string NewMetadataFileUri(std::string_view location, int version) {
  char prefix[16];
  std::snprintf(prefix, sizeof(prefix), "%05d", version < 0 ? 0 : version);
  return TableSubdir(location, "metadata/") + prefix + "-" + io::NewUniqueName() +
         ".metadata.json";
}

int MetadataFileVersion(std::string_view uri) {
  const size_t slash = uri.rfind('/');
  const std::string_view name = slash == std::string_view::npos ? uri : uri.substr(slash + 1);
  const size_t dash = name.find('-');
  if (dash == std::string_view::npos || dash == 0 || dash > 9) return -1;
  int version = 0;
  for (size_t i = 0; i < dash; ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    version = version * 10 + (name[i] - '0');
  }
  return version;
}

std::string NewManifestListUri(std::string_view location, int64_t snapshot_id) {
  return TableSubdir(location, "metadata/") + "snap-" + std::to_string(snapshot_id) + "-1-" +
         io::NewUniqueName() + ".avro";
}

std::string NewManifestUri(std::string_view location, ManifestOrigin origin) {
  const char* suffix = origin == ManifestOrigin::kNewFiles    ? "-m0.avro"
                       : origin == ManifestOrigin::kRewritten ? "-m1.avro"
                                                              : "-m2.avro";
  return TableSubdir(location, "metadata/") + io::NewUniqueName() + suffix;
}

std::function<std::string()> UniqueFileUris(std::string dir_uri, std::string prefix) {
  while (!dir_uri.empty() && dir_uri.back() == '/') dir_uri.pop_back();
  return [dir = std::move(dir_uri), prefix = std::move(prefix)] {
    return dir + "/" + prefix + io::NewUniqueName() + ".parquet";
  };
}

std::function<std::string()> NewDataFileUris(std::string dir, DataFileRole role) {
  const char* prefix = role == DataFileRole::kData              ? ""
                       : role == DataFileRole::kEqualityDeletes ? "eq-del-"
                                                                : "pos-del-";
  return UniqueFileUris(std::move(dir), prefix);
}

std::string NewDeletionVectorUri(std::string_view location) {
  return TableSubdir(location, "data/") + "dv-" + io::NewUniqueName() + ".puffin";
}

std::string KeyIndexCheckpointPrefix(std::string_view location) {
  return TableSubdir(location, "metadata/pg2iceberg-key-index");
}

}  // namespace pg2iceberg::iceberg
