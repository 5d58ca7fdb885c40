// Table upkeep without rewriting data: which objects a table still references, and which
// objects under its location are orphans (referenced by nothing, older than a grace period).
//
// Used by `pg2iceberg maintain` after snapshot expiry (ExpireSnapshots in commit_ops.h).
// Reads manifests through FileIO; never deletes anything itself (the caller decides, and may
// only list in a dry run). Errors: those of the reads (NotFound for a referenced manifest that
// is gone, DataLoss for one that cannot be read); a plan is only made from a complete read.
#pragma once

#include <chrono>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "iceberg/metadata.h"
#include "io/file_io.h"

namespace pg2iceberg::iceberg {

// One spelling per object, so that names from metadata and from a listing compare equal:
// `file:///a/b`, `file:/a/b` and `/a/b` are `/a/b`; `s3a://` and `s3n://` are `s3://`; repeated
// slashes in the path are one.
std::string CanonicalLocation(std::string_view uri);

// Every object `m` references, in canonical spelling: the metadata file at
// `metadata_location` and the previous versions its metadata log names, every snapshot's
// manifest list and manifests, the data and delete files live (added or existing) in any
// snapshot, and statistics and partition-statistics files.
Result<std::set<std::string>> ReferencedFiles(io::FileIO* io, const TableMetadata& m,
                                              const std::string& metadata_location);

struct OrphanPlan {
  std::vector<io::FileEntry> orphans;  // to delete
  int64_t orphan_bytes = 0;
  int64_t young = 0;  // unreferenced but modified at or after the cutoff: kept (may be in flight)
};

// The objects of `listing` that no entry of `referenced` names and that were last modified
// before `cutoff`.
OrphanPlan PlanOrphans(const std::vector<io::FileEntry>& listing,
                       const std::set<std::string>& referenced,
                       std::chrono::system_clock::time_point cutoff);

}  // namespace pg2iceberg::iceberg
