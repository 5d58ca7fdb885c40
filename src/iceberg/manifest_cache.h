// Reading a manifest or manifest list through FileIO, with a bounded process-wide cache of
// what was read.
//
// A manifest never changes once written and its name is unique (a random UUID, here and in
// Iceberg Java), so the entries read from it can be kept: every commit reads the manifests of
// its parent (validation, carrying, merging) and every scan the live ones, and without a cache
// each of those is a GET and an Avro decode again. The key holds the name, the length and what
// the entries inherit from the manifest list (snapshot id, sequence number, first row id), so a
// reader never gets entries inherited from another list's view of the file.
//
// Bounded by bytes (approximately, counted from the entries' paths, partition values and
// metrics; base/memo.h with a cost): a file whose entries take more than kMaxCachedFileBytes
// is read every time, and each of the two caches (manifests, manifest lists) starts over when
// it would hold more than kMaxCacheBytes.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "base/status.h"
#include "iceberg/manifest.h"
#include "io/file_io.h"

namespace pg2iceberg::iceberg {

inline constexpr size_t kMaxCacheBytes = size_t{16} << 20;
inline constexpr size_t kMaxCachedFileBytes = size_t{4} << 20;

// The entries of the manifest `from` names (ReadManifest of its bytes), from the cache when
// this process has read it before.
Result<std::vector<ManifestEntry>> LoadManifest(io::FileIO& io, const ManifestFile& from);

// The manifests of the manifest list at `path` (ReadManifestList of its bytes), likewise: a
// manifest list is written once, under a name holding its snapshot id and a random UUID.
Result<std::vector<ManifestFile>> LoadManifestList(io::FileIO& io, const std::string& path);

// Empties both caches (the simulation, at each simulated process start: a new process starts
// with nothing cached).
void ClearManifestCaches();

}  // namespace pg2iceberg::iceberg
