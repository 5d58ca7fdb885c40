// Deletion vectors (Iceberg format v3) in Puffin files (Puffin spec; docs/deletion-vectors.md).
//
// A deletion vector is the set of deleted row positions of one data file, stored as a
// `deletion-vector-v1` blob: a 4-byte big-endian length of what follows up to the checksum, the
// magic D1 D3 39 64, the positions as a 64-bit Roaring bitmap in the portable format (an
// 8-byte little-endian count of 32-bit bitmaps, then per bitmap its 4-byte key, the high half
// of the positions, and the 32-bit bitmap in Roaring's portable format), and a big-endian
// CRC-32 of the magic and bitmap. The 32-bit bitmaps are CRoaring's (Debian libroaring-dev).
//
// A Puffin file holds blobs between the magic "PFA1" and a footer: the magic, a JSON payload
// describing each blob (type, fields, snapshot-id and sequence-number -1 for inherited,
// offset, length, properties referenced-data-file and cardinality), its 4-byte little-endian
// size, 4 bytes of flags (0: uncompressed), and the magic again. The manifest entry of a
// deletion vector names the Puffin file and the blob's offset and length in it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "iceberg/data_file.h"
#include "io/file_io.h"
#include "types/value.h"

namespace pg2iceberg::iceberg {

// The blob of `positions` (any order, duplicates allowed; each >= 0).
Result<std::string> SerializeDeletionVector(const std::vector<int64_t>& positions);
// The positions of a blob, ascending. DataLoss for a blob that is not a valid vector (length,
// magic, checksum, bitmap).
Result<std::vector<int64_t>> DeserializeDeletionVector(std::string_view blob);

// Reads the deletion vector a manifest entry describes (its blob only, by offset and length).
Result<std::vector<int64_t>> ReadDeletionVector(const std::shared_ptr<io::FileIO>& io,
                                                const DataFile& dv);

// Writes one Puffin file holding a deletion vector per data file.
class DeletionVectorWriter {
 public:
  struct Vector {
    std::string data_file;  // the data file whose rows are deleted
    int32_t spec_id = 0;    // and its partition
    std::vector<Value> partition;
    std::vector<int64_t> positions;
  };
  // The manifest entries (position deletes, format PUFFIN) of the vectors, written to `uri`.
  static Result<std::vector<DataFile>> Write(io::FileIO* io, const std::string& uri,
                                             const std::vector<Vector>& vectors);
};

}  // namespace pg2iceberg::iceberg
