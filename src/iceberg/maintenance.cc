#include "iceberg/maintenance.h"

#include <nlohmann/json.hpp>

#include "iceberg/manifest.h"
#include "iceberg/manifest_cache.h"

namespace pg2iceberg::iceberg {

std::string CanonicalLocation(std::string_view uri) {
  std::string scheme;
  std::string_view rest = uri;
  if (rest.rfind("file:", 0) == 0) {
    rest.remove_prefix(5);
    // file:///a and file://localhost/a name the local /a; file:/a too.
    if (rest.rfind("//localhost/", 0) == 0) {
      rest.remove_prefix(11);
    } else if (rest.rfind("//", 0) == 0) {
      rest.remove_prefix(2);
    }
  } else if (rest.rfind("s3a://", 0) == 0 || rest.rfind("s3n://", 0) == 0) {
    scheme = "s3://";
    rest.remove_prefix(6);
  } else if (size_t p = rest.find("://"); p != std::string_view::npos) {
    scheme = std::string(rest.substr(0, p + 3));
    rest.remove_prefix(p + 3);
  }
  std::string out = scheme;
  out.reserve(scheme.size() + rest.size());
  for (char c : rest) {
    if (c == '/' && !out.empty() && out.back() == '/' && out.size() > scheme.size()) continue;
    out.push_back(c);
  }
  return out;
}

namespace {

// Statistics files are kept in the metadata as raw JSON (unmodelled fields).
void AddStatisticsFiles(const TableMetadata& m, std::set<std::string>* out) {
  for (const char* key : {"statistics", "partition-statistics"}) {
    auto it = m.extra.find(key);
    if (it == m.extra.end()) continue;
    const nlohmann::json j = nlohmann::json::parse(it->second, nullptr, /*allow_exceptions=*/false);
    if (!j.is_array()) continue;
    for (const auto& s : j) {
      if (s.is_object() && s.contains("statistics-path") && s["statistics-path"].is_string()) {
        out->insert(CanonicalLocation(s["statistics-path"].get<std::string>()));
      }
    }
  }
}

}  // namespace

Result<std::set<std::string>> ReferencedFiles(io::FileIO* io, const TableMetadata& m,
                                              const std::string& metadata_location) {
  if (metadata_location.empty()) {
    return FailedPrecondition("the catalog did not say where the table's metadata file is; "
                              "without it that file would look unreferenced");
  }
  std::set<std::string> out;
  out.insert(CanonicalLocation(metadata_location));
  for (const MetadataLogEntry& e : m.metadata_log) out.insert(CanonicalLocation(e.metadata_file));
  AddStatisticsFiles(m, &out);
  std::set<std::string> manifests_read;
  for (const Snapshot& s : m.snapshots) {
    if (s.manifest_list.empty()) {
      // Format v1 allowed manifests listed in the snapshot itself; not read here.
      return FailedPrecondition("snapshot " + std::to_string(s.snapshot_id) +
                                " has no manifest list (an old format-v1 snapshot); expire it "
                                "first, its files cannot be told from orphans");
    }
    out.insert(CanonicalLocation(s.manifest_list));
    PG2I_ASSIGN_OR_RETURN(std::vector<ManifestFile> mfs, LoadManifestList(*io, s.manifest_list));
    for (const ManifestFile& mf : mfs) {
      const std::string path = CanonicalLocation(mf.manifest_path);
      out.insert(path);
      if (!manifests_read.insert(path).second) continue;
      PG2I_ASSIGN_OR_RETURN(std::vector<ManifestEntry> entries, LoadManifest(*io, mf));
      for (const ManifestEntry& e : entries) {
        // A deleted entry names a file this snapshot no longer reads; an older snapshot that
        // still reads it lists it as live in its own manifests.
        if (e.status == ManifestEntry::EntryStatus::kDeleted) continue;
        out.insert(CanonicalLocation(e.file.file_path));
      }
    }
  }
  return out;
}

OrphanPlan PlanOrphans(const std::vector<io::FileEntry>& listing,
                       const std::set<std::string>& referenced,
                       std::chrono::system_clock::time_point cutoff) {
  OrphanPlan plan;
  for (const io::FileEntry& f : listing) {
    if (referenced.count(CanonicalLocation(f.uri))) continue;
    if (f.mtime >= cutoff) {
      ++plan.young;
      continue;
    }
    plan.orphans.push_back(f);
    plan.orphan_bytes += f.size;
  }
  return plan;
}

}  // namespace pg2iceberg::iceberg
