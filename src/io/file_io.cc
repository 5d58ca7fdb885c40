#include "io/file_io.h"

#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cstdlib>

namespace pg2iceberg::io {

Status FileIO::DeleteMany(const std::vector<std::string>& uris) {
  Status first;
  for (const std::string& uri : uris) {
    Status status = Delete(uri);
    if (!status.ok() && !IsNotFound(status) && first.ok()) first = status;
  }
  return first;
}

Status FileIO::WriteAll(const std::string& uri, std::string_view bytes) {
  PG2I_ASSIGN_OR_RETURN(std::unique_ptr<OutputStream> out, NewWriter(uri));
  PG2I_RETURN_IF_ERROR(out->Write(bytes));
  return out->Close();
}

namespace {

// getrandom(2) blocks only until the kernel pool is initialised at boot, and never returns
// fewer than 256 requested bytes once it is; loop anyway for EINTR.
void FillRandom(uint8_t* out, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t got = getrandom(out + done, n - done, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      // No usable kernel random source is a broken host; a name collision would silently
      // overwrite data, so refuse loudly rather than fall back to a weak generator.
      std::abort();
    }
    done += static_cast<size_t>(got);
  }
}

}  // namespace

std::string PathSegment(std::string_view identifier) {
  if (identifier.empty()) return "%00";
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(identifier.size());
  for (unsigned char c : identifier) {
    // A dot is kept (public.orders reads as itself) unless the segment is "." or "..".
    const bool dots_only = identifier == "." || identifier == "..";
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                       (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                       (c == '.' && !dots_only);
    if (plain) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string NewUniqueName() {
  std::array<uint8_t, 16> b;
  FillRandom(b.data(), b.size());
  b[6] = static_cast<uint8_t>((b[6] & 0x0F) | 0x40);  // version 4
  b[8] = static_cast<uint8_t>((b[8] & 0x3F) | 0x80);  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 0x0F]);
  }
  return out;
}

}  // namespace pg2iceberg::io
