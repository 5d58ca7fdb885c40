#include "io/object_names.h"

#include "io/file_io.h"

namespace pg2iceberg::io {
namespace {

constexpr std::string_view kSnapshotPrefix = "snapshot-";
constexpr std::string_view kSpillPrefix = "stream-";

}  // namespace

std::string StagedTablePrefix(std::string_view staging, std::string_view table) {
  while (!staging.empty() && staging.back() == '/') staging.remove_suffix(1);
  return std::string(staging) + "/" + PathSegment(table) + "/";
}

std::string NewStagedUri(std::string_view staging, std::string_view table, StagedKind kind) {
  std::string_view prefix;
  if (kind == StagedKind::kSnapshot) prefix = kSnapshotPrefix;
  if (kind == StagedKind::kSpill) prefix = kSpillPrefix;
  return StagedTablePrefix(staging, table) + std::string(prefix) + NewUniqueName() + ".parquet";
}

StagedKind StagedKindOfName(std::string_view uri) {
  const size_t slash = uri.rfind('/');
  const std::string_view name = slash == std::string_view::npos ? uri : uri.substr(slash + 1);
  if (name.substr(0, kSnapshotPrefix.size()) == kSnapshotPrefix) return StagedKind::kSnapshot;
  if (name.substr(0, kSpillPrefix.size()) == kSpillPrefix) return StagedKind::kSpill;
  return StagedKind::kChanges;
}

}  // namespace pg2iceberg::io
