// The seam between pg2iceberg's error model and Arrow's, and between our OutputStream and
// Arrow's, for code that hands FileIO objects to Arrow and Parquet (the Parquet writers and
// readers in iceberg/parquet_io.h).
//
// A pg2iceberg Status that travels through Arrow (an OutputStream error surfacing from a
// Parquet writer) is carried as an arrow::StatusDetail and comes back out of FromArrow with
// its code intact, so a full disk under a Parquet writer is still ResourceExhausted.
//
// Thread safety: the functions are thread-safe; an adapted stream is as thread-safe as the
// stream it wraps (one thread at a time).
#pragma once

#include <memory>
#include <string_view>

#include <arrow/io/interfaces.h>
#include <arrow/status.h>

#include "base/status.h"
#include "io/file_io.h"

namespace pg2iceberg::io {

// Converts an Arrow error to ours, choosing the code by what the caller must do next (see
// file_io.h). Understands errno details of local I/O (ENOENT → NotFound, EACCES/EPERM/EROFS
// → FailedPrecondition, ENOSPC/EDQUOT → ResourceExhausted) and the AWS error names in S3
// messages (ACCESS_DENIED, NO_SUCH_BUCKET, NETWORK_CONNECTION, …). `context` (e.g.
// "write s3://b/k") prefixes the message.
Status FromArrow(const arrow::Status& status, std::string_view context = {});

// Carries `status` through Arrow: FromArrow(ToArrow(s)) has s's code and message.
arrow::Status ToArrow(const Status& status);

// An arrow::io::OutputStream that writes to `stream`. Close() makes the object visible;
// destroying the adapter (or calling Abort()) without a successful Close abandons it.
std::shared_ptr<arrow::io::OutputStream> AdaptForArrow(std::unique_ptr<OutputStream> stream);

}  // namespace pg2iceberg::io
