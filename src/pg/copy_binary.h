// PostgreSQL's binary COPY format (COPY … TO STDOUT (FORMAT binary)), read incrementally, and
// the binary forms of the simple types decoded to the Values the text parsers produce.
//
// The copy reads a table in binary because text output and parsing cost as much CPU as the
// rest of the copy: an int8 is 8 bytes on the wire instead of its digits, a timestamp one
// int64 instead of a string to take apart. Only types whose binary form is fixed and simple
// are decoded here; every other column is selected through its type's output function, which
// sends exactly the text the text parsers expect (see SelectListFor in snapshot/).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "types/value.h"

namespace pg2iceberg::pg {

// True when a column of PostgreSQL base type `base_oid` mapped to Iceberg `type` is read in
// binary (ParseBinary); false when it is read as text (ParseText).
bool BinaryDecodable(const Type& type, uint32_t base_oid);

// Decodes one non-NULL binary value of such a column: the same Value ParseText gives for the
// value's text form (±infinity clamped the same way). InvalidArgument for bytes of the wrong
// length.
Result<Value> ParseBinary(const Type& type, uint32_t base_oid, std::string_view bytes);

// One row of a binary COPY: a field per column, nullopt for NULL. The views point into the
// reader's buffer and are valid only during the callback.
using BinaryRow = std::vector<std::optional<std::string_view>>;

// Reads the binary COPY stream as it arrives, in pieces of any size (libpq hands one CopyData
// message at a time: the header with the first row, then a row each, then the trailer).
class BinaryCopyReader {
 public:
  explicit BinaryCopyReader(size_t columns) : columns_(columns) {}

  // Parses what `data` completes and calls `on_row` for each whole row; keeps a partial row
  // for the next call. DataLoss for a malformed stream (bad signature, wrong field count).
  Status Feed(std::string_view data, const std::function<Status(const BinaryRow&)>& on_row);
  // OK when the stream ended at its trailer and nothing is left over.
  Status Finish() const;

 private:
  // Parses from `in`; advances it past what was consumed.
  Status Parse(std::string_view* in, const std::function<Status(const BinaryRow&)>& on_row);

  size_t columns_;
  bool header_done_ = false;
  bool trailer_seen_ = false;
  std::string carry_;  // the start of a row that did not arrive whole
  BinaryRow row_;
};

}  // namespace pg2iceberg::pg
