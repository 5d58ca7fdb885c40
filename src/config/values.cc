// Parsing of the value kinds shared by the configuration: durations, byte sizes, table
// names and partition expressions.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

#include "config/config.h"

namespace pg2iceberg::config {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsIdentStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool IsIdentChar(char c) {
  return IsIdentStart(c) || std::isdigit(static_cast<unsigned char>(c)) || c == '$';
}

// One part of a dotted name starting at `pos`; quoted ("a""b") or bare.
Result<std::string> ParseNamePart(std::string_view text, size_t* pos) {
  std::string out;
  if (*pos < text.size() && text[*pos] == '"') {
    ++*pos;
    while (true) {
      if (*pos >= text.size()) return InvalidArgument("unterminated quoted identifier");
      char c = text[(*pos)++];
      if (c == '"') {
        if (*pos < text.size() && text[*pos] == '"') {
          out += '"';
          ++*pos;
          continue;
        }
        break;
      }
      out += c;
    }
    if (out.empty()) return InvalidArgument("empty quoted identifier");
    return out;
  }
  while (*pos < text.size() && text[*pos] != '.') {
    char c = text[*pos];
    if (c == '"' || std::isspace(static_cast<unsigned char>(c))) {
      return InvalidArgument(
          "unexpected character; double-quote a name that contains spaces or quotes");
    }
    out += c;
    ++*pos;
  }
  if (out.empty()) return InvalidArgument("empty name part");
  return out;
}

std::string QuoteIdent(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

// Bare if it would survive unquoted in a human-readable name, else quoted.
std::string DisplayIdent(std::string_view s) {
  bool bare = !s.empty() && IsIdentStart(s[0]);
  for (char c : s) bare = bare && IsIdentChar(c);
  return bare ? std::string(s) : QuoteIdent(s);
}

}  // namespace

Result<Duration> ParseDuration(std::string_view input) {
  std::string_view text = Trim(input);
  auto bad = [&](std::string_view why) {
    return InvalidArgument("invalid duration \"" + std::string(input) + "\": " +
                           std::string(why) + "; use Go-style values such as 500ms, 10s, 5m, "
                           "1h30m, 168h or 7d");
  };
  if (text.empty()) return bad("empty");
  if (text == "0") return Duration(0);
  if (text.front() == '-') return bad("negative");
  if (text.front() == '+') text.remove_prefix(1);
  long double total_ns = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
      ++i;
    }
    if (i == start) return bad("expected a number");
    std::string number(text.substr(start, i - start));
    if (number == "." || std::count(number.begin(), number.end(), '.') > 1) {
      return bad("malformed number");
    }
    size_t ustart = i;
    while (i < text.size() && !std::isdigit(static_cast<unsigned char>(text[i])) &&
           text[i] != '.') {
      ++i;
    }
    std::string unit(text.substr(ustart, i - ustart));
    long double scale;
    if (unit == "ns") {
      scale = 1;
    } else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") {
      scale = 1e3L;
    } else if (unit == "ms") {
      scale = 1e6L;
    } else if (unit == "s") {
      scale = 1e9L;
    } else if (unit == "m") {
      scale = 60e9L;
    } else if (unit == "h") {
      scale = 3600e9L;
    } else if (unit == "d") {
      scale = 86400e9L;
    } else if (unit.empty()) {
      return bad("missing unit");
    } else {
      return bad("unknown unit \"" + unit + "\"");
    }
    total_ns += std::strtold(number.c_str(), nullptr) * scale;
    if (total_ns > 9.2e18L) return bad("too large");
  }
  return Duration(static_cast<int64_t>(std::llround(static_cast<double>(total_ns))));
}

