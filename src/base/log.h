// Structured logging over spdlog.
//
// One line per event on stderr: a message plus key/value fields (table, lsn, snapshot_id…).
// Text format on a terminal ("2026-11-21T05:03:52.123Z INFO flushed table=public.t rows=10"),
// JSON otherwise ({"ts":…,"level":"info","msg":"flushed","table":"public.t","rows":"10"}).
// Thread-safe. Callers never pass secrets as fields; config values reach logs only through
// config::Config::Redacted().
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>

#include "base/status.h"
#include "base/types.h"

namespace pg2iceberg::log {

enum class Level { kDebug = 0, kInfo, kWarn, kError };
enum class Format { kText, kJson };

Result<Level> ParseLevel(std::string_view text);
// "text", "json" or "auto" (text when stderr is a terminal).
Result<Format> ParseFormat(std::string_view text);
std::string_view LevelName(Level level);

struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  template <typename T, typename = std::enable_if_t<std::is_arithmetic_v<T>>>
  Field(std::string_view k, T v) : key(k), value(std::to_string(v)) {}
  Field(std::string_view k, Lsn v) : key(k), value(v.ToString()) {}
  Field(std::string_view k, const Status& s) : key(k), value(s.ToString()) {}

  std::string key;
  std::string value;
};

// Configures the process logger; safe to call again (tests do).
void Init(Level level, Format format);

// Replaces the output with `sink` (each call gets one formatted line without newline);
// pass nullptr to restore stderr. For tests.
void SetSinkForTest(std::function<void(std::string_view)> sink);

bool Enabled(Level level);
void Write(Level level, std::string_view msg, std::initializer_list<Field> fields = {});

// Formats one line; exposed for tests.
std::string FormatLine(Format format, Level level, std::string_view timestamp,
                       std::string_view msg, std::initializer_list<Field> fields);

inline void Debug(std::string_view msg, std::initializer_list<Field> f = {}) {
  if (Enabled(Level::kDebug)) Write(Level::kDebug, msg, f);
}
inline void Info(std::string_view msg, std::initializer_list<Field> f = {}) {
  Write(Level::kInfo, msg, f);
}
inline void Warn(std::string_view msg, std::initializer_list<Field> f = {}) {
  Write(Level::kWarn, msg, f);
}
inline void Error(std::string_view msg, std::initializer_list<Field> f = {}) {
  Write(Level::kError, msg, f);
}

}  // namespace pg2iceberg::log
