#include "io/arrow_util.h"

#include <arrow/util/io_util.h>

#include <cerrno>
#include <string>
#include <utility>

namespace pg2iceberg::io {
namespace {

// Our Status riding inside an arrow::Status.
class CarriedStatus final : public arrow::StatusDetail {
 public:
  static constexpr char kTypeId[] = "pg2iceberg::Status";
  explicit CarriedStatus(Status status) : status_(std::move(status)) {}
  const char* type_id() const override { return kTypeId; }
  std::string ToString() const override { return std::string(StatusCodeName(status_.code())); }
  const Status& status() const { return status_; }

 private:
  Status status_;
};

std::string Join(std::string_view context, std::string_view message) {
  if (context.empty()) return std::string(message);
  std::string out(context);
  out += ": ";
  out += message;
  return out;
}

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

constexpr char kCredentialsHint[] =
    " (check the S3 credentials: sink.s3_access_key/sink.s3_secret_key, or the environment "
    "and instance role with credential_mode iam, and that they may access this bucket)";

// Arrow's S3 layer reports "AWS Error <NAME> (HTTP status NNN) during <Op> operation:
// <message>"; the name is Aws::S3::S3Errors spelled by Arrow. HEAD requests carry no body, so
// some failures arrive only with the HTTP status.
std::optional<Status> FromS3Message(std::string_view msg, std::string_view context) {
  // "UserNotFound": versitygw answers an unknown access key with 404 XAdminUserNotFound.
  static constexpr std::string_view kAuth[] = {
      "ACCESS_DENIED",           "INVALID_ACCESS_KEY_ID",   "SIGNATURE_DOES_NOT_MATCH",
      "INVALID_CLIENT_TOKEN_ID", "MISSING_AUTHENTICATION_TOKEN", "EXPIRED_TOKEN",
      "INVALID_SIGNATURE",       "UNRECOGNIZED_CLIENT",     "INCOMPLETE_SIGNATURE",
      "AccessDenied",            "InvalidAccessKeyId",      "SignatureDoesNotMatch",
      "UserNotFound",            "HTTP response code: 403", "HTTP response code: 401",
      "HTTP status 403",         "HTTP status 401"};
  static constexpr std::string_view kTransient[] = {
      "NETWORK_CONNECTION",      "SERVICE_UNAVAILABLE",     "SLOW_DOWN",
      "THROTTLING",              "INTERNAL_FAILURE",        "REQUEST_TIMEOUT",
      "REQUEST_EXPIRED",         "REQUEST_TIME_TOO_SKEWED", "SlowDown",
      "ServiceUnavailable",      "InternalError",           "HTTP response code: 500",
      "HTTP response code: 502", "HTTP response code: 503", "HTTP response code: 504",
      "HTTP status 500",         "HTTP status 502",         "HTTP status 503",
      "HTTP status 504",         "curlCode:"};
  for (std::string_view s : kAuth) {
    if (Contains(msg, s)) return FailedPrecondition(Join(context, msg) + kCredentialsHint);
  }
  if (Contains(msg, "NO_SUCH_BUCKET") || Contains(msg, "NoSuchBucket") ||
      (Contains(msg, "Bucket '") && Contains(msg, "not found"))) {
    return FailedPrecondition(Join(context, msg) +
                              " (the bucket does not exist: create it, or fix the bucket in "
                              "sink.warehouse)");
  }
  if (Contains(msg, "NO_SUCH_KEY") || Contains(msg, "NoSuchKey") ||
      Contains(msg, "RESOURCE_NOT_FOUND") || Contains(msg, "Path does not exist") ||
      Contains(msg, "HTTP response code: 404") || Contains(msg, "HTTP status 404")) {
    return NotFound(Join(context, msg));
  }
  for (std::string_view s : kTransient) {
    if (Contains(msg, s)) return Unavailable(Join(context, msg));
  }
  return std::nullopt;
}

}  // namespace

Status FromArrow(const arrow::Status& status, std::string_view context) {
  if (status.ok()) return Status::Ok();
  if (const auto& detail = status.detail();
      detail != nullptr && std::string_view(detail->type_id()) == CarriedStatus::kTypeId) {
    const Status& carried = static_cast<const CarriedStatus&>(*detail).status();
    return context.empty() ? carried : carried.WithContext(context);
  }
  const std::string& msg = status.message();
  switch (arrow::internal::ErrnoFromStatus(status)) {
    case 0:
      break;
    case ENOENT:
    case ENOTDIR:
      return NotFound(Join(context, msg));
    case EACCES:
    case EPERM:
    case EROFS:
      return FailedPrecondition(Join(context, msg) +
                                " (permission denied: give the user running pg2iceberg write "
                                "access to the warehouse directory, or change sink.warehouse)");
    case ENOSPC:
    case EDQUOT:
      return ResourceExhausted(
          Join(context, msg) +
          " (no space left on the device: free space on the volume that holds the warehouse, "
          "e.g. expire old snapshots with an Iceberg engine, or move sink.warehouse to a larger "
          "volume; `run` retries until there is space)");
    case EMFILE:
    case ENFILE:
    case ENOMEM:
      return ResourceExhausted(Join(context, msg) +
                               " (out of file descriptors or memory: raise `ulimit -n`)");
    case EEXIST:
      return AlreadyExists(Join(context, msg));
    case EISDIR:
    case ENAMETOOLONG:
    case EINVAL:
      return InvalidArgument(Join(context, msg));
    default:
      return Unavailable(Join(context, msg));
  }
  switch (status.code()) {
    case arrow::StatusCode::IOError:
      if (auto mapped = FromS3Message(msg, context)) return *mapped;
      return Unavailable(Join(context, msg));
    case arrow::StatusCode::KeyError:
    case arrow::StatusCode::IndexError:
      return NotFound(Join(context, msg));
    case arrow::StatusCode::Invalid:
    case arrow::StatusCode::TypeError:
    case arrow::StatusCode::SerializationError:
      if (auto mapped = FromS3Message(msg, context)) return *mapped;
      return InvalidArgument(Join(context, msg));
    case arrow::StatusCode::OutOfMemory:
    case arrow::StatusCode::CapacityError:
      return ResourceExhausted(Join(context, msg));
    case arrow::StatusCode::AlreadyExists:
      return AlreadyExists(Join(context, msg));
    case arrow::StatusCode::NotImplemented:
      return Unimplemented(Join(context, msg));
    case arrow::StatusCode::Cancelled:
      return Cancelled(Join(context, msg));
    default:
      if (auto mapped = FromS3Message(msg, context)) return *mapped;
      return Internal(Join(context, status.ToString()));
  }
}

arrow::Status ToArrow(const Status& status) {
  if (status.ok()) return arrow::Status::OK();
  return arrow::Status(arrow::StatusCode::IOError, status.message(),
                       std::make_shared<CarriedStatus>(status));
}

namespace {

class OutputAdapter final : public arrow::io::OutputStream {
 public:
  explicit OutputAdapter(std::unique_ptr<io::OutputStream> stream)
      : stream_(std::move(stream)) {}

  arrow::Status Write(const void* data, int64_t nbytes) override {
    if (stream_ == nullptr) return arrow::Status::Invalid("stream is closed");
    return ToArrow(stream_->Write(
        std::string_view(static_cast<const char*>(data), static_cast<size_t>(nbytes))));
  }
  arrow::Status Close() override {
    if (stream_ == nullptr) return arrow::Status::OK();
    Status status = stream_->Close();
    stream_.reset();
    return ToArrow(status);
  }
  arrow::Status Abort() override {
    stream_.reset();  // abandoned: never visible
    return arrow::Status::OK();
  }
  arrow::Result<int64_t> Tell() const override {
    if (stream_ == nullptr) return arrow::Status::Invalid("stream is closed");
    return stream_->Tell();
  }
  bool closed() const override { return stream_ == nullptr; }

 private:
  std::unique_ptr<io::OutputStream> stream_;
};

}  // namespace

std::shared_ptr<arrow::io::OutputStream> AdaptForArrow(std::unique_ptr<OutputStream> stream) {
  return std::make_shared<OutputAdapter>(std::move(stream));
}

}  // namespace pg2iceberg::io
