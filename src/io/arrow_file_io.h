// The production FileIO, over Arrow's filesystems: local files (file:// URIs, and bare
// absolute paths) through arrow::fs::LocalFileSystem, and S3 or any S3-compatible store
// (s3://, also s3a:// and s3n:// as Hadoop spells them) through arrow::fs::S3FileSystem.
// Keeps the contract of file_io.h:
//   - local writes go to ".pg2i-tmp-<uuid>" in the target's directory, are fsync'ed, and are
//     renamed over the target on Close (then the directory is fsync'ed), so a crash never
//     leaves a partial object under the real name; parent directories are created as needed.
//   - S3 writes are multipart (or single PUT) uploads completed on Close and aborted when the
//     stream is dropped without Close.
//
// Only the composition root (cli/) calls MakeFileIO; everything else takes a FileIO.
// Arrow's S3 subsystem is initialized on first use of an S3 FileIO and must be finalized
// before the process exits: call FinalizeS3() at the end of main (after every S3 FileIO is
// gone).
//
// Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "io/file_io.h"

namespace arrow::fs {
class FileSystem;
class LocalFileSystem;
}  // namespace arrow::fs

namespace pg2iceberg::io {

// How to reach S3. Secrets here never appear in messages.
struct S3Settings {
  enum class Credentials {
    kStatic,        // access_key / secret_key (and session_token for temporary ones)
    kDefaultChain,  // the AWS default chain: environment, profile, web identity, instance
                    // role (credential_mode `iam`)
  };
  // "http://host:port" or "https://host" for S3-compatible stores; empty for AWS itself.
  std::string endpoint;
  std::string region = "us-east-1";
  // Path-style requests (http://endpoint/bucket/key), which most S3-compatible stores need.
  // Only meaningful with `endpoint`; without one, AWS virtual-hosted addressing is used.
  bool path_style = true;
  Credentials credentials = Credentials::kStatic;
  std::string access_key;
  std::string secret_key;
  std::string session_token;
  // Seconds; negative means the AWS SDK's default.
  double connect_timeout = -1;
  double request_timeout = -1;
};

class ArrowFileIO final : public FileIO {
 public:
  // Serves file:// only.
  static std::shared_ptr<ArrowFileIO> MakeLocal();
  // Serves s3:// (and file://). InvalidArgument for a malformed endpoint; FailedPrecondition
  // when the credentials are incomplete.
  static Result<std::shared_ptr<ArrowFileIO>> MakeS3(const S3Settings& settings);

  Result<std::unique_ptr<OutputStream>> NewWriter(const std::string& uri) override;
  Result<std::string> ReadAll(const std::string& uri) override;
  Result<std::shared_ptr<arrow::io::RandomAccessFile>> OpenReader(
      const std::string& uri) override;
  Result<int64_t> Size(const std::string& uri) override;
  Result<bool> Exists(const std::string& uri) override;
  Status Delete(const std::string& uri) override;
  Result<std::vector<FileEntry>> List(const std::string& prefix) override;

  // Whether local writes are fsync'ed before the rename (default true). Tests that write many
  // files to a throwaway directory may turn it off.
  void set_sync_local_writes(bool sync) { sync_local_writes_ = sync; }

  ArrowFileIO(std::shared_ptr<arrow::fs::LocalFileSystem> local,
              std::shared_ptr<arrow::fs::FileSystem> s3);

 private:
  struct Target;
  Result<Target> Resolve(const std::string& uri) const;

  std::shared_ptr<arrow::fs::LocalFileSystem> local_;
  std::shared_ptr<arrow::fs::FileSystem> s3_;  // null: no S3
  bool sync_local_writes_ = true;
};

// The FileIO for a warehouse: S3 when `warehouse_uri` is s3:// (s3a://, s3n://), local files
// when it is file:// or an absolute path. InvalidArgument for any other scheme.
Result<std::shared_ptr<FileIO>> MakeFileIO(const std::string& warehouse_uri,
                                           const S3Settings& s3);

// Finalizes Arrow's S3 subsystem if it was initialized. Call once before exit, after every S3
// FileIO has been destroyed.
Status FinalizeS3();

// The local path of a file URI ("file:///a/b", "file:/a/b", "/a/b" → "/a/b"); InvalidArgument
// for other schemes or a relative path.
Result<std::string> LocalPathFromUri(const std::string& uri);

}  // namespace pg2iceberg::io
