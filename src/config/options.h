// The one place that names every scalar configuration key: its YAML path, kind, default,
// allowed values and meaning. The loader, the environment-override lookup, the validator and
// docs/configuration.md (rendered by `pg2iceberg config --reference`) are all driven by this
// table, so a key cannot be documented in one place and parsed differently in another.
//
// Structured keys (`tables[]`, `sink.catalog_props`) are handled by the loader and documented
// in the `kStructuredKeys` text below.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace pg2iceberg::config {

enum class OptionKind {
  kString,
  kSecret,     // a string that never appears in logs, errors or `config` output
  kSecretUrl,  // a libpq URL whose password is redacted when shown
  kBool,
  kInt,
  kDuration,   // Go-style: 500ms, 10s, 5m, 1h30m, 168h, 7d
  kBytes,      // 1048576, 64MiB, 64 MB, 1GiB
  kEnum,
};

struct OptionSpec {
  std::string_view path;           // YAML path, dots between levels: "sink.flush_interval"
  OptionKind kind;
  std::string_view default_value;  // as written in YAML; "" means unset / derived
  std::string_view doc;            // meaning; mentions how a derived default is computed
  std::string_view allowed = {};   // enum values separated by '|'
  long long min = 0;               // lower bound for kInt, kBytes and (in ms) kDuration
  long long max = 0;               // upper bound for kInt (0 = none)
  bool ours = false;               // a key pg2iceberg adds to upstream's set
  bool empty_allowed = false;      // "" is a valid explicit value (e.g. disables a phase)
};

std::span<const OptionSpec> AllOptions();

// nullptr if `path` is not a scalar key.
const OptionSpec* FindOption(std::string_view path);

// PG2ICEBERG_SINK_FLUSH_ROWS for sink.flush_rows.
std::string EnvNameFor(std::string_view path);

// Markdown reference of every key (docs/configuration.md).
std::string RenderReferenceMarkdown();

}  // namespace pg2iceberg::config
