// FileIO: the one narrow interface to object storage, used by staging and by the Iceberg
// writers and readers. Everything that touches a file or an object goes through it, so tests
// swap in MemoryFileIO (memory_file_io.h) or wrap a backend in FaultInjectingFileIO
// (fault_injection.h), and only the composition root picks the real backend (MakeFileIO,
// arrow_file_io.h). See docs/io.md for the contract in full.
//
// Locations are URIs: `file:///abs/path` (also `file:/abs/path` and a bare `/abs/path`) and
// `s3://bucket/key`. A backend answers only for the schemes it serves (InvalidArgument
// otherwise).
//
// Contract, shared by every backend (file_io_conformance.h checks it against each one):
//   - NewWriter(uri) returns a sequential stream. The object becomes visible, whole, only when
//     Close() returns OK; until then readers see the previous state (no object), and a writer
//     destroyed without a successful Close leaves nothing behind (local files go to a
//     temporary name in the same directory and are renamed on Close; S3 multipart uploads
//     are aborted). Parent directories are created as needed.
//   - Nothing is overwritten by design: callers name every new object with NewUniqueName()
//     (DESIGN: every object gets a unique name). The backends do not check for an existing
//     object (S3 cannot do so cheaply); writing an existing name replaces it atomically.
//   - A missing object is a value: ReadAll, OpenReader, Size and Delete return NotFound;
//     Exists returns false; List of a missing prefix returns no entries.
//   - DeleteMany is idempotent: objects that are already gone are not errors.
//   - List(prefix) returns every object below the directory `prefix`, recursively, with size
//     and modification time, in no particular order. Entries' URIs are `prefix` + "/" + the
//     relative path, so they keep the caller's spelling of the scheme.
//
// Errors are chosen by what the caller must do next:
//   NotFound            the object does not exist
//   FailedPrecondition  access denied, bad credentials, missing bucket: stop and tell the
//                       operator (the message says which setting to check)
//   Unavailable         network trouble, throttling, server errors: retry with backoff
//   ResourceExhausted   no space left on the device (the message says what to free)
//   InvalidArgument     a URI this backend cannot serve
//
// Thread safety: a FileIO is safe to use from many threads at once. An OutputStream belongs to
// one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace arrow::io {
class RandomAccessFile;
}  // namespace arrow::io

namespace pg2iceberg::io {

// A sequential writer of one object. Visible only after Close() returns OK; destroying it
// without a successful Close abandons the object.
class OutputStream {
 public:
  virtual ~OutputStream() = default;

  virtual Status Write(std::string_view bytes) = 0;
  // Makes the object visible. After Close (successful or not) the stream is finished:
  // further Write or Close calls are InvalidArgument.
  virtual Status Close() = 0;
  // Bytes written so far.
  virtual int64_t Tell() const = 0;
  // The object's URI.
  virtual const std::string& uri() const = 0;
};

struct FileEntry {
  std::string uri;
  int64_t size = 0;
  std::chrono::system_clock::time_point mtime;
};

class FileIO {
 public:
  virtual ~FileIO() = default;

  virtual Result<std::unique_ptr<OutputStream>> NewWriter(const std::string& uri) = 0;
  virtual Result<std::string> ReadAll(const std::string& uri) = 0;
  // A random-access view of the object (what Parquet readers need). NotFound when missing.
  virtual Result<std::shared_ptr<arrow::io::RandomAccessFile>> OpenReader(
      const std::string& uri) = 0;
  virtual Result<int64_t> Size(const std::string& uri) = 0;
  virtual Result<bool> Exists(const std::string& uri) = 0;
  // NotFound when the object does not exist.
  virtual Status Delete(const std::string& uri) = 0;
  // Deletes every object; missing ones are skipped. Attempts all and returns the first error.
  // The default loops over Delete; backends with a batch call override it.
  virtual Status DeleteMany(const std::vector<std::string>& uris);
  virtual Result<std::vector<FileEntry>> List(const std::string& prefix) = 0;

  // Convenience: NewWriter + Write + Close.
  Status WriteAll(const std::string& uri, std::string_view bytes);
};

// A random version-4 UUID ("0b6f…-…-4…-[89ab]…-…", 36 lowercase characters) from the
// kernel's random source (getrandom), for naming new objects. Thread-safe.
std::string NewUniqueName();

// One path segment of an object name derived from an identifier (a schema, table or namespace
// name), so that the object stays under its root whatever the identifier holds: every byte but
// ASCII letters, digits, '_', '-' and '.' becomes %XX (as Iceberg encodes partition values),
// and the dots of a segment that is exactly "." or ".." too, so no identifier can name a
// parent directory or another one. Ordinary identifiers (orders, public.orders) are
// unchanged. Distinct identifiers give distinct segments; "" gives "%00".
std::string PathSegment(std::string_view identifier);

}  // namespace pg2iceberg::io
