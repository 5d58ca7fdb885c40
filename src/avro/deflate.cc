#include "avro/deflate.h"

#include <zlib.h>

#include <algorithm>
#include <climits>

namespace pg2iceberg::avro::internal {

namespace {

// zlib counts in uInt; feed larger buffers in pieces.
constexpr size_t kMaxChunk = UINT_MAX;

uInt Chunk(size_t n) { return static_cast<uInt>(std::min(n, kMaxChunk)); }

}  // namespace

Result<std::string> DeflateRaw(std::string_view input, int level) {
  z_stream zs{};
  if (deflateInit2(&zs, level, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return Internal("zlib deflateInit2 failed (level " + std::to_string(level) + ")");
  }
  std::string out;
  out.resize(std::max<size_t>(64, deflateBound(&zs, static_cast<uLong>(input.size()))));
  size_t in_done = 0;
  int ret = Z_OK;
  while (ret != Z_STREAM_END) {
    if (zs.avail_in == 0 && in_done < input.size()) {
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data() + in_done));
      zs.avail_in = Chunk(input.size() - in_done);
      in_done += zs.avail_in;
    }
    if (zs.total_out == out.size()) out.resize(out.size() * 2);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + zs.total_out);
    zs.avail_out = Chunk(out.size() - zs.total_out);
    ret = deflate(&zs, in_done == input.size() ? Z_FINISH : Z_NO_FLUSH);
    if (ret != Z_OK && ret != Z_STREAM_END && ret != Z_BUF_ERROR) {
      deflateEnd(&zs);
      return Internal("zlib deflate failed with code " + std::to_string(ret));
    }
  }
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

Result<std::string> InflateRaw(std::string_view input, size_t max_output) {
  z_stream zs{};
  if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) return Internal("zlib inflateInit2 failed");
  struct Ender {
    z_stream* zs;
    ~Ender() { inflateEnd(zs); }
  } ender{&zs};

  // One byte beyond the limit tells "exactly max_output" from "more than max_output".
  const size_t cap = max_output == SIZE_MAX ? max_output : max_output + 1;
  std::string out;
  out.resize(std::min(cap, std::max<size_t>(4096, input.size() * 4)));
  size_t in_done = 0;
  size_t produced = 0;
  while (true) {
    if (zs.avail_in == 0 && in_done < input.size()) {
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data() + in_done));
      zs.avail_in = Chunk(input.size() - in_done);
      in_done += zs.avail_in;
    }
    if (produced == out.size()) {
      if (out.size() >= cap) {
        return ResourceExhausted("deflate block inflates to more than " +
                                 std::to_string(max_output) + " bytes");
      }
      out.resize(std::min(cap, out.size() * 2));
    }
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    zs.avail_out = Chunk(out.size() - produced);
    const uInt avail_before = zs.avail_out;
    int ret = inflate(&zs, Z_NO_FLUSH);
    produced += avail_before - zs.avail_out;
    if (produced > max_output) {
      return ResourceExhausted("deflate block inflates to more than " +
                               std::to_string(max_output) + " bytes");
    }
    if (ret == Z_STREAM_END) {
      // Bytes after the end of the stream are ignored, as Java's Inflater and Python's zlib
      // ignore them: fastavro writes zlib.compress(data)[2:-1], which leaves three bytes of
      // the zlib checksum behind every block.
      out.resize(produced);
      return out;
    }
    if (ret == Z_OK) continue;
    // No progress: it needs more room, or the next piece of a >4 GiB input.
    if (ret == Z_BUF_ERROR && (zs.avail_out == 0 || in_done < input.size())) continue;
    if (ret == Z_BUF_ERROR) return DataLoss("deflate block is truncated");
    return DataLoss(std::string("deflate block is corrupt: ") +
                    (zs.msg != nullptr ? zs.msg : "zlib error " + std::to_string(ret)));
  }
}

}  // namespace pg2iceberg::avro::internal
