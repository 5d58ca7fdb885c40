// A FileIO wrapper that fails chosen calls, to simulate crashes, a full disk and a flaky
// network under the code that writes objects (LevelDB's fault-injection Env, at object
// granularity).
//
//   auto faulty = std::make_shared<FaultInjectingFileIO>(std::make_shared<MemoryFileIO>());
//   faulty->FailNth(FaultOp::kWrite, 3, ResourceExhausted("disk full"));   // 3rd Write fails
//   faulty->FailNth(FaultOp::kClose, 1, Unavailable("crash"), FaultTiming::kAfter);
//
// Operations are counted from 1, per kind, across all streams, from construction (or the last
// Reset()). A rule fires once, or — with `sticky` — on that call and every later one of its
// kind (a disk that stays full). kBefore fails without doing the operation: a failed Close
// leaves the object invisible and abandoned, as a crash before the upload completed would.
// kAfter performs it and then reports the error, as a lost reply would (the object exists
// although the caller saw a failure: the "outcome unknown" case).
//
// Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "io/file_io.h"

namespace pg2iceberg::io {

enum class FaultOp {
  kNewWriter,
  kWrite,   // OutputStream::Write
  kClose,   // OutputStream::Close
  kRead,    // ReadAll and OpenReader
  kStat,    // Size and Exists
  kDelete,  // Delete, and each object of DeleteMany
  kList,
};
inline constexpr int kFaultOpCount = 7;

enum class FaultTiming { kBefore, kAfter };

class FaultInjectingFileIO final : public FileIO {
 public:
  explicit FaultInjectingFileIO(std::shared_ptr<FileIO> base);

  // Fails the `nth` (1-based) call of `op` with `status` (not OK).
  void FailNth(FaultOp op, int64_t nth, Status status,
               FaultTiming timing = FaultTiming::kBefore, bool sticky = false);
  // Calls `hook` (outside the decorator's lock) before every operation, with its kind and URI;
  // for tests that interleave another actor at an exact point. Empty: none.
  void BeforeCall(std::function<void(FaultOp op, const std::string& uri)> hook);
  // Removes all rules and zeroes the counters.
  void Reset();
  // Calls of `op` seen so far (failed ones included).
  int64_t count(FaultOp op) const;

  Result<std::unique_ptr<OutputStream>> NewWriter(const std::string& uri) override;
  Result<std::string> ReadAll(const std::string& uri) override;
  Result<std::shared_ptr<arrow::io::RandomAccessFile>> OpenReader(
      const std::string& uri) override;
  Result<int64_t> Size(const std::string& uri) override;
  Result<bool> Exists(const std::string& uri) override;
  Status Delete(const std::string& uri) override;
  Result<std::vector<FileEntry>> List(const std::string& prefix) override;

 private:
  friend class FaultyOutputStream;
  struct Rule {
    FaultOp op;
    int64_t nth;
    Status status;
    FaultTiming timing;
    bool sticky;
  };
  struct Fault {
    Status status;
    FaultTiming timing;
  };
  // Counts one call of `op` and returns the fault to inject, if any.
  std::optional<Fault> Next(FaultOp op, const std::string& uri);

  std::shared_ptr<FileIO> base_;
  mutable std::mutex mu_;
  std::vector<Rule> rules_;
  std::function<void(FaultOp, const std::string&)> before_call_;
  std::array<int64_t, kFaultOpCount> counts_{};
};

}  // namespace pg2iceberg::io
