#include "io/fault_injection.h"

#include <utility>

namespace pg2iceberg::io {

class FaultyOutputStream final : public OutputStream {
 public:
  FaultyOutputStream(FaultInjectingFileIO* owner, std::unique_ptr<OutputStream> base)
      : owner_(owner), base_(std::move(base)) {}

  Status Write(std::string_view bytes) override {
    if (base_ == nullptr) return InvalidArgument("write after close: " + uri_copy_);
    auto fault = owner_->Next(FaultOp::kWrite, base_->uri());
    if (fault && fault->timing == FaultTiming::kBefore) return fault->status;
    PG2I_RETURN_IF_ERROR(base_->Write(bytes));
    return fault ? fault->status : Status::Ok();
  }
  Status Close() override {
    if (base_ == nullptr) return InvalidArgument("close after close: " + uri_copy_);
    uri_copy_ = base_->uri();
    auto fault = owner_->Next(FaultOp::kClose, uri_copy_);
    if (fault && fault->timing == FaultTiming::kBefore) {
      base_.reset();  // the crash: the upload never completes
      return fault->status;
    }
    Status status = base_->Close();
    base_.reset();
    PG2I_RETURN_IF_ERROR(status);
    return fault ? fault->status : Status::Ok();
  }
  int64_t Tell() const override { return base_ ? base_->Tell() : 0; }
  const std::string& uri() const override { return base_ ? base_->uri() : uri_copy_; }

 private:
  FaultInjectingFileIO* owner_;
  std::unique_ptr<OutputStream> base_;
  std::string uri_copy_;
};

FaultInjectingFileIO::FaultInjectingFileIO(std::shared_ptr<FileIO> base)
    : base_(std::move(base)) {}

void FaultInjectingFileIO::FailNth(FaultOp op, int64_t nth, Status status, FaultTiming timing,
                                   bool sticky) {
  std::lock_guard lock(mu_);
  rules_.push_back(Rule{op, nth, std::move(status), timing, sticky});
}

void FaultInjectingFileIO::BeforeCall(std::function<void(FaultOp, const std::string&)> hook) {
  std::lock_guard lock(mu_);
  before_call_ = std::move(hook);
}

void FaultInjectingFileIO::Reset() {
  std::lock_guard lock(mu_);
  rules_.clear();
  counts_.fill(0);
}

int64_t FaultInjectingFileIO::count(FaultOp op) const {
  std::lock_guard lock(mu_);
  return counts_[static_cast<size_t>(op)];
}

std::optional<FaultInjectingFileIO::Fault> FaultInjectingFileIO::Next(FaultOp op,
                                                                      const std::string& uri) {
  std::function<void(FaultOp, const std::string&)> hook;
  {
    std::lock_guard lock(mu_);
    hook = before_call_;
  }
  if (hook) hook(op, uri);
  std::lock_guard lock(mu_);
  const int64_t n = ++counts_[static_cast<size_t>(op)];
  for (const Rule& rule : rules_) {
    if (rule.op != op) continue;
    if (n == rule.nth || (rule.sticky && n > rule.nth)) {
      return Fault{rule.status.WithContext("injected fault on " + uri), rule.timing};
    }
  }
  return std::nullopt;
}

// Runs `call` around an injected fault: kBefore skips it, kAfter runs it and then fails.
#define PG2I_FAULT_WRAP(op, uri, call)                                          \
  do {                                                                          \
    auto fault = Next(op, uri);                                                 \
    if (fault && fault->timing == FaultTiming::kBefore) return fault->status;   \
    auto result = (call);                                                       \
    if (fault && ::pg2iceberg::internal::ToStatus(result).ok()) return fault->status; \
    return result;                                                              \
  } while (false)

Result<std::unique_ptr<OutputStream>> FaultInjectingFileIO::NewWriter(const std::string& uri) {
  auto fault = Next(FaultOp::kNewWriter, uri);
  if (fault && fault->timing == FaultTiming::kBefore) return fault->status;
  PG2I_ASSIGN_OR_RETURN(std::unique_ptr<OutputStream> base, base_->NewWriter(uri));
  if (fault) return fault->status;  // the stream is dropped: nothing becomes visible
  return std::unique_ptr<OutputStream>(new FaultyOutputStream(this, std::move(base)));
}

Result<std::string> FaultInjectingFileIO::ReadAll(const std::string& uri) {
  PG2I_FAULT_WRAP(FaultOp::kRead, uri, base_->ReadAll(uri));
}

Result<std::shared_ptr<arrow::io::RandomAccessFile>> FaultInjectingFileIO::OpenReader(
    const std::string& uri) {
  PG2I_FAULT_WRAP(FaultOp::kRead, uri, base_->OpenReader(uri));
}

Result<int64_t> FaultInjectingFileIO::Size(const std::string& uri) {
  PG2I_FAULT_WRAP(FaultOp::kStat, uri, base_->Size(uri));
}

Result<bool> FaultInjectingFileIO::Exists(const std::string& uri) {
  PG2I_FAULT_WRAP(FaultOp::kStat, uri, base_->Exists(uri));
}

Status FaultInjectingFileIO::Delete(const std::string& uri) {
  PG2I_FAULT_WRAP(FaultOp::kDelete, uri, base_->Delete(uri));
}

Result<std::vector<FileEntry>> FaultInjectingFileIO::List(const std::string& prefix) {
  PG2I_FAULT_WRAP(FaultOp::kList, prefix, base_->List(prefix));
}

#undef PG2I_FAULT_WRAP

}  // namespace pg2iceberg::io
