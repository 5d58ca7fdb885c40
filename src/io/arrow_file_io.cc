#include "io/arrow_file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <arrow/buffer.h>
#include <arrow/filesystem/localfs.h>
#include <arrow/filesystem/s3fs.h>
#include <arrow/io/file.h>
#include <arrow/util/io_util.h>

#include <cerrno>
#include <utility>

#include "io/arrow_util.h"

namespace pg2iceberg::io {

struct ArrowFileIO::Target {
  bool local = true;
  std::string path;  // local: absolute path; S3: "bucket/key"
  arrow::fs::FileSystem* fs = nullptr;
};

namespace {

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

Status FromErrno(int err, const std::string& what) {
  return FromArrow(arrow::internal::IOErrorFromErrno(err, what));
}

std::string Parent(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return "/";
  return path.substr(0, slash);
}

Status SyncDirectory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return FromErrno(errno, "open directory " + dir);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  // Some filesystems cannot fsync a directory; the rename is still atomic there.
  if (rc != 0 && err != EINVAL && err != ENOTSUP) return FromErrno(err, "fsync " + dir);
  return Status::Ok();
}

// Writes to a temporary name beside the target; Close fsyncs and renames it into place.
class LocalOutputStream final : public OutputStream {
 public:
  static Result<std::unique_ptr<OutputStream>> Open(arrow::fs::LocalFileSystem* fs,
                                                   std::string uri, std::string path,
                                                   bool sync) {
    const std::string dir = Parent(path);
    PG2I_RETURN_IF_ERROR(FromArrow(fs->CreateDir(dir, /*recursive=*/true),
                                   "create directory " + dir + " for " + uri));
    std::string tmp = dir + "/.pg2i-tmp-" + NewUniqueName();
    auto stream = arrow::io::FileOutputStream::Open(tmp);
    if (!stream.ok()) return FromArrow(stream.status(), "create " + uri);
    return std::unique_ptr<OutputStream>(new LocalOutputStream(
        fs, std::move(uri), std::move(path), std::move(tmp), *std::move(stream), sync));
  }

  ~LocalOutputStream() override {
    if (stream_ != nullptr) Discard();
  }

  Status Write(std::string_view bytes) override {
    if (stream_ == nullptr) return InvalidArgument("write after close: " + uri_);
    Status status = FromArrow(stream_->Write(bytes.data(), static_cast<int64_t>(bytes.size())),
                              "write " + uri_);
    if (!status.ok()) {
      Discard();
      return status;
    }
    written_ += static_cast<int64_t>(bytes.size());
    return Status::Ok();
  }

  Status Close() override {
    if (stream_ == nullptr) return InvalidArgument("close after close: " + uri_);
    if (sync_ && ::fsync(stream_->file_descriptor()) != 0) {
      Status status = FromErrno(errno, "fsync " + uri_);
      Discard();
      return status;
    }
    Status status = FromArrow(stream_->Close(), "close " + uri_);
    if (status.ok()) status = FromArrow(fs_->Move(tmp_, path_), "rename into " + uri_);
    if (!status.ok()) {
      Discard();
      return status;
    }
    stream_.reset();
    if (sync_) PG2I_RETURN_IF_ERROR(SyncDirectory(Parent(path_)));
    return Status::Ok();
  }

  int64_t Tell() const override { return written_; }
  const std::string& uri() const override { return uri_; }

 private:
  LocalOutputStream(arrow::fs::LocalFileSystem* fs, std::string uri, std::string path,
                    std::string tmp, std::shared_ptr<arrow::io::FileOutputStream> stream,
                    bool sync)
      : fs_(fs),
        uri_(std::move(uri)),
        path_(std::move(path)),
        tmp_(std::move(tmp)),
        stream_(std::move(stream)),
        sync_(sync) {}

