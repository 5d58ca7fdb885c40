// Avro object container files (Avro 1.11 specification, "Object Container Files"): the format
// of Iceberg manifests and manifest lists. docs/avro.md describes the byte layout.
//
//   file   := "Obj" 0x01, metadata (map<bytes>), sync (16 bytes), block*
//   block  := long count, long size, size bytes of `count` encoded values (compressed by the
//             codec), sync (the same 16 bytes)
//
// Metadata holds `avro.schema` (the writer schema as JSON) and `avro.codec` ("null" or
// "deflate": raw RFC 1951), plus the user's keys; Iceberg puts "schema", "partition-spec",
// "partition-spec-id", "format-version" and "content" there.
//
// Bytes in, bytes out: the writer builds the file in memory and Finish() hands it over; the
// reader parses a file held in memory. No I/O (the writer's default sync marker comes from
// std::random_device; pass WriterOptions::sync_marker for reproducible bytes). Neither class is
// thread-safe; both are movable.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "avro/datum.h"
#include "avro/encoding.h"
#include "avro/schema.h"
#include "base/status.h"

namespace pg2iceberg::avro {

enum class Codec { kNull, kDeflate };

// "null" or "deflate", as written to `avro.codec`.
std::string_view CodecName(Codec codec);

using SyncMarker = std::array<uint8_t, 16>;

struct WriterOptions {
  Codec codec = Codec::kDeflate;
  // zlib level for kDeflate: -1 (zlib's default, 6) or 0..9.
  int deflate_level = -1;
  // A block is closed once its encoded, uncompressed values reach this many bytes (Java
  // Avro's default sync interval is 64000).
  size_t block_target_bytes = 64000;
  // The file's sync marker; random when absent.
  std::optional<SyncMarker> sync_marker;
};

class ContainerWriter {
 public:
  // Validates the schema (Schema::Validate) and the metadata: keys starting with "avro." are
  // reserved and rejected, as is a deflate level outside -1..9. InvalidArgument on error.
  static Result<ContainerWriter> Create(Schema schema,
                                        std::map<std::string, std::string> metadata,
                                        WriterOptions options = {});

  // Encodes `value` (see Encode() for what matches the schema) into the current block,
  // closing the block once it reaches the target size. On InvalidArgument the value is not
  // added and the writer stays usable. FailedPrecondition after Finish().
  Status Append(const Datum& value);

  // Closes the current block (no-op when it is empty), e.g. to bound a block by count.
  Status Flush();

  // Closes the last block and returns the complete file. The writer is spent afterwards.
  // A file without values is valid: header only.
  Result<std::string> Finish();

  const Schema& schema() const { return schema_; }
  int64_t value_count() const { return value_count_; }
  // The file size if finished now, counting the open block uncompressed: for rolling
  // manifests by size.
  size_t EstimatedSize() const { return out_.size() + block_.size(); }

 private:
  ContainerWriter(Schema schema, WriterOptions options, SyncMarker sync);

  Schema schema_;
  WriterOptions options_;
  SyncMarker sync_;
  std::string out_;    // header and closed blocks
  std::string block_;  // encoded values of the open block
  int64_t block_count_ = 0;
  int64_t value_count_ = 0;
  bool finished_ = false;
};

struct ReaderOptions {
  // Largest block accepted, compressed or inflated (ResourceExhausted beyond it).
  size_t max_block_bytes = size_t{64} << 20;
  // Values taking no bytes (e.g. a file of schema "null") accepted across the whole file.
  int64_t zero_size_budget = kDefaultZeroSizeBudget;
};

class ContainerReader {
 public:
  // Parses the header: magic, metadata, sync marker, and the writer schema from
  // `avro.schema`. DataLoss for a malformed file or schema; Unimplemented for a codec other
  // than null and deflate, or a recursive schema. The reader owns `bytes`: move the buffer in.
  static Result<ContainerReader> Open(std::string bytes, ReaderOptions options = {});

  // The writer schema; values are decoded with it.
  const Schema& schema() const { return schema_; }
  // Every metadata entry, `avro.schema` and `avro.codec` included.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  Codec codec() const { return codec_; }
  const SyncMarker& sync_marker() const { return sync_; }

  // The next value, or std::nullopt at the end of the file. Checks each block's sync marker
  // and that its values fill it exactly. DataLoss on corruption; once an error is returned,
  // every later call returns it too.
  Result<std::optional<Datum>> Next();

  // All remaining values.
  Result<std::vector<Datum>> ReadAll();

 private:
  ContainerReader() = default;
  Status LoadBlock();

  std::string bytes_;
  ReaderOptions options_;
  Schema schema_;
  std::map<std::string, std::string> metadata_;
  Codec codec_ = Codec::kNull;
  SyncMarker sync_{};
  size_t pos_ = 0;           // offset in bytes_ of the next block header
  std::string block_;        // the current block, inflated
  size_t block_pos_ = 0;     // offset in block_ of the next value
  int64_t block_left_ = 0;   // values left in the current block
  int64_t block_index_ = -1;
  size_t block_offset_ = 0;  // file offset of the current block, for messages
  int64_t zero_size_budget_ = 0;
  Status error_;
};

}  // namespace pg2iceberg::avro
