// The names of the objects pg2iceberg writes under an Iceberg table's location, built (and,
// where something reads them back, parsed) in one place:
//
//   <location>/metadata/NNNNN-<uuid>.metadata.json         table metadata, version NNNNN (the
//                                                          SQL and memory catalogs; a REST
//                                                          server names its own)
//   <location>/metadata/snap-<snapshot id>-1-<uuid>.avro   a snapshot's manifest list
//   <location>/metadata/<uuid>-m0.avro                     a manifest of a commit's new files
//   <location>/metadata/<uuid>-m1.avro                     a parent's manifest, rewritten
//   <location>/metadata/<uuid>-m2.avro                     merged manifests
//   <location>/metadata/pg2iceberg-key-index/…             key index checkpoints
//   <location>/data[/<partition path>]/<uuid>.parquet      data files
//                                     /eq-del-<uuid>.parquet   equality deletes
//   <location>/data/pos-del-<uuid>.parquet                 position deletes
//   <location>/data/dv-<uuid>.puffin                       deletion vectors
//
// The names follow Iceberg Java's patterns, so operators and other engines see familiar
// layouts. What a file *is* is never read from its name: manifests say it (content, spec,
// partition). <uuid> is io::NewUniqueName. Pure apart from the random part.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace pg2iceberg::iceberg {

// `child` under a table location, e.g. TableSubdir("s3://b/t/", "data") is "s3://b/t/data" (the
// location's trailing slashes dropped).
std::string TableSubdir(std::string_view location, std::string_view child);

// A new metadata file of `version` (0 for a new table).
std::string NewMetadataFileUri(std::string_view location, int version);
// The version a metadata file's name carries ("00042-….metadata.json" is 42), or -1.
int MetadataFileVersion(std::string_view uri);

std::string NewManifestListUri(std::string_view location, int64_t snapshot_id);

enum class ManifestOrigin { kNewFiles, kRewritten, kMerged };
std::string NewManifestUri(std::string_view location, ManifestOrigin origin);

enum class DataFileRole { kData, kEqualityDeletes, kPositionDeletes };
// A namer for ParquetWriteOptions::new_file_uri: each call a new file of `role` in `dir` (the
// table's data directory, or a partition's directory under it).
std::function<std::string()> NewDataFileUris(std::string dir, DataFileRole role);
// The same with any name prefix: "<dir>/<prefix><uuid>.parquet".
std::function<std::string()> UniqueFileUris(std::string dir_uri, std::string prefix = "");

std::string NewDeletionVectorUri(std::string_view location);

// Where the key index of the table at `location` keeps its checkpoints.
std::string KeyIndexCheckpointPrefix(std::string_view location);

}  // namespace pg2iceberg::iceberg
