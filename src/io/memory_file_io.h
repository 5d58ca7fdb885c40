// An in-memory FileIO for unit tests and the deterministic simulation: a map from URI to
// bytes, any scheme accepted. It keeps the FileIO contract (file_io.h) — visible only after
// Close, NotFound as a value, List by directory prefix — and stamps objects with the time of
// the Clock it is given, so orphan-cleanup grace periods can be tested with a FakeClock.
//
// Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/clock.h"
#include "io/file_io.h"

namespace pg2iceberg::io {

class MemoryFileIO final : public FileIO {
 public:
  // `clock` must outlive this object; null means Clock::Real().
  explicit MemoryFileIO(Clock* clock = nullptr);

  Result<std::unique_ptr<OutputStream>> NewWriter(const std::string& uri) override;
  Result<std::string> ReadAll(const std::string& uri) override;
  Result<std::shared_ptr<arrow::io::RandomAccessFile>> OpenReader(
      const std::string& uri) override;
  Result<int64_t> Size(const std::string& uri) override;
  Result<bool> Exists(const std::string& uri) override;
  Status Delete(const std::string& uri) override;
  Result<std::vector<FileEntry>> List(const std::string& prefix) override;

  // Every visible object's URI, sorted (for assertions).
  std::vector<std::string> Uris() const;
  // Total bytes held by visible objects.
  int64_t TotalBytes() const;

 private:
  friend class MemoryOutputStream;
  struct Object {
    std::shared_ptr<const std::string> bytes;
    std::chrono::system_clock::time_point mtime;
  };
  void Publish(const std::string& uri, std::string bytes);

  Clock* clock_;
  mutable std::mutex mu_;
  std::map<std::string, Object> objects_;
};

}  // namespace pg2iceberg::io
