#include "iceberg/puffin.h"

#include <roaring/roaring.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <map>

#include <arrow/buffer.h>
#include <arrow/io/interfaces.h>
#include <arrow/result.h>
#include <nlohmann/json.hpp>

namespace pg2iceberg::iceberg {
namespace {

constexpr char kPuffinMagic[] = {'P', 'F', 'A', '1'};
constexpr unsigned char kVectorMagic[] = {0xD1, 0xD3, 0x39, 0x64};

struct BitmapDeleter {
  void operator()(roaring_bitmap_t* b) const { roaring_bitmap_free(b); }
};
using Bitmap = std::unique_ptr<roaring_bitmap_t, BitmapDeleter>;

void PutBigEndian32(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>((v >> shift) & 0xff));
}
void PutLittleEndian(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t GetLittleEndian(std::string_view in, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{static_cast<unsigned char>(in[at + i])} << (8 * i);
  return v;
}
uint32_t GetBigEndian32(std::string_view in, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(in[at + i]);
  return v;
}
uint32_t Crc32(std::string_view bytes) {
  return static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

}  // namespace

Result<std::string> SerializeDeletionVector(const std::vector<int64_t>& positions) {
  // One 32-bit bitmap per high half, keys ascending.
  std::map<uint32_t, std::vector<uint32_t>> by_key;
  for (int64_t p : positions) {
    if (p < 0) return InvalidArgument("a deleted row position cannot be negative");
    by_key[static_cast<uint32_t>(static_cast<uint64_t>(p) >> 32)].push_back(
        static_cast<uint32_t>(p & 0xffffffff));
  }
  std::string data(reinterpret_cast<const char*>(kVectorMagic), 4);
  PutLittleEndian(&data, by_key.size(), 8);
  for (auto& [key, lows] : by_key) {
    Bitmap b(roaring_bitmap_of_ptr(lows.size(), lows.data()));
    if (b == nullptr) return ResourceExhausted("could not allocate a Roaring bitmap");
    roaring_bitmap_run_optimize(b.get());
    PutLittleEndian(&data, key, 4);
    const size_t at = data.size();
    data.resize(at + roaring_bitmap_portable_size_in_bytes(b.get()));
    roaring_bitmap_portable_serialize(b.get(), data.data() + at);
  }
  if (data.size() > 0x7ffffff0) return InvalidArgument("a deletion vector cannot exceed 2 GiB");
  std::string out;
  out.reserve(data.size() + 8);
  PutBigEndian32(&out, static_cast<uint32_t>(data.size()));
  out += data;
  PutBigEndian32(&out, Crc32(data));
  return out;
}

Result<std::vector<int64_t>> DeserializeDeletionVector(std::string_view blob) {
  if (blob.size() < 4 + 4 + 8 + 4) return DataLoss("deletion vector blob too short");
  const uint32_t length = GetBigEndian32(blob, 0);
  if (length != blob.size() - 8) {
    return DataLoss("deletion vector length " + std::to_string(length) + " does not match its blob of " +
                    std::to_string(blob.size()) + " bytes");
  }
  std::string_view data = blob.substr(4, length);
  if (Crc32(data) != GetBigEndian32(blob, 4 + length)) {
    return DataLoss("deletion vector checksum mismatch");
  }
  if (std::memcmp(data.data(), kVectorMagic, 4) != 0) return DataLoss("not a deletion vector (magic)");
  const uint64_t count = GetLittleEndian(data, 4, 8);
  size_t at = 12;
  std::vector<int64_t> out;
  int64_t last_key = -1;
  for (uint64_t i = 0; i < count; ++i) {
    if (at + 4 > data.size()) return DataLoss("deletion vector truncated");
    const uint32_t key = static_cast<uint32_t>(GetLittleEndian(data, at, 4));
    at += 4;
    if (static_cast<int64_t>(key) <= last_key) return DataLoss("deletion vector keys out of order");
    last_key = key;
    const size_t size = roaring_bitmap_portable_deserialize_size(data.data() + at, data.size() - at);
    if (size == 0) return DataLoss("deletion vector holds an invalid Roaring bitmap");
    Bitmap b(roaring_bitmap_portable_deserialize_safe(data.data() + at, data.size() - at));
    if (b == nullptr) return DataLoss("deletion vector holds an invalid Roaring bitmap");
    at += size;
    std::vector<uint32_t> lows(roaring_bitmap_get_cardinality(b.get()));
    roaring_bitmap_to_uint32_array(b.get(), lows.data());
    for (uint32_t low : lows) out.push_back(static_cast<int64_t>((uint64_t{key} << 32) | low));
  }
  if (at != data.size()) return DataLoss("deletion vector has trailing bytes");
  return out;
}

Result<std::vector<int64_t>> ReadDeletionVector(const std::shared_ptr<io::FileIO>& io,
                                                const DataFile& dv) {
  if (!dv.content_offset || !dv.content_size_in_bytes) {
    return DataLoss("deletion vector " + dv.file_path + " has no content offset or size");
  }
  PG2I_ASSIGN_OR_RETURN(auto file, io->OpenReader(dv.file_path));
  auto read = file->ReadAt(*dv.content_offset, *dv.content_size_in_bytes);
  if (!read.ok()) return Unavailable("reading " + dv.file_path + ": " + read.status().ToString());
  std::shared_ptr<arrow::Buffer> buf = *read;
  if (buf->size() != *dv.content_size_in_bytes) {
    return DataLoss("deletion vector " + dv.file_path + " is shorter than its manifest says");
  }
  auto positions = DeserializeDeletionVector(
      std::string_view(reinterpret_cast<const char*>(buf->data()), static_cast<size_t>(buf->size())));
  if (!positions.ok()) return positions.status().WithContext(dv.file_path);
  if (static_cast<int64_t>(positions->size()) != dv.record_count) {
    return DataLoss("deletion vector in " + dv.file_path + " holds " +
                    std::to_string(positions->size()) + " positions, its manifest says " +
                    std::to_string(dv.record_count));
  }
  return positions;
}

Result<std::vector<DataFile>> DeletionVectorWriter::Write(io::FileIO* io, const std::string& uri,
                                                          const std::vector<Vector>& vectors) {
  std::string file(kPuffinMagic, 4);
  nlohmann::json blobs = nlohmann::json::array();
  std::vector<DataFile> out;
  for (const Vector& v : vectors) {
    std::vector<int64_t> positions = v.positions;
    std::sort(positions.begin(), positions.end());
    positions.erase(std::unique(positions.begin(), positions.end()), positions.end());
    PG2I_ASSIGN_OR_RETURN(std::string blob, SerializeDeletionVector(positions));
    DataFile f;
    f.content = FileContent::kPositionDeletes;
    f.file_path = uri;
    f.file_format = "PUFFIN";
    f.spec_id = v.spec_id;
    f.partition = v.partition;
    f.record_count = static_cast<int64_t>(positions.size());
    f.referenced_data_file = v.data_file;
    f.content_offset = static_cast<int64_t>(file.size());
    f.content_size_in_bytes = static_cast<int64_t>(blob.size());
    blobs.push_back({{"type", "deletion-vector-v1"},
                     {"fields", {2147483645}},  // the row position metadata column
                     {"snapshot-id", -1},
                     {"sequence-number", -1},
                     {"offset", *f.content_offset},
                     {"length", *f.content_size_in_bytes},
                     {"properties",
                      {{"referenced-data-file", v.data_file},
                       {"cardinality", std::to_string(positions.size())}}}});
    file += blob;
    out.push_back(std::move(f));
  }
  const std::string payload =
      nlohmann::json{{"blobs", blobs}, {"properties", {{"created-by", "pg2iceberg"}}}}.dump();
  file.append(kPuffinMagic, 4);
  file += payload;
  PutLittleEndian(&file, payload.size(), 4);
  PutLittleEndian(&file, 0, 4);  // flags: the footer is not compressed
  file.append(kPuffinMagic, 4);
  PG2I_RETURN_IF_ERROR(io->WriteAll(uri, file));
  for (DataFile& f : out) f.file_size_in_bytes = static_cast<int64_t>(file.size());
  return out;
}

}  // namespace pg2iceberg::iceberg
