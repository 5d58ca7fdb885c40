#include "io/memory_file_io.h"

#include <arrow/buffer.h>
#include <arrow/io/memory.h>

#include <utility>

namespace pg2iceberg::io {

class MemoryOutputStream final : public OutputStream {
 public:
  MemoryOutputStream(MemoryFileIO* owner, std::string uri)
      : owner_(owner), uri_(std::move(uri)) {}

  Status Write(std::string_view bytes) override {
    if (closed_) return InvalidArgument("write after close: " + uri_);
    buffer_.append(bytes);
    return Status::Ok();
  }
  Status Close() override {
    if (closed_) return InvalidArgument("close after close: " + uri_);
    closed_ = true;
    owner_->Publish(uri_, std::move(buffer_));
    return Status::Ok();
  }
  int64_t Tell() const override { return static_cast<int64_t>(buffer_.size()); }
  const std::string& uri() const override { return uri_; }

 private:
  MemoryFileIO* owner_;
  std::string uri_;
  std::string buffer_;
  bool closed_ = false;
};

namespace {

// A directory prefix "mem://a/b" or "mem://a/b/" matches "mem://a/b/…".
std::string DirPrefix(const std::string& prefix) {
  if (!prefix.empty() && prefix.back() == '/') return prefix;
  return prefix + "/";
}

// Keeps the object's bytes alive for as long as a reader holds them, even after Delete.
class SharedStringBuffer final : public arrow::Buffer {
 public:
  explicit SharedStringBuffer(std::shared_ptr<const std::string> bytes)
      : arrow::Buffer(reinterpret_cast<const uint8_t*>(bytes->data()),
                      static_cast<int64_t>(bytes->size())),
        bytes_(std::move(bytes)) {}

 private:
  std::shared_ptr<const std::string> bytes_;
};

}  // namespace

MemoryFileIO::MemoryFileIO(Clock* clock) : clock_(clock ? clock : Clock::Real()) {}

void MemoryFileIO::Publish(const std::string& uri, std::string bytes) {
  auto now = std::chrono::time_point_cast<std::chrono::system_clock::duration>(clock_->Now());
  std::lock_guard lock(mu_);
  objects_[uri] = Object{std::make_shared<const std::string>(std::move(bytes)), now};
}

Result<std::unique_ptr<OutputStream>> MemoryFileIO::NewWriter(const std::string& uri) {
  if (uri.empty() || uri.back() == '/') return InvalidArgument("not an object URI: " + uri);
  return std::unique_ptr<OutputStream>(new MemoryOutputStream(this, uri));
}

Result<std::string> MemoryFileIO::ReadAll(const std::string& uri) {
  std::lock_guard lock(mu_);
  auto it = objects_.find(uri);
  if (it == objects_.end()) return NotFound("no such object: " + uri);
  return *it->second.bytes;
}

Result<std::shared_ptr<arrow::io::RandomAccessFile>> MemoryFileIO::OpenReader(
    const std::string& uri) {
  std::shared_ptr<const std::string> bytes;
  {
    std::lock_guard lock(mu_);
    auto it = objects_.find(uri);
    if (it == objects_.end()) return NotFound("no such object: " + uri);
    bytes = it->second.bytes;
  }
  return std::shared_ptr<arrow::io::RandomAccessFile>(
      std::make_shared<arrow::io::BufferReader>(
          std::make_shared<SharedStringBuffer>(std::move(bytes))));
}

Result<int64_t> MemoryFileIO::Size(const std::string& uri) {
  std::lock_guard lock(mu_);
  auto it = objects_.find(uri);
  if (it == objects_.end()) return NotFound("no such object: " + uri);
  return static_cast<int64_t>(it->second.bytes->size());
}

Result<bool> MemoryFileIO::Exists(const std::string& uri) {
  std::lock_guard lock(mu_);
  return objects_.count(uri) > 0;
}

Status MemoryFileIO::Delete(const std::string& uri) {
  std::lock_guard lock(mu_);
  if (objects_.erase(uri) == 0) return NotFound("no such object: " + uri);
  return Status::Ok();
}

Result<std::vector<FileEntry>> MemoryFileIO::List(const std::string& prefix) {
  const std::string dir = DirPrefix(prefix);
  const std::string base = dir.substr(0, dir.size() - 1);
  std::vector<FileEntry> out;
  std::lock_guard lock(mu_);
  for (auto it = objects_.lower_bound(dir); it != objects_.end(); ++it) {
    if (it->first.compare(0, dir.size(), dir) != 0) break;
    out.push_back(FileEntry{base + "/" + it->first.substr(dir.size()),
                            static_cast<int64_t>(it->second.bytes->size()), it->second.mtime});
  }
  return out;
}

std::vector<std::string> MemoryFileIO::Uris() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [uri, object] : objects_) out.push_back(uri);
  return out;
}

int64_t MemoryFileIO::TotalBytes() const {
  std::lock_guard lock(mu_);
  int64_t total = 0;
  for (const auto& [uri, object] : objects_) {
    total += static_cast<int64_t>(object.bytes->size());
  }
  return total;
}

}  // namespace pg2iceberg::io
