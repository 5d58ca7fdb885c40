// Errors as values: the one error model of pg2iceberg.
//
// Every fallible call returns a `Status` or a `Result<T>`; no exception crosses a component
// boundary. Adapters that own a third-party library (libpq, yaml-cpp, Arrow, libcurl) convert
// that library's exceptions and codes into a Status inside the adapter.
//
// The code says what the caller must do next (Abseil's rule), not where the error came from:
//   kInvalidArgument     bad input; fix the input (config, SQL, bytes)
//   kNotFound            the object does not exist; a value, not a failure, for many callers
//   kAlreadyExists       create of something that exists
//   kFailedPrecondition  the system is not in a state to do this; stop and tell the operator
//   kAborted             a concurrent change won; re-read and retry the whole transaction
//   kUnavailable         transient; retry the same call with backoff
//   kCommitStateUnknown  a commit may or may not have happened; read back before any retry
//                        or cleanup (never delete files written for it until resolved)
//   kResourceExhausted   out of disk, memory, slots, senders
//   kDataLoss            bytes are corrupt or something that must exist is gone
//   kUnimplemented       a feature this build does not have
//   kCancelled           shutdown was requested
//   kInternal            a bug in pg2iceberg
//
// Messages say what failed, on which object, and what to do, and never hold secrets.
// Status and Result are values: copyable, movable, not thread-safe when shared mutably.
#pragma once

#include <cassert>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace pg2iceberg {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,
  kAborted,
  kUnavailable,
  kCommitStateUnknown,
  kResourceExhausted,
  kDataLoss,
  kUnimplemented,
  kCancelled,
  kInternal,
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message);

  static Status Ok() { return Status(); }

  bool ok() const { return rep_ == nullptr; }
  StatusCode code() const { return rep_ ? rep_->code : StatusCode::kOk; }
  const std::string& message() const;

  // "InvalidArgument: message" or "OK".
  std::string ToString() const;

  // Returns a copy whose message is "context: message"; OK stays OK.
  Status WithContext(std::string_view context) const;

  bool operator==(const Status& other) const {
    return code() == other.code() && message() == other.message();
  }

 private:
  struct Rep {
    StatusCode code;
    std::string message;
  };
  // Null when OK keeps the success path to one pointer test.
  std::shared_ptr<const Rep> rep_;
};

Status InvalidArgument(std::string message);
Status NotFound(std::string message);
Status AlreadyExists(std::string message);
Status FailedPrecondition(std::string message);
Status Aborted(std::string message);
Status Unavailable(std::string message);
Status CommitStateUnknown(std::string message);
Status ResourceExhausted(std::string message);
Status DataLoss(std::string message);
Status Unimplemented(std::string message);
Status Cancelled(std::string message);
Status Internal(std::string message);

inline bool IsNotFound(const Status& s) { return s.code() == StatusCode::kNotFound; }

// A value or the error that prevented it.
template <typename T>
class [[nodiscard]] Result {
 public:
  static_assert(!std::is_same_v<T, Status>, "Result<Status> is meaningless");

  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok() && "Result constructed from an OK status");
    if (std::get<Status>(v_).ok()) v_ = Internal("Result constructed from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }

  const Status& status() const& {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  Status status() && { return ok() ? Status() : std::get<Status>(std::move(v_)); }

  const T& value() const& { return std::get<T>(v_); }
  T& value() & { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }

  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

  template <typename U>
  T value_or(U&& fallback) const& {
    return ok() ? value() : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  std::variant<T, Status> v_;
};

namespace internal {
inline Status ToStatus(const Status& s) { return s; }
template <typename T>
Status ToStatus(const Result<T>& r) {
  return r.status();
}
}  // namespace internal

}  // namespace pg2iceberg

#define PG2I_CONCAT_INNER(a, b) a##b
#define PG2I_CONCAT(a, b) PG2I_CONCAT_INNER(a, b)

// Returns the error of a Status or Result expression from the enclosing function.
#define PG2I_RETURN_IF_ERROR(expr)                                          \
  do {                                                                      \
    auto&& _pg2i_st = (expr);                                               \
    if (!_pg2i_st.ok()) return ::pg2iceberg::internal::ToStatus(_pg2i_st);  \
  } while (false)

#define PG2I_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return std::move(tmp).status();   \
  lhs = std::move(tmp).value()

// `PG2I_ASSIGN_OR_RETURN(auto x, MakeX());` declares x from the value or returns the error.
#define PG2I_ASSIGN_OR_RETURN(lhs, expr) \
  PG2I_ASSIGN_OR_RETURN_IMPL(PG2I_CONCAT(_pg2i_result_, __LINE__), lhs, expr)
