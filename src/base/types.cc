#include "base/types.h"

#include <cstdio>

namespace pg2iceberg {
namespace {

bool ParseHex32(std::string_view s, uint32_t* out) {
  if (s.empty() || s.size() > 8) return false;
  uint32_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return false;
    }
    v = (v << 4) | static_cast<uint32_t>(d);
  }
  *out = v;
  return true;
}

}  // namespace

Result<Lsn> Lsn::Parse(std::string_view text) {
  auto slash = text.find('/');
  uint32_t hi = 0;
  uint32_t lo = 0;
  if (slash == std::string_view::npos || !ParseHex32(text.substr(0, slash), &hi) ||
      !ParseHex32(text.substr(slash + 1), &lo)) {
    return InvalidArgument("invalid LSN '" + std::string(text) +
                           "'; expected PostgreSQL's form such as 16/B374D848");
  }
  return Lsn((static_cast<uint64_t>(hi) << 32) | lo);
}

std::string Lsn::ToString() const {
  char buf[20];
  std::snprintf(buf, sizeof(buf), "%X/%X", static_cast<uint32_t>(value_ >> 32),
                static_cast<uint32_t>(value_));
  return buf;
}

std::ostream& operator<<(std::ostream& os, Lsn lsn) { return os << lsn.ToString(); }

}  // namespace pg2iceberg