  // Best effort: the temporary file is garbage either way, and orphan cleanup removes what a
  // crash leaves behind.
  void Discard() {
    (void)stream_->Close();
    stream_.reset();
    (void)::unlink(tmp_.c_str());
  }

  arrow::fs::LocalFileSystem* fs_;
  std::string uri_;
  std::string path_;
  std::string tmp_;
  std::shared_ptr<arrow::io::FileOutputStream> stream_;
  bool sync_;
  int64_t written_ = 0;
};

// An S3 upload; completed by Close, aborted when dropped.
class ObjectOutputStream final : public OutputStream {
 public:
  ObjectOutputStream(std::string uri, std::shared_ptr<arrow::io::OutputStream> stream)
      : uri_(std::move(uri)), stream_(std::move(stream)) {}

  ~ObjectOutputStream() override {
    if (stream_ != nullptr) (void)stream_->Abort();
  }

  Status Write(std::string_view bytes) override {
    if (stream_ == nullptr) return InvalidArgument("write after close: " + uri_);
    Status status = FromArrow(stream_->Write(bytes.data(), static_cast<int64_t>(bytes.size())),
                              "write " + uri_);
    if (!status.ok()) {
      (void)stream_->Abort();
      stream_.reset();
      return status;
    }
    written_ += static_cast<int64_t>(bytes.size());
    return Status::Ok();
  }

  Status Close() override {
    if (stream_ == nullptr) return InvalidArgument("close after close: " + uri_);
    Status status = FromArrow(stream_->Close(), "upload " + uri_);
    if (!status.ok()) (void)stream_->Abort();
    stream_.reset();
    return status;
  }

  int64_t Tell() const override { return written_; }
  const std::string& uri() const override { return uri_; }

