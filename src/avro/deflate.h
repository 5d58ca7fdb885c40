// Raw DEFLATE (RFC 1951: no zlib or gzip wrapper), the compression of Avro's "deflate" codec,
// via zlib with negative windowBits. Internal to the Avro codec; pure (memory to memory).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/status.h"

namespace pg2iceberg::avro::internal {

// Compresses `input` at zlib `level` (-1 = zlib's default, 0..9). Internal on a zlib failure.
Result<std::string> DeflateRaw(std::string_view input, int level);

// Decompresses one complete raw DEFLATE stream; bytes after its end are ignored (fastavro
// leaves three there). DataLoss when the stream is malformed or truncated; ResourceExhausted
// when the output would exceed `max_output` bytes (checked while inflating, so a small bomb
// cannot allocate more).
Result<std::string> InflateRaw(std::string_view input, size_t max_output);

}  // namespace pg2iceberg::avro::internal