std::string FormatDuration(Duration d) {
  int64_t ns = d.count();
  if (ns == 0) return "0s";
  std::string out;
  auto take = [&](int64_t unit, const char* name) {
    if (ns >= unit) {
      out += std::to_string(ns / unit) + name;
      ns %= unit;
    }
  };
  if (ns % 1'000'000 != 0) {
    take(int64_t{1'000'000'000}, "s");
    take(1'000'000, "ms");
    take(1'000, "us");
    take(1, "ns");
    return out;
  }
  take(int64_t{3600} * 1'000'000'000, "h");
  take(int64_t{60} * 1'000'000'000, "m");
  take(1'000'000'000, "s");
  take(1'000'000, "ms");
  return out;
}

Result<int64_t> ParseBytes(std::string_view input) {
  std::string_view text = Trim(input);
  auto bad = [&]() {
    return InvalidArgument("invalid size \"" + std::string(input) +
                           "\"; use bytes or a unit such as 64MiB, 512KB, 1GiB");
  };
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0 || i > 18) return bad();
  int64_t n = std::strtoll(std::string(text.substr(0, i)).c_str(), nullptr, 10);
  std::string unit = Lower(Trim(text.substr(i)));
  int64_t mult;
  if (unit.empty() || unit == "b") {
    mult = 1;
  } else if (unit == "kb" || unit == "k") {
    mult = 1000;
  } else if (unit == "mb" || unit == "m") {
    mult = 1000 * 1000;
  } else if (unit == "gb" || unit == "g") {
    mult = int64_t{1000} * 1000 * 1000;
  } else if (unit == "kib") {
    mult = 1024;
  } else if (unit == "mib") {
    mult = 1024 * 1024;
  } else if (unit == "gib") {
    mult = int64_t{1024} * 1024 * 1024;
  } else {
    return bad();
  }
  if (n > (int64_t{1} << 62) / mult) return bad();
  return n * mult;
}

Result<TableName> TableName::Parse(std::string_view input) {
  std::string_view text = Trim(input);
  auto bad = [&](const Status& why) {
    return InvalidArgument("invalid table name \"" + std::string(input) + "\": " +
                           why.message() + "; expected schema.table");
  };
  std::vector<std::string> parts;
  size_t pos = 0;
  while (true) {
    auto part = ParseNamePart(text, &pos);
    if (!part.ok()) return bad(part.status());
    parts.push_back(std::move(*part));
    if (pos == text.size()) break;
    if (text[pos] != '.') return bad(InvalidArgument("expected '.' after a quoted name"));
    ++pos;
  }
  if (parts.size() == 1) return TableName{"public", parts[0]};
  if (parts.size() == 2) return TableName{parts[0], parts[1]};
  return bad(InvalidArgument("too many dots (double-quote a name that contains a dot)"));
}

std::string TableName::Quoted() const { return QuoteIdent(schema) + "." + QuoteIdent(table); }

std::string TableName::ToString() const { return DisplayIdent(schema) + "." + DisplayIdent(table); }

Result<PartitionField> PartitionField::Parse(std::string_view input) {
  std::string_view text = Trim(input);
  auto bad = [&](std::string_view why) {
    return InvalidArgument("invalid partition expression \"" + std::string(input) + "\": " +
                           std::string(why) +
                           "; expected col, year(col), month(col), day(col), hour(col), "
                           "bucket[N](col) or truncate[W](col)");
  };
  if (text.empty()) return bad("empty");
  auto open = text.find('(');
  if (open == std::string_view::npos) {
    if (text.find_first_of("[])") != std::string_view::npos) return bad("unbalanced brackets");
    return PartitionField{PartitionTransform::kIdentity, std::string(text), 0};
  }
  if (text.back() != ')') return bad("missing ')'");
  std::string column(Trim(text.substr(open + 1, text.size() - open - 2)));
  if (column.empty()) return bad("missing column");
  std::string head = Lower(Trim(text.substr(0, open)));
  int32_t param = 0;
  auto lb = head.find('[');
  std::string name = head;
  if (lb != std::string::npos) {
    if (head.back() != ']') return bad("missing ']'");
    std::string num = head.substr(lb + 1, head.size() - lb - 2);
    name = std::string(Trim(head.substr(0, lb)));
    if (num.empty() || num.size() > 9 ||
        num.find_first_not_of("0123456789") != std::string::npos) {
      return bad("the width must be a positive integer");
    }
    param = std::atoi(num.c_str());
    if (param <= 0) return bad("the width must be a positive integer");
  }
  PartitionTransform t;
  if (name == "year" || name == "years") {
    t = PartitionTransform::kYear;
  } else if (name == "month" || name == "months") {
    t = PartitionTransform::kMonth;
  } else if (name == "day" || name == "days") {
    t = PartitionTransform::kDay;
  } else if (name == "hour" || name == "hours") {
    t = PartitionTransform::kHour;
  } else if (name == "bucket") {
    t = PartitionTransform::kBucket;
  } else if (name == "truncate") {
    t = PartitionTransform::kTruncate;
  } else if (name == "identity") {
    t = PartitionTransform::kIdentity;
  } else {
    return bad("unknown transform \"" + name + "\"");
  }
  bool needs_param = t == PartitionTransform::kBucket || t == PartitionTransform::kTruncate;
  if (needs_param && param == 0) return bad(name + " needs a width, e.g. " + name + "[16](col)");
  if (!needs_param && lb != std::string::npos) return bad(name + " takes no width");
  return PartitionField{t, std::move(column), param};
}

std::string PartitionField::ToString() const {
  switch (transform) {
    case PartitionTransform::kIdentity: return column;
    case PartitionTransform::kYear: return "year(" + column + ")";
    case PartitionTransform::kMonth: return "month(" + column + ")";
    case PartitionTransform::kDay: return "day(" + column + ")";
    case PartitionTransform::kHour: return "hour(" + column + ")";
    case PartitionTransform::kBucket:
      return "bucket[" + std::to_string(param) + "](" + column + ")";
    case PartitionTransform::kTruncate:
      return "truncate[" + std::to_string(param) + "](" + column + ")";
  }
  return column;
}

}  // namespace pg2iceberg::config