 private:
  std::string uri_;
  std::shared_ptr<arrow::io::OutputStream> stream_;
  int64_t written_ = 0;
};

std::string StripTrailingSlashes(std::string s) {
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

Result<std::string> LocalPathFromUri(const std::string& uri) {
  std::string path;
  if (StartsWith(uri, "file://")) {
    path = uri.substr(7);
    if (StartsWith(path, "localhost/")) path = path.substr(9);
  } else if (StartsWith(uri, "file:")) {
    path = uri.substr(5);
  } else {
    path = uri;
  }
  if (path.empty() || path[0] != '/') {
    return InvalidArgument("not an absolute local path: " + uri +
                           " (use file:///absolute/path)");
  }
  return path;
}

ArrowFileIO::ArrowFileIO(std::shared_ptr<arrow::fs::LocalFileSystem> local,
                         std::shared_ptr<arrow::fs::FileSystem> s3)
    : local_(std::move(local)), s3_(std::move(s3)) {}

std::shared_ptr<ArrowFileIO> ArrowFileIO::MakeLocal() {
  return std::make_shared<ArrowFileIO>(std::make_shared<arrow::fs::LocalFileSystem>(), nullptr);
}

Result<std::shared_ptr<ArrowFileIO>> ArrowFileIO::MakeS3(const S3Settings& settings) {
  arrow::fs::S3Options options;
  switch (settings.credentials) {
    case S3Settings::Credentials::kStatic:
      if (settings.access_key.empty() || settings.secret_key.empty()) {
        return FailedPrecondition(
            "S3 credentials are missing: set sink.s3_access_key and sink.s3_secret_key (or "
            "PG2ICEBERG_SINK_S3_ACCESS_KEY / PG2ICEBERG_SINK_S3_SECRET_KEY), or use "
            "credential_mode: iam");
      }
      options.ConfigureAccessKey(settings.access_key, settings.secret_key,
                                 settings.session_token);
      break;
    case S3Settings::Credentials::kDefaultChain:
      options.ConfigureDefaultCredentials();
      break;
  }
  options.region = settings.region;
  if (!settings.endpoint.empty()) {
    std::string endpoint = settings.endpoint;
    if (StartsWith(endpoint, "http://")) {
      options.scheme = "http";
      endpoint = endpoint.substr(7);
    } else if (StartsWith(endpoint, "https://")) {
      options.scheme = "https";
      endpoint = endpoint.substr(8);
    } else if (endpoint.find("://") != std::string::npos) {
      return InvalidArgument("sink.s3_endpoint " + settings.endpoint +
                             ": the scheme must be http:// or https://");
    }
    endpoint = StripTrailingSlashes(endpoint);
    if (endpoint.empty() || endpoint.find('/') != std::string::npos) {
      return InvalidArgument("sink.s3_endpoint " + settings.endpoint +
                             ": expected scheme://host[:port] without a path");
    }
    options.endpoint_override = endpoint;
    options.force_virtual_addressing = !settings.path_style;
  }
  options.connect_timeout = settings.connect_timeout;
  options.request_timeout = settings.request_timeout;
  // Uploads report their outcome on Close, which is where the contract makes objects visible.
  options.allow_delayed_open = true;

  PG2I_RETURN_IF_ERROR(FromArrow(arrow::fs::EnsureS3Initialized(), "initialize S3"));
  auto fs = arrow::fs::S3FileSystem::Make(options);
  if (!fs.ok()) return FromArrow(fs.status(), "connect to S3");
  return std::make_shared<ArrowFileIO>(std::make_shared<arrow::fs::LocalFileSystem>(),
                                       *std::move(fs));
}

Result<ArrowFileIO::Target> ArrowFileIO::Resolve(const std::string& uri) const {
  for (std::string_view scheme : {"s3://", "s3a://", "s3n://"}) {
    if (!StartsWith(uri, scheme)) continue;
    if (s3_ == nullptr) {
      return InvalidArgument(uri + " is on S3, but this FileIO was configured for local "
                                   "files only (sink.warehouse is not s3://)");
    }
    std::string path = uri.substr(scheme.size());
    if (path.empty() || path[0] == '/' || path.find('/') == std::string::npos) {
      return InvalidArgument("malformed S3 URI " + uri + " (expected s3://bucket/key)");
    }
    return Target{false, std::move(path), s3_.get()};
  }
  if (uri.find("://") != std::string::npos && !StartsWith(uri, "file://")) {
    return InvalidArgument("unsupported URI scheme: " + uri + " (use file:// or s3://)");
  }
  PG2I_ASSIGN_OR_RETURN(std::string path, LocalPathFromUri(uri));
  return Target{true, std::move(path), local_.get()};
}

Result<std::unique_ptr<OutputStream>> ArrowFileIO::NewWriter(const std::string& uri) {
  PG2I_ASSIGN_OR_RETURN(Target t, Resolve(uri));
  if (t.path.empty() || t.path.back() == '/') {
    return InvalidArgument("not an object URI: " + uri);
  }
  if (t.local) return LocalOutputStream::Open(local_.get(), uri, t.path, sync_local_writes_);
  auto stream = t.fs->OpenOutputStream(t.path);
  if (!stream.ok()) return FromArrow(stream.status(), "create " + uri);
  return std::unique_ptr<OutputStream>(new ObjectOutputStream(uri, *std::move(stream)));
}

Result<std::string> ArrowFileIO::ReadAll(const std::string& uri) {
  PG2I_ASSIGN_OR_RETURN(std::shared_ptr<arrow::io::RandomAccessFile> file, OpenReader(uri));
  auto size = file->GetSize();
  if (!size.ok()) return FromArrow(size.status(), "read " + uri);
  std::string out(static_cast<size_t>(*size), '\0');
  int64_t done = 0;
  while (done < *size) {
    auto n = file->ReadAt(done, *size - done, out.data() + done);
    if (!n.ok()) return FromArrow(n.status(), "read " + uri);
    if (*n == 0) return DataLoss("read " + uri + ": object shrank while being read");
    done += *n;
  }
  (void)file->Close();
  return out;
}

Result<std::shared_ptr<arrow::io::RandomAccessFile>> ArrowFileIO::OpenReader(
    const std::string& uri) {
  PG2I_ASSIGN_OR_RETURN(Target t, Resolve(uri));
  auto file = t.fs->OpenInputFile(t.path);
  if (!file.ok()) return FromArrow(file.status(), "open " + uri);
  return *std::move(file);
}

Result<int64_t> ArrowFileIO::Size(const std::string& uri) {
  PG2I_ASSIGN_OR_RETURN(Target t, Resolve(uri));
  auto info = t.fs->GetFileInfo(t.path);
  if (!info.ok()) return FromArrow(info.status(), "stat " + uri);
  switch (info->type()) {
    case arrow::fs::FileType::File:
      return info->size();
    case arrow::fs::FileType::NotFound:
      return NotFound("no such object: " + uri);
    default:
      return InvalidArgument("not an object (a directory?): " + uri);
  }
}

Result<bool> ArrowFileIO::Exists(const std::string& uri) {
  PG2I_ASSIGN_OR_RETURN(Target t, Resolve(uri));
  auto info = t.fs->GetFileInfo(t.path);
  if (!info.ok()) return FromArrow(info.status(), "stat " + uri);
  return info->type() == arrow::fs::FileType::File;
}

Status ArrowFileIO::Delete(const std::string& uri) {
  PG2I_ASSIGN_OR_RETURN(Target t, Resolve(uri));
  return FromArrow(t.fs->DeleteFile(t.path), "delete " + uri);
}

Result<std::vector<FileEntry>> ArrowFileIO::List(const std::string& prefix) {
  PG2I_ASSIGN_OR_RETURN(Target t, Resolve(prefix));
  arrow::fs::FileSelector selector;
  selector.base_dir = StripTrailingSlashes(t.path);
  selector.recursive = true;
  selector.allow_not_found = true;
  auto infos = t.fs->GetFileInfo(selector);
  if (!infos.ok()) return FromArrow(infos.status(), "list " + prefix);
  const std::string base_uri = StripTrailingSlashes(prefix);
  const std::string base_dir = selector.base_dir == "/" ? "" : selector.base_dir;
  std::vector<FileEntry> out;
  out.reserve(infos->size());
  for (const arrow::fs::FileInfo& info : *infos) {
    if (info.type() != arrow::fs::FileType::File) continue;
    const std::string& path = info.path();
    if (!StartsWith(path, base_dir + "/")) {
      return Internal("list " + prefix + ": entry " + path + " is outside the prefix");
    }
    out.push_back(FileEntry{
        base_uri + path.substr(base_dir.size()), info.size(),
        std::chrono::time_point_cast<std::chrono::system_clock::duration>(info.mtime())});
  }
  return out;
}

Result<std::shared_ptr<FileIO>> MakeFileIO(const std::string& warehouse_uri,
                                           const S3Settings& s3) {
  for (std::string_view scheme : {"s3://", "s3a://", "s3n://"}) {
    if (StartsWith(warehouse_uri, scheme)) {
      PG2I_ASSIGN_OR_RETURN(std::shared_ptr<ArrowFileIO> io, ArrowFileIO::MakeS3(s3));
      return std::shared_ptr<FileIO>(std::move(io));
    }
  }
  if (warehouse_uri.find("://") != std::string::npos && !StartsWith(warehouse_uri, "file://")) {
    return InvalidArgument("sink.warehouse " + warehouse_uri +
                           ": unsupported scheme (use s3://bucket/prefix or file:///path)");
  }
  PG2I_RETURN_IF_ERROR(LocalPathFromUri(warehouse_uri).status().WithContext("sink.warehouse"));
  return std::shared_ptr<FileIO>(ArrowFileIO::MakeLocal());
}

Status FinalizeS3() { return FromArrow(arrow::fs::EnsureS3Finalized(), "finalize S3"); }

}  // namespace pg2iceberg::io
