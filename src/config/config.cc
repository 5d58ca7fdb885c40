#include "config/config.h"

#include <libpq-fe.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "config/options.h"

namespace pg2iceberg::config {
namespace {

constexpr std::string_view kRedacted = "********";

// One layer's value of a scalar key and where it came from (for messages).
struct RawValue {
  std::string value;
  std::string origin;  // "config.yaml", "environment PG2ICEBERG_…", "flag"
};

struct Raw {
  std::map<std::string, RawValue> scalars;
  std::optional<std::vector<TableConfig>> tables;
  std::string tables_origin;  // "" for the YAML file, else the variable, e.g. "TABLES"
  std::map<std::string, std::string> catalog_props;
  std::vector<std::string> warnings;
  std::vector<std::string> errors;
};

bool IsSecretKind(OptionKind k) { return k == OptionKind::kSecret || k == OptionKind::kSecretUrl; }

// True if some scalar key lives below `prefix` (a YAML section we know).
bool IsKnownSection(const std::string& prefix) {
  if (prefix == "sink.catalog_props") return true;
  std::string dotted = prefix + ".";
  for (const OptionSpec& o : AllOptions()) {
    if (o.path.substr(0, dotted.size()) == dotted) return true;
  }
  return false;
}

std::string Join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += sep;
    out += v[i];
  }
  return out;
}

std::string MarkStr(const YAML::Node& n) {
  YAML::Mark m = n.Mark();
  if (m.line < 0) return "";
  return " (line " + std::to_string(m.line + 1) + ")";
}

std::vector<std::string> ParseStringList(const YAML::Node& node, const std::string& where,
                                         Raw* raw) {
  std::vector<std::string> out;
  if (node.IsNull()) return out;
  if (node.IsScalar()) {  // "id" or "a, b"
    std::stringstream ss(node.Scalar());
    std::string item;
    while (std::getline(ss, item, ',')) {
      item.erase(0, item.find_first_not_of(" \t"));
      item.erase(item.find_last_not_of(" \t") + 1);
      if (!item.empty()) out.push_back(item);
    }
    return out;
  }
  if (!node.IsSequence()) {
    raw->errors.push_back(where + ": expected a list of names" + MarkStr(node));
    return out;
  }
  for (const auto& item : node) {
    if (!item.IsScalar() || item.Scalar().empty()) {
      raw->errors.push_back(where + ": every entry must be a non-empty name" + MarkStr(item));
      continue;
    }
    out.push_back(item.Scalar());
  }
  return out;
}

std::optional<bool> ParseBool(std::string_view v) {
  std::string s(v);
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s == "true" || s == "yes" || s == "on" || s == "1") return true;
  if (s == "false" || s == "no" || s == "off" || s == "0") return false;
  return std::nullopt;
}

// A whole number in [lo, hi] written as `text`.
bool ParseIntIn(const std::string& text, long long lo, long long hi, int* out) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || end == nullptr || *end != '\0' || errno != 0 || v < lo || v > hi) {
    return false;
  }
  *out = static_cast<int>(v);
  return true;
}

TableConfig ParseTable(const YAML::Node& node, size_t index, Raw* raw) {
  TableConfig t;
  const std::string where = "tables[" + std::to_string(index) + "]";
  if (node.IsScalar()) {  // upstream also accepts a bare name
    auto name = TableName::Parse(node.Scalar());
    if (!name.ok()) raw->errors.push_back(where + ": " + name.status().message());
    else t.name = *name;
    return t;
  }
  if (!node.IsMap()) {
    raw->errors.push_back(where + ": expected a mapping with at least `name`" + MarkStr(node));
    return t;
  }
  bool has_name = false;
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>("");
    const YAML::Node& v = kv.second;
    const std::string path = where + "." + key;
    if (key == "name") {
      if (!v.IsScalar()) {
        raw->errors.push_back(path + ": expected a table name such as public.orders");
        continue;
      }
      auto name = TableName::Parse(v.Scalar());
      if (!name.ok()) {
        raw->errors.push_back(path + ": " + name.status().message());
      } else {
        t.name = *name;
        has_name = true;
      }
    } else if (key == "primary_key") {
      t.primary_key = ParseStringList(v, path, raw);
    } else if (key == "skip_snapshot") {
      auto b = v.IsScalar() ? ParseBool(v.Scalar()) : std::nullopt;
      if (!b) raw->errors.push_back(path + ": expected true or false");
      else t.skip_snapshot = *b;
    } else if (key == "watermark_column") {
      if (!v.IsScalar()) raw->errors.push_back(path + ": expected a column name");
      else t.watermark_column = v.Scalar();
    } else if (key == "initial_offset" || key == "custom_query") {
      if (!v.IsScalar() || v.Scalar().empty()) {
        raw->errors.push_back(path + ": expected a non-empty string");
      } else {
        (key == "initial_offset" ? t.initial_offset : t.custom_query) = v.Scalar();
      }
    } else if (key == "capture_operations") {
      t.capture_operations = ParseStringList(v, path, raw);
      if (t.capture_operations.empty()) {
        raw->errors.push_back(path + ": list at least one of insert, update, delete, truncate");
      }
      for (const std::string& op : t.capture_operations) {
        if (op != "insert" && op != "update" && op != "delete" && op != "truncate") {
          raw->errors.push_back(path + ": unknown operation \"" + op +
                                "\"; expected insert, update, delete or truncate");
        }
      }
    } else if (key == "batch_size") {
      int n = 0;
      if (!v.IsScalar() || !ParseIntIn(v.Scalar(), 1, 1'000'000, &n)) {
        raw->errors.push_back(path + ": expected a whole number from 1 to 1000000");
      } else {
        t.batch_size = n;
      }
    } else if (key == "poll_interval" || key == "lookback") {
      auto d = v.IsScalar() ? ParseDuration(v.Scalar()) : Result<Duration>(InvalidArgument(
                                                              "expected a duration such as 5s"));
      if (!d.ok()) raw->errors.push_back(path + ": " + d.status().message());
      else if (key == "poll_interval" && d->count() <= 0) raw->errors.push_back(path + ": must be positive");
      else (key == "poll_interval" ? t.poll_interval : t.lookback) = *d;
    } else if (key == "columns") {
      if (!v.IsSequence()) {
        raw->errors.push_back(path + ": expected a list of {name, pg_type, nullable}");
        continue;
      }
      size_t ci = 0;
      for (const auto& col : v) {
        const std::string cpath = path + "[" + std::to_string(ci++) + "]";
        if (!col.IsMap()) {
          raw->errors.push_back(cpath + ": expected {name, pg_type, nullable}");
          continue;
        }
        ColumnSpec c;
        for (const auto& ckv : col) {
          const std::string ckey = ckv.first.as<std::string>("");
          if (ckey == "name" && ckv.second.IsScalar()) {
            c.name = ckv.second.Scalar();
          } else if (ckey == "pg_type" && ckv.second.IsScalar()) {
            c.pg_type = ckv.second.Scalar();
          } else if (ckey == "nullable") {
            auto b = ckv.second.IsScalar() ? ParseBool(ckv.second.Scalar()) : std::nullopt;
            if (!b) raw->errors.push_back(cpath + ".nullable: expected true or false");
            else c.nullable = *b;
          } else {
            raw->warnings.push_back("unknown configuration key " + cpath + "." + ckey +
                                    " (ignored)");
          }
        }
        if (c.name.empty() || c.pg_type.empty()) {
          raw->errors.push_back(cpath + ": both name and pg_type are required");
        }
        t.columns.push_back(std::move(c));
      }
    } else if (key == "iceberg") {
      if (!v.IsMap()) {
        raw->errors.push_back(path + ": expected a mapping (e.g. partition: [day(ts)])");
        continue;
      }
      for (const auto& ikv : v) {
        const std::string ikey = ikv.first.as<std::string>("");
        if (ikey == "namespace" || ikey == "name") {
          std::string value = ikv.second.IsScalar() ? ikv.second.Scalar() : "";
          if (value.empty() || value.find_first_of("./\\") != std::string::npos) {
            raw->errors.push_back(path + "." + ikey + ": expected a non-empty name without "
                                  "'.', '/' or '\\'");
            continue;
          }
          (ikey == "name" ? t.iceberg_name : t.iceberg_namespace) = std::move(value);
          continue;
        }
        if (ikey == "column_names") {
          const std::string v2 = ikv.second.IsScalar() ? ikv.second.Scalar() : "";
          if (v2 != "snake_case" && v2 != "as_is") {
            raw->errors.push_back(path + ".column_names: expected snake_case or as_is");
          } else {
            t.snake_case_columns = v2 == "snake_case";
          }
          continue;
        }
        if (ikey == "mode") {
          const std::string m = ikv.second.IsScalar() ? ikv.second.Scalar() : "";
          bool known = false;
          for (TableMode tm : {TableMode::kMirror, TableMode::kHistory, TableMode::kBoth}) {
            if (m == TableModeName(tm)) {
              t.mode = tm;
              known = true;
            }
          }
          if (!known) raw->errors.push_back(path + ".mode: expected mirror, history or both");
          continue;
        }
        if (ikey == "delete_mode") {
          auto m = ikv.second.IsScalar() ? ParseDeleteMode(ikv.second.Scalar()) : std::nullopt;
          if (!m) raw->errors.push_back(path + ".delete_mode: expected equality, position or dv");
          else t.delete_mode = *m;
          continue;
        }
        if (ikey != "partition") {
          raw->warnings.push_back("unknown configuration key " + path + "." + ikey +
                                  " (ignored)");
          continue;
        }
        for (const std::string& expr : ParseStringList(ikv.second, path + ".partition", raw)) {
          auto pf = PartitionField::Parse(expr);
          if (!pf.ok()) raw->errors.push_back(path + ".partition: " + pf.status().message());
          else t.partition.push_back(*pf);
        }
      }
    } else {
      raw->warnings.push_back("unknown configuration key " + path + " (ignored)");
    }
  }
  if (!has_name && raw->errors.empty()) raw->errors.push_back(where + ": `name` is required");
  return t;
}

// yaml-cpp keeps every entry of a mapping, duplicates included, and the walk below would
// let the last one win silently; a repeated key is almost always an editing mistake (two
// `port:` lines, a second `source:` block), so it is an error naming both lines.
void CheckDuplicateKeys(const YAML::Node& node, const std::string& path,
                        const std::string& source_name, int depth, Raw* raw) {
  // Aliases can make a node contain itself; our keys are nowhere near this deep.
  constexpr int kMaxDepth = 32;
  if (depth > kMaxDepth) return;
  if (node.IsSequence()) {
    size_t i = 0;
    for (const auto& item : node) {
      CheckDuplicateKeys(item, path + "[" + std::to_string(i++) + "]", source_name, depth + 1,
                         raw);
    }
    return;
  }
  if (!node.IsMap()) return;
  std::map<std::string, int> first_line;  // key → 0-based line of its first occurrence
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) continue;
    const std::string key = kv.first.Scalar();
    const std::string key_path = path.empty() ? key : path + "." + key;
    const int line = kv.first.Mark().line;
    auto [it, inserted] = first_line.emplace(key, line);
    if (!inserted) {
      raw->errors.push_back(source_name + ":" + std::to_string(line + 1) + ": duplicate key " +
                            key_path + " (first at line " + std::to_string(it->second + 1) +
                            "); remove one");
    }
    CheckDuplicateKeys(kv.second, key_path, source_name, depth + 1, raw);
  }
}

void WalkYaml(const YAML::Node& node, const std::string& prefix, const std::string& origin,
              Raw* raw) {
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>("");
    const std::string path = prefix.empty() ? key : prefix + "." + key;
    const YAML::Node& v = kv.second;
    if (path == "tables") {
      if (v.IsNull()) continue;
      if (!v.IsSequence()) {
        raw->errors.push_back("tables: expected a list of tables" + MarkStr(v));
        continue;
      }
      std::vector<TableConfig> tables;
      size_t i = 0;
      for (const auto& t : v) tables.push_back(ParseTable(t, i++, raw));
      raw->tables = std::move(tables);
      continue;
    }
    if (path == "sink.catalog_props") {
      if (v.IsNull()) continue;
      if (!v.IsMap()) {
        raw->errors.push_back("sink.catalog_props: expected a mapping of property names to "
                              "values" + MarkStr(v));
        continue;
      }
      for (const auto& p : v) {
        if (!p.second.IsScalar()) {
          raw->errors.push_back("sink.catalog_props." + p.first.as<std::string>("") +
                                ": expected a scalar value");
          continue;
        }
        raw->catalog_props[p.first.as<std::string>("")] = p.second.Scalar();
      }
      continue;
    }
    const OptionSpec* spec = FindOption(path);
    if (spec != nullptr) {
      if (v.IsNull()) {
        if (spec->empty_allowed) raw->scalars[path] = RawValue{"", origin};
        continue;
      }
      if (!v.IsScalar()) {
        raw->errors.push_back(path + ": expected a single value, not a " +
                              (v.IsMap() ? "mapping" : "list") + MarkStr(v));
        continue;
      }
      raw->scalars[path] = RawValue{v.Scalar(), origin};
      continue;
    }
    if (v.IsMap() && IsKnownSection(path)) {
      WalkYaml(v, path, origin, raw);
      continue;
    }
    if (IsKnownSection(path)) {
      raw->errors.push_back(path + ": expected a mapping" + MarkStr(v));
      continue;
    }
    raw->warnings.push_back("unknown configuration key " + path + MarkStr(kv.first) +
                            " (ignored)");
  }
}

void SetFromConnInfo(const std::string& url, const std::string& var, const std::string& prefix,
                     Raw* raw) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
  if (opts == nullptr) {
    // libpq's message may quote parts of the URL, which can hold a password: do not relay it.
    if (err) PQfreemem(err);
    raw->errors.push_back(var + ": not a valid PostgreSQL URL or connection string; expected "
                          "postgres://user:password@host:5432/dbname");
    return;
  }
  const std::string origin = "environment " + var;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || *o->val == '\0') continue;
    std::string k = o->keyword;
    std::string path;
    if (k == "host" || k == "hostaddr") path = prefix + "host";
    else if (k == "port") path = prefix + "port";
    else if (k == "dbname") path = prefix + "database";
    else if (k == "user") path = prefix + "user";
    else if (k == "password") path = prefix + "password";
    else if (k == "sslmode") path = prefix + "sslmode";
    else if (k == "sslrootcert") path = prefix + "sslrootcert";
    else {
      raw->warnings.push_back(var + ": connection parameter " + k + " is not used");
      continue;
    }
    raw->scalars[path] = RawValue{o->val, origin};
  }
  PQconninfoFree(opts);
}

void ApplyTablesList(const std::string& list, Raw* raw, const std::string& var) {
  std::vector<TableConfig> tables;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (item.empty()) continue;
    auto name = TableName::Parse(item);
    if (!name.ok()) {
      raw->errors.push_back(var + ": " + name.status().message());
      continue;
    }
    // Keep per-table settings from the YAML for tables it also names.
    TableConfig t;
    t.name = *name;
    if (raw->tables) {
      for (const TableConfig& y : *raw->tables) {
        if (y.name == *name) t = y;
      }
    }
    tables.push_back(std::move(t));
  }
  raw->tables = std::move(tables);
  raw->tables_origin = var;
}

// sink.s3_tables_arn / sink.glue_catalog_id: the AWS Iceberg REST endpoint of the region, signed
// with SigV4 for its service, with the bucket ARN (S3 Tables) or the catalog id (Glue) as the
// warehouse. An explicit sink.catalog_uri (a proxy, a test double) or catalog property wins.
void ApplyAwsCatalog(Config::Sink* sk, Raw* raw) {
  std::string service, region, warehouse;
  if (!sk->s3_tables_arn.empty() && !sk->glue_catalog_id.empty()) {
    raw->errors.push_back("sink.s3_tables_arn and sink.glue_catalog_id: set one of them");
    return;
  }
  if (!sk->s3_tables_arn.empty()) {
    // arn:<partition>:s3tables:<region>:<account>:bucket/<name>
    std::vector<std::string> parts;
    size_t start = 0;
    for (int i = 0; i < 5; ++i) {
      const size_t colon = sk->s3_tables_arn.find(':', start);
      if (colon == std::string::npos) break;
      parts.push_back(sk->s3_tables_arn.substr(start, colon - start));
      start = colon + 1;
    }
    const std::string resource =
        start < sk->s3_tables_arn.size() ? sk->s3_tables_arn.substr(start) : "";
    if (parts.size() != 5 || parts[0] != "arn" || parts[2] != "s3tables" || parts[3].empty() ||
        parts[4].empty() || !resource.starts_with("bucket/") || resource.size() <= 7) {
      raw->errors.push_back("sink.s3_tables_arn: expected a table bucket ARN, e.g. "
                            "arn:aws:s3tables:us-east-1:111122223333:bucket/my-bucket");
      return;
    }
    service = "s3tables";
    region = parts[3];
    warehouse = sk->s3_tables_arn;
  } else {
    service = "glue";
    region = sk->s3_region;
    warehouse = sk->glue_catalog_id;
  }
  if (sk->catalog_uri.empty()) {
    sk->catalog_uri = "https://" + service + "." + region + ".amazonaws.com/iceberg";
  }
  sk->catalog_props.emplace("warehouse", warehouse);
  sk->catalog_props.emplace("rest.signing-name", service);
  sk->catalog_props.emplace("rest.signing-region", region);
}

// sink.table_name: the Iceberg name of each table without tables[].iceberg.name, from its
// schema and name ("{schema}_{table}" puts public.orders in <namespace>.public_orders).
void ApplyTableNameTemplate(const std::string& pattern, std::vector<TableConfig>* tables,
                            Raw* raw) {
  if (pattern == "{table}") return;
  if (pattern.find("{table}") == std::string::npos) {
    raw->errors.push_back("sink.table_name: \"" + pattern + "\" must contain {table} "
                          "(and may contain {schema}), e.g. \"{schema}_{table}\"");
    return;
  }
  for (TableConfig& t : *tables) {
    if (!t.iceberg_name.empty() || t.name.table.empty()) continue;
    t.iceberg_name = ExpandTableName(pattern, t.name);
  }
}

// Upstream's and the one-container image's names for single keys, in the order they apply
// (later wins). POSTGRES_URL and TABLES come before them, PG2ICEBERG_* after.
struct EnvAlias {
  const char* var;
  const char* path;
};
constexpr EnvAlias kEnvAliases[] = {
    {"MODE", "source.mode"},
    {"SLOT_NAME", "source.logical.slot_name"},
    {"PUBLICATION_NAME", "source.logical.publication_name"},
    {"ICEBERG_CATALOG_URL", "sink.catalog_uri"},
    {"WAREHOUSE", "sink.warehouse"},
    {"NAMESPACE", "sink.namespace"},
    {"S3_ENDPOINT", "sink.s3_endpoint"},
    {"S3_ACCESS_KEY", "sink.s3_access_key"},
    {"S3_SECRET_KEY", "sink.s3_secret_key"},
    {"AWS_REGION", "sink.s3_region"},
    {"S3_TABLE_BUCKET_ARN", "sink.s3_tables_arn"},
    {"S3_REGION", "sink.s3_region"},
    {"STATE_POSTGRES_URL", "state.postgres_url"},
    {"POSTGRES_HOST", "source.postgres.host"},
    {"POSTGRES_PORT", "source.postgres.port"},
    {"POSTGRES_DB", "source.postgres.database"},
    {"POSTGRES_USER", "source.postgres.user"},
    {"POSTGRES_PASSWORD", "source.postgres.password"},
};

// The value of `var` if it sets configuration: an empty value sets nothing, except for
// registry keys where empty is meaningful (it turns a phase off).
std::optional<std::string> EnvValue(const EnvLookup& env, const std::string& var,
                                    bool empty_allowed = false) {
  auto v = env(var);
  if (v && v->empty() && !empty_allowed) return std::nullopt;
  return v;
}

void ApplyEnvironment(const EnvLookup& env, Raw* raw) {
  if (auto url = EnvValue(env, "POSTGRES_URL")) {
    SetFromConnInfo(*url, "POSTGRES_URL", "source.postgres.", raw);
  }
  if (auto t = EnvValue(env, "TABLES")) ApplyTablesList(*t, raw, "TABLES");
  for (const EnvAlias& a : kEnvAliases) {
    if (auto v = EnvValue(env, a.var)) {
      raw->scalars[a.path] = RawValue{*v, std::string("environment ") + a.var};
    }
  }
  for (const OptionSpec& o : AllOptions()) {
    const std::string var = EnvNameFor(o.path);
    if (auto v = EnvValue(env, var, o.empty_allowed)) {
      raw->scalars[std::string(o.path)] = RawValue{*v, "environment " + var};
    }
  }
  if (auto t = EnvValue(env, "PG2ICEBERG_TABLES")) {
    ApplyTablesList(*t, raw, "PG2ICEBERG_TABLES");
  }
}

// Converts and stores one validated scalar. Returns an error message naming the key, or "".
class Binder {
 public:
  explicit Binder(Raw* raw) : raw_(raw) {}

  // Effective raw text of `path`: explicit value, or the documented default.
  const RawValue* Explicit(std::string_view path) const {
    auto it = raw_->scalars.find(std::string(path));
    return it == raw_->scalars.end() ? nullptr : &it->second;
  }

  void Error(const OptionSpec& o, const RawValue& rv, const std::string& expected) {
    std::string msg = std::string(o.path) + ": ";
    if (IsSecretKind(o.kind)) {
      msg += "invalid value";  // never echo a secret
    } else {
      msg += "invalid value \"" + rv.value + "\"";
    }
    if (!rv.origin.empty()) msg += " (from " + rv.origin + ")";
    msg += "; " + expected;
    raw_->errors.push_back(std::move(msg));
  }

  std::optional<std::string> Text(const OptionSpec& o) {
    const RawValue* rv = Explicit(o.path);
    if (rv == nullptr) {
      if (o.default_value.empty()) return std::nullopt;
      return std::string(o.default_value);
    }
    return rv->value;
  }

  template <typename T>
  void Int(std::string_view path, T* out) {
    const OptionSpec& o = *FindOption(path);
    auto text = Text(o);
    if (!text) return;
    const RawValue rv = Explicit(path) ? *Explicit(path) : RawValue{*text, ""};
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(text->c_str(), &end, 10);
    const bool parsed = !text->empty() && end && *end == '\0' && errno == 0;
    if (!parsed || v < o.min || (o.max != 0 && v > o.max)) {
      std::string range = "expected an integer";
      if (o.max != 0) {
        range += " between " + std::to_string(o.min) + " and " + std::to_string(o.max);
      } else {
        range += " of at least " + std::to_string(o.min);
      }
      Error(o, rv, range);
      return;
    }
    *out = static_cast<T>(v);
  }

  void Bytes(std::string_view path, int64_t* out) {
    const OptionSpec& o = *FindOption(path);
    auto text = Text(o);
    if (!text) return;
    const RawValue rv = Explicit(path) ? *Explicit(path) : RawValue{*text, ""};
    auto v = ParseBytes(*text);
    if (!v.ok() || *v < o.min) {
      Error(o, rv, "expected a size of at least " + std::to_string(o.min) +
                       " bytes such as 64MiB, 512KB or 1048576");
      return;
    }
    *out = *v;
  }

  void Dur(std::string_view path, Duration* out) {
    std::optional<Duration> d;
    OptDur(path, &d);
    if (d) *out = *d;
  }

  void OptDur(std::string_view path, std::optional<Duration>* out) {
    const OptionSpec& o = *FindOption(path);
    const RawValue* explicit_value = Explicit(path);
    if (explicit_value && explicit_value->value.empty() && o.empty_allowed) {
      *out = std::nullopt;  // explicitly blank: the phase is off
      return;
    }
    auto text = Text(o);
    if (!text) return;
    const RawValue rv = explicit_value ? *explicit_value : RawValue{*text, ""};
    auto d = ParseDuration(*text);
    if (!d.ok()) {
      Error(o, rv, "expected a Go-style duration such as 500ms, 10s, 5m, 1h30m, 168h or 7d");
      return;
    }
    if (d->count() < o.min * 1'000'000) {
      Error(o, rv, "must be greater than zero");
      return;
    }
    *out = *d;
  }

  void Bool(std::string_view path, bool* out) {
    const OptionSpec& o = *FindOption(path);
    auto text = Text(o);
    if (!text) return;
    auto b = ParseBool(*text);
    if (!b) {
      Error(o, Explicit(path) ? *Explicit(path) : RawValue{*text, ""}, "expected true or false");
      return;
    }
    *out = *b;
  }

  void Str(std::string_view path, std::string* out) {
    const OptionSpec& o = *FindOption(path);
    auto text = Text(o);
    if (text) *out = *text;
  }

  // Returns the index of the value in spec.allowed, or -1 when unset.
  int Enum(std::string_view path) {
    const OptionSpec& o = *FindOption(path);
    auto text = Text(o);
    if (!text) return -1;
    std::vector<std::string> allowed;
    std::string_view rest = o.allowed;
    while (true) {
      auto bar = rest.find('|');
      allowed.emplace_back(rest.substr(0, bar));
      if (bar == std::string_view::npos) break;
      rest.remove_prefix(bar + 1);
    }
    for (size_t i = 0; i < allowed.size(); ++i) {
      if (allowed[i] == *text) return static_cast<int>(i);
    }
    std::vector<std::string> shown;
    for (const auto& a : allowed) shown.push_back(a.empty() ? "\"\" (none)" : a);
    Error(o, Explicit(path) ? *Explicit(path) : RawValue{*text, ""},
          "allowed values: " + Join(shown, ", "));
    return -2;
  }

 private:
  Raw* raw_;
};

std::string CurrentDirectory() {
  char buf[4096];
  if (getcwd(buf, sizeof(buf)) == nullptr) return ".";
  return buf;
}

// Redacts the password of a libpq URL or keyword string for display.
std::string RedactConnUrl(const std::string& url) {
  if (url.empty()) return url;
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
  if (opts == nullptr) {
    if (err) PQfreemem(err);
    return std::string(kRedacted);
  }
  bool has_password = false;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (std::string(o->keyword) == "password" && o->val && *o->val) has_password = true;
  }
  PQconninfoFree(opts);
  if (!has_password) return url;
  // postgres://user:secret@host/db → postgres://user:********@host/db; keyword form too.
  std::string out = url;
  auto scheme = out.find("://");
  if (scheme != std::string::npos) {
    auto at = out.find('@', scheme + 3);
    auto colon = out.find(':', scheme + 3);
    if (at != std::string::npos && colon != std::string::npos && colon < at) {
      out.replace(colon + 1, at - colon - 1, kRedacted);
    }
    auto q = out.find("password=");
    if (q != std::string::npos) {
      auto end = out.find('&', q);
      out.replace(q + 9, (end == std::string::npos ? out.size() : end) - q - 9, kRedacted);
    }
    return out;
  }
  auto q = out.find("password");
  if (q != std::string::npos) {
    auto eq = out.find('=', q);
    if (eq != std::string::npos) {
      size_t start = eq + 1;
      while (start < out.size() && out[start] == ' ') ++start;
      size_t end = start;
      if (end < out.size() && out[end] == '\'') {
        ++end;
        while (end < out.size() && out[end] != '\'') end += out[end] == '\\' ? 2 : 1;
        ++end;
      } else {
        while (end < out.size() && out[end] != ' ') ++end;
      }
      out.replace(start, std::min(end, out.size()) - start, kRedacted);
    }
  }
  return out;
}

std::string ConnValue(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  out += '\'';
  return out;
}

void ValidateMetricsAddr(const Config& cfg, Raw* raw) {
  if (cfg.metrics_addr.empty()) return;
  auto colon = cfg.metrics_addr.rfind(':');
  std::string port = colon == std::string::npos ? "" : cfg.metrics_addr.substr(colon + 1);
  bool ok = !port.empty() && port.size() <= 5 &&
            port.find_first_not_of("0123456789") == std::string::npos &&
            std::atoi(port.c_str()) <= 65535;
  if (!ok) {
    raw->errors.push_back("metrics_addr: invalid value \"" + cfg.metrics_addr +
                          "\"; expected host:port such as 127.0.0.1:9090, or empty to disable");
  }
}

// One error per table named more than once ("t" and "public.t" are the same table), with
// every position, rather than one per extra occurrence.
void ReportDuplicateTables(const std::vector<TableConfig>& tables, Raw* raw) {
  std::map<TableName, std::vector<size_t>> positions;
  std::vector<TableName> order;  // first-occurrence order, for stable messages
  for (size_t i = 0; i < tables.size(); ++i) {
    const TableName& name = tables[i].name;
    if (name.table.empty()) continue;
    auto& p = positions[name];
    if (p.empty()) order.push_back(name);
    p.push_back(i);
  }
  const std::string where = raw->tables_origin.empty() ? "tables" : raw->tables_origin;
  for (const TableName& name : order) {
    const std::vector<size_t>& p = positions[name];
    if (p.size() < 2) continue;
    std::string msg = where + ": " + name.ToString() + " is listed " +
                      (p.size() == 2 ? std::string("twice") : std::to_string(p.size()) + " times");
    if (raw->tables_origin.empty()) {
      std::vector<std::string> entries;
      for (size_t i : p) entries.push_back("tables[" + std::to_string(i) + "]");
      msg += " (" + Join(entries, ", ") + ")";
    }
    raw->errors.push_back(msg + "; keep one entry");
  }
}

// Two tables that write one Iceberg table (public.orders and sales.orders both become
// default.orders) would overwrite each other's rows.
void ReportIcebergNameClashes(const std::vector<TableConfig>& tables, const std::string& ns,
                              Raw* raw) {
  std::map<std::string, std::string> owner;  // Iceberg name → first configured table
  for (const TableConfig& t : tables) {
    if (t.name.table.empty()) continue;
    std::vector<std::string> targets;
    if (t.keeps_mirror()) targets.push_back(IcebergNameOf(t, ns).ToString());
    if (t.keeps_history()) targets.push_back(IcebergHistoryNameOf(t, ns).ToString());
    for (const std::string& target : targets) {
      auto [it, inserted] = owner.emplace(target, t.name.ToString());
      if (inserted || it->second == t.name.ToString()) continue;
      raw->errors.push_back("tables: " + it->second + " and " + t.name.ToString() +
                            " would both be written to Iceberg table " + target +
                            "; give one of them its own tables[].iceberg.name (e.g. name: " +
                            t.name.schema + "_" + t.name.table +
                            ") or tables[].iceberg.namespace");
    }
  }
}

}  // namespace

std::vector<std::string> EnvironmentVariablesInUse(const EnvLookup& env) {
  std::vector<std::string> names;
  for (const char* var : {"POSTGRES_URL", "TABLES", "PG2ICEBERG_TABLES"}) {
    if (EnvValue(env, var)) names.emplace_back(var);
  }
  for (const EnvAlias& a : kEnvAliases) {
    if (EnvValue(env, a.var)) names.emplace_back(a.var);
  }
  for (const OptionSpec& o : AllOptions()) {
    std::string var = EnvNameFor(o.path);
    if (EnvValue(env, var, o.empty_allowed)) names.push_back(std::move(var));
  }
  std::sort(names.begin(), names.end());
  return names;
}

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

std::string PostgresConfig::ConnString() const {
  std::string s;
  auto add = [&](const char* k, const std::string& v) {
    if (v.empty()) return;
    if (!s.empty()) s += ' ';
    s += k;
    s += '=';
    s += ConnValue(v);
  };
  add("host", host);
  add("port", std::to_string(port));
  add("dbname", database);
  add("user", user);
  add("password", password);
  add("sslmode", sslmode);
  add("sslrootcert", sslrootcert);
  return s;
}

std::string PostgresConfig::RedactedConnString() const {
  PostgresConfig copy = *this;
  if (!copy.password.empty()) copy.password = std::string(kRedacted);
  return copy.ConnString();
}

Result<Config> Load(const LoadOptions& options) {
  Raw raw;
  if (!options.yaml.empty()) {
    YAML::Node root;
    try {
      root = YAML::Load(options.yaml);
    } catch (const YAML::Exception& e) {
      // yaml-cpp messages name the position and the problem, not the content.
      return InvalidArgument(options.source_name + ": not valid YAML: line " +
                             std::to_string(e.mark.line + 1) + ", column " +
                             std::to_string(e.mark.column + 1) + ": " + e.msg);
    }
    if (!root.IsNull()) {
      if (!root.IsMap()) {
        return InvalidArgument(options.source_name +
                               ": the top level must be a mapping of keys such as source, "
                               "sink and tables");
      }
      CheckDuplicateKeys(root, "", options.source_name, 0, &raw);
      WalkYaml(root, "", options.source_name, &raw);
    }
  }
  ApplyEnvironment(options.env ? options.env : ProcessEnv(), &raw);
  for (const auto& [path, value] : options.overrides) {
    if (FindOption(path) == nullptr) {
      raw.errors.push_back("unknown key " + path + " given on the command line");
      continue;
    }
    raw.scalars[path] = RawValue{value, "command line"};
  }

  Config cfg;
  Binder b(&raw);
  switch (b.Enum("source.mode")) {
    case 1: cfg.source.mode = SourceMode::kQuery; break;
    default: break;
  }
  auto& pg = cfg.source.postgres;
  b.Str("source.postgres.host", &pg.host);
  b.Int("source.postgres.port", &pg.port);
  b.Str("source.postgres.database", &pg.database);
  b.Str("source.postgres.user", &pg.user);
  b.Str("source.postgres.password", &pg.password);
  if (b.Enum("source.postgres.sslmode") >= 0) b.Str("source.postgres.sslmode", &pg.sslmode);
  b.Str("source.postgres.sslrootcert", &pg.sslrootcert);
  auto& lg = cfg.source.logical;
  b.Str("source.logical.publication_name", &lg.publication_name);
  b.Str("source.logical.slot_name", &lg.slot_name);
  {
    std::string markers;
    b.Str("source.logical.markers_table", &markers);
    if (!markers.empty()) {
      auto parsed = TableName::Parse(markers);
      if (parsed.ok()) {
        lg.markers_table = *parsed;
      } else {
        raw.errors.push_back("source.logical.markers_table: " + parsed.status().message());
      }
    }
  }
  b.Dur("source.logical.standby_interval", &lg.standby_interval);
  b.Int("source.logical.snapshot_concurrency", &lg.snapshot_concurrency);
  b.Int("source.logical.snapshot_chunk_pages", &lg.snapshot_chunk_pages);
  b.Dur("source.query.poll_interval", &cfg.source.query.poll_interval);
  b.Int("source.query.batch_size", &cfg.source.query.batch_size);
  b.Dur("source.query.lookback", &cfg.source.query.lookback);
  b.Int("source.query.max_connections", &cfg.source.query.max_connections);

  auto& sk = cfg.sink;
  b.Str("sink.catalog_uri", &sk.catalog_uri);
  b.Str("sink.s3_tables_arn", &sk.s3_tables_arn);
  b.Str("sink.glue_catalog_id", &sk.glue_catalog_id);
  b.Str("sink.s3_region", &sk.s3_region);
  const bool aws_catalog = !sk.s3_tables_arn.empty() || !sk.glue_catalog_id.empty();
  if (aws_catalog) ApplyAwsCatalog(&sk, &raw);
  switch (b.Enum("sink.catalog_type")) {
    case 0: sk.catalog_type = CatalogType::kSql; break;
    case 1: sk.catalog_type = CatalogType::kRest; break;
    case -1:
      sk.catalog_type = sk.catalog_uri.empty() ? CatalogType::kSql : CatalogType::kRest;
      break;
    default: break;
  }
  b.Str("sink.catalog_name", &sk.catalog_name);
  b.Str("sink.catalog_schema", &sk.catalog_schema);
  switch (b.Enum("sink.catalog_auth")) {
    case 2: sk.catalog_auth = CatalogAuth::kBearer; break;
    case 3: sk.catalog_auth = CatalogAuth::kOAuth2; break;
    case 4: sk.catalog_auth = CatalogAuth::kSigV4; break;
    case -1:
      if (aws_catalog) sk.catalog_auth = CatalogAuth::kSigV4;
      break;
    default: break;
  }
  b.Str("sink.catalog_token", &sk.catalog_token);
  b.Str("sink.catalog_client_id", &sk.catalog_client_id);
  b.Str("sink.catalog_client_secret", &sk.catalog_client_secret);
  for (auto& [k, v] : raw.catalog_props) sk.catalog_props[k] = v;  // the operator's win
  switch (b.Enum("sink.credential_mode")) {
    case 1: sk.credential_mode = CredentialMode::kIam; break;
    case 2: sk.credential_mode = CredentialMode::kVended; break;
    default: break;
  }
  b.Str("sink.warehouse", &sk.warehouse);
  b.Str("sink.namespace", &sk.ns);
  b.Str("sink.s3_endpoint", &sk.s3_endpoint);
  b.Str("sink.s3_access_key", &sk.s3_access_key);
  b.Str("sink.s3_secret_key", &sk.s3_secret_key);
  b.Str("sink.table_name", &sk.table_name);
  b.Dur("sink.flush_interval", &sk.flush_interval);
  b.Int("sink.flush_rows", &sk.flush_rows);
  b.Bytes("sink.flush_bytes", &sk.flush_bytes);
  b.Dur("sink.materializer_interval", &sk.materializer_interval);
  b.Int("sink.materializer_concurrency", &sk.materializer_concurrency);
  b.Int("sink.compaction_data_files", &sk.compaction_data_files);
  b.Int("sink.compaction_delete_files", &sk.compaction_delete_files);
  b.Bytes("sink.target_file_size", &sk.target_file_size);
  if (int mode = b.Enum("sink.delete_mode"); mode >= 0) sk.delete_mode = static_cast<DeleteMode>(mode);
  b.OptDur("sink.maintenance_retention", &sk.maintenance_retention);
  b.OptDur("sink.maintenance_grace", &sk.maintenance_grace);
  b.OptDur("sink.compaction_interval", &sk.compaction_interval);
  b.Str("sink.materialized_prefix", &sk.materialized_prefix);
  b.Str("sink.meta_namespace", &sk.meta_namespace);
  b.Str("sink.index_dir", &sk.index_dir);
  b.Bool("sink.include_metadata", &sk.include_metadata);

  b.Str("state.postgres_url", &cfg.state.postgres_url);
  b.Str("state.coordinator_schema", &cfg.state.coordinator_schema);
  b.Str("state.group", &cfg.state.group);
  b.Str("notifications.webhook_url", &cfg.notifications.webhook_url);
  b.Dur("notifications.webhook_timeout", &cfg.notifications.webhook_timeout);
  b.Str("notifications.channel", &cfg.notifications.channel);
  b.Dur("notifications.poll_interval", &cfg.notifications.poll_interval);
  b.Str("metrics_addr", &cfg.metrics_addr);
  b.Bytes("memory_limit", &cfg.memory_limit);
  b.OptDur("max_outage", &cfg.max_outage);
  b.Bool("snapshot_only", &cfg.snapshot_only);

  // Cross-key rules.
  if (!cfg.state.postgres_url.empty()) {
    char* err = nullptr;
    PQconninfoOption* o = PQconninfoParse(cfg.state.postgres_url.c_str(), &err);
    if (o == nullptr) {
      if (err) PQfreemem(err);
      raw.errors.push_back("state.postgres_url: not a valid PostgreSQL URL; expected "
                           "postgres://user:password@host:5432/dbname");
    } else {
      PQconninfoFree(o);
    }
  }
  if (sk.catalog_type == CatalogType::kRest && sk.catalog_uri.empty()) {
    raw.errors.push_back("sink.catalog_type is rest but sink.catalog_uri is empty; set "
                         "sink.catalog_uri or remove catalog_type to use the embedded SQL "
                         "catalog");
  }
  if (sk.catalog_type == CatalogType::kSql && !sk.catalog_uri.empty()) {
    raw.warnings.push_back("sink.catalog_uri is ignored because sink.catalog_type is sql");
  }
  if (sk.catalog_auth == CatalogAuth::kBearer && sk.catalog_token.empty()) {
    raw.errors.push_back("sink.catalog_auth is bearer but sink.catalog_token is empty; set it "
                         "(e.g. PG2ICEBERG_SINK_CATALOG_TOKEN)");
  }
  if (sk.catalog_auth == CatalogAuth::kOAuth2 &&
      (sk.catalog_client_id.empty() || sk.catalog_client_secret.empty())) {
    raw.errors.push_back("sink.catalog_auth is oauth2 but sink.catalog_client_id or "
                         "sink.catalog_client_secret is empty; set both");
  }
  if (sk.warehouse.empty() && sk.catalog_type == CatalogType::kSql) {
    std::string cwd =
        options.working_directory.empty() ? CurrentDirectory() : options.working_directory;
    sk.warehouse = "file://" + cwd + (cwd.ends_with("/") ? "" : "/") + "warehouse";
  } else if (!sk.warehouse.empty() && sk.warehouse.front() == '/') {
    sk.warehouse = "file://" + sk.warehouse;
  }
  if (!sk.warehouse.empty() && sk.catalog_type == CatalogType::kSql &&
      !sk.warehouse.starts_with("s3://") && !sk.warehouse.starts_with("file:///")) {
    raw.errors.push_back("sink.warehouse: invalid value \"" + sk.warehouse +
                         "\"; expected s3://bucket/prefix or file:///absolute/dir");
  }
  ValidateMetricsAddr(cfg, &raw);
  if (const std::string& url = cfg.notifications.webhook_url;
      !url.empty() && !url.starts_with("http://") && !url.starts_with("https://")) {
    raw.errors.push_back("notifications.webhook_url: expected an http:// or https:// URL");
  }
  if (cfg.notifications.channel.size() > 63) {
    raw.errors.push_back("notifications.channel: at most 63 characters (a PostgreSQL name)");
  }

  if (raw.tables) cfg.tables = std::move(*raw.tables);
  ApplyTableNameTemplate(sk.table_name, &cfg.tables, &raw);
  ReportDuplicateTables(cfg.tables, &raw);
  ReportIcebergNameClashes(cfg.tables, sk.ns, &raw);
  if (!sk.meta_namespace.empty()) {
    for (const TableConfig& t : cfg.tables) {
      if (t.name.table.empty()) continue;
      if (IcebergNameOf(t, sk.ns).ns == sk.meta_namespace) {
        raw.errors.push_back("sink.meta_namespace: " + sk.meta_namespace + " also holds table " +
                             t.name.ToString() + "'s Iceberg table; give the meta tables a "
                             "namespace of their own (e.g. pg2iceberg_meta)");
        break;
      }
    }
  }
  if (const auto& m = cfg.source.logical.markers_table) {
    if (sk.meta_namespace.empty()) {
      raw.errors.push_back("source.logical.markers_table: markers are recorded in the meta table "
                           "`markers`; set sink.meta_namespace too (e.g. pg2iceberg_meta)");
    }
    for (const TableConfig& t : cfg.tables) {
      if (t.name == *m) {
        raw.errors.push_back("source.logical.markers_table: " + m->ToString() +
                             " is also a replicated table; markers need a table of their own");
      }
    }
  }
  for (const TableConfig& t : cfg.tables) {
    if (t.name.table.empty()) continue;
    if (cfg.source.mode == SourceMode::kQuery && !t.capture_operations.empty()) {
      const auto& ops = t.capture_operations;
      const bool ins = std::find(ops.begin(), ops.end(), "insert") != ops.end();
      const bool upd = std::find(ops.begin(), ops.end(), "update") != ops.end();
      const DeleteMode mode = t.delete_mode.value_or(cfg.sink.delete_mode);
      if (!ins && !upd) {
        raw.errors.push_back("tables: " + t.name.ToString() +
                             ": capture_operations in query mode must keep insert or update "
                             "(polling sees no deletes or truncations)");
      } else if (!(ins && upd) && mode == DeleteMode::kEquality) {
        raw.errors.push_back("tables: " + t.name.ToString() +
                             ": capture_operations without insert or update in query mode "
                             "needs delete mode position or dv, whose key index tells a new "
                             "key from an updated one; set tables[].iceberg.delete_mode");
      }
    }
    if (cfg.source.mode == SourceMode::kQuery && t.keeps_history()) {
      raw.errors.push_back("tables: " + t.name.ToString() + ": iceberg.mode " +
                           TableModeName(t.mode) + " keeps every change, which source.mode "
                           "query cannot see (it polls rows); use source.mode logical, or "
                           "iceberg.mode mirror");
    }
    if (cfg.source.mode == SourceMode::kQuery && t.watermark_column.empty()) {
      raw.errors.push_back("tables: " + t.name.ToString() +
                           " has no watermark_column, which source.mode query needs; set "
                           "tables[].watermark_column to a non-decreasing column such as "
                           "updated_at");
    }
  }

  if (!raw.errors.empty()) {
    return InvalidArgument("invalid configuration: " + Join(raw.errors, "; "));
  }
  cfg.warnings = std::move(raw.warnings);
  return cfg;
}

Result<Config> LoadFile(const std::string& path, EnvLookup env,
                        std::map<std::string, std::string> overrides) {
  std::ifstream in(path);
  if (!in) {
    return InvalidArgument("cannot read config file " + path +
                           "; pass --config <file.yaml> (see docs/configuration.md)");
  }
  std::stringstream ss;
  ss << in.rdbuf();
  LoadOptions opts;
  opts.yaml = ss.str();
  opts.source_name = path;
  opts.env = std::move(env);
  opts.overrides = std::move(overrides);
  return Load(opts);
}

Result<Config> LoadDefaultFile(const std::string& default_path, EnvLookup env,
                               bool* file_read) {
  // A file that exists but cannot be read is LoadFile's error, not "not found".
  *file_read = access(default_path.c_str(), F_OK) == 0;
  if (*file_read) return LoadFile(default_path, std::move(env));
  if (EnvironmentVariablesInUse(env).empty()) {
    const auto slash = default_path.rfind('/');
    const std::string dir = slash == std::string::npos ? CurrentDirectory()
                            : slash == 0               ? "/"
                                                       : default_path.substr(0, slash);
    const std::string name =
        slash == std::string::npos ? default_path : default_path.substr(slash + 1);
    return InvalidArgument("no configuration: " + name + " not found in " + dir +
                           " and no PG2ICEBERG_* environment variables are set; pass --config "
                           "FILE (see docs/configuration.md)");
  }
  LoadOptions opts;
  opts.source_name = "environment";
  opts.env = std::move(env);
  return Load(opts);
}

std::string Config::Redacted() const {
  YAML::Emitter out;
  auto secret = [](const std::string& v) { return v.empty() ? v : std::string(kRedacted); };
  auto dur = [](const std::optional<Duration>& d) { return d ? FormatDuration(*d) : ""; };
  out << YAML::BeginMap;
  out << YAML::Key << "tables" << YAML::Value << YAML::BeginSeq;
  for (const TableConfig& t : tables) {
    out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << t.name.ToString();
    if (!t.primary_key.empty()) {
      out << YAML::Key << "primary_key" << YAML::Value << YAML::Flow << t.primary_key;
    }
    if (t.skip_snapshot) out << YAML::Key << "skip_snapshot" << YAML::Value << true;
    if (!t.watermark_column.empty()) {
      out << YAML::Key << "watermark_column" << YAML::Value << t.watermark_column;
    }
    if (!t.initial_offset.empty()) {
      out << YAML::Key << "initial_offset" << YAML::Value << t.initial_offset;
    }
    if (t.batch_size) out << YAML::Key << "batch_size" << YAML::Value << *t.batch_size;
    if (t.poll_interval) {
      out << YAML::Key << "poll_interval" << YAML::Value << FormatDuration(*t.poll_interval);
    }
    if (t.lookback) out << YAML::Key << "lookback" << YAML::Value << FormatDuration(*t.lookback);
    if (!t.custom_query.empty()) {
      out << YAML::Key << "custom_query" << YAML::Value << t.custom_query;
    }
    if (!t.capture_operations.empty()) {
      out << YAML::Key << "capture_operations" << YAML::Value << YAML::Flow
          << t.capture_operations;
    }
    if (!t.columns.empty()) {
      out << YAML::Key << "columns" << YAML::Value << YAML::BeginSeq;
      for (const ColumnSpec& c : t.columns) {
        out << YAML::Flow << YAML::BeginMap << YAML::Key << "name" << YAML::Value << c.name
            << YAML::Key << "pg_type" << YAML::Value << c.pg_type << YAML::Key << "nullable"
            << YAML::Value << c.nullable << YAML::EndMap;
      }
      out << YAML::EndSeq;
    }
    if (!t.partition.empty() || !t.iceberg_namespace.empty() || !t.iceberg_name.empty() ||
        t.delete_mode || t.snake_case_columns || t.mode != TableMode::kMirror) {
      out << YAML::Key << "iceberg" << YAML::Value << YAML::BeginMap;
      if (!t.iceberg_namespace.empty()) {
        out << YAML::Key << "namespace" << YAML::Value << t.iceberg_namespace;
      }
      if (!t.iceberg_name.empty()) out << YAML::Key << "name" << YAML::Value << t.iceberg_name;
      if (t.delete_mode) {
        out << YAML::Key << "delete_mode" << YAML::Value << DeleteModeName(*t.delete_mode);
      }
      if (t.snake_case_columns) out << YAML::Key << "column_names" << YAML::Value << "snake_case";
      if (t.mode != TableMode::kMirror) {
        out << YAML::Key << "mode" << YAML::Value << TableModeName(t.mode);
      }
      if (!t.partition.empty()) {
        std::vector<std::string> p;
        for (const auto& f : t.partition) p.push_back(f.ToString());
        out << YAML::Key << "partition" << YAML::Value << YAML::Flow << p;
      }
      out << YAML::EndMap;
    }
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;

  const auto& pg = source.postgres;
  out << YAML::Key << "source" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "mode" << YAML::Value
      << (source.mode == SourceMode::kQuery ? "query" : "logical");
  out << YAML::Key << "postgres" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "host" << YAML::Value << pg.host << YAML::Key << "port" << YAML::Value
      << pg.port << YAML::Key << "database" << YAML::Value << pg.database << YAML::Key
      << "user" << YAML::Value << pg.user << YAML::Key << "password" << YAML::Value
      << secret(pg.password) << YAML::Key << "sslmode" << YAML::Value << pg.sslmode
      << YAML::Key << "sslrootcert" << YAML::Value << pg.sslrootcert << YAML::EndMap;
  out << YAML::Key << "logical" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "publication_name" << YAML::Value << source.logical.publication_name
      << YAML::Key << "slot_name" << YAML::Value << source.logical.slot_name << YAML::Key
      << "markers_table" << YAML::Value
      << (source.logical.markers_table ? source.logical.markers_table->ToString() : "")
      << YAML::Key << "standby_interval" << YAML::Value << FormatDuration(source.logical.standby_interval)
      << YAML::Key << "snapshot_concurrency" << YAML::Value
      << source.logical.snapshot_concurrency << YAML::Key << "snapshot_chunk_pages"
      << YAML::Value << source.logical.snapshot_chunk_pages << YAML::EndMap;
  out << YAML::Key << "query" << YAML::Value << YAML::BeginMap << YAML::Key << "poll_interval"
      << YAML::Value << FormatDuration(source.query.poll_interval) << YAML::Key << "batch_size"
      << YAML::Value << source.query.batch_size << YAML::Key << "lookback" << YAML::Value
      << FormatDuration(source.query.lookback) << YAML::Key << "max_connections" << YAML::Value
      << source.query.max_connections << YAML::EndMap;
  out << YAML::EndMap;

  const char* auth_names[] = {"", "bearer", "oauth2", "sigv4"};
  const char* cred_names[] = {"static", "iam", "vended"};
  out << YAML::Key << "sink" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "catalog_type" << YAML::Value
      << (sink.catalog_type == CatalogType::kRest ? "rest" : "sql");
  out << YAML::Key << "catalog_name" << YAML::Value << sink.catalog_name;
  out << YAML::Key << "catalog_schema" << YAML::Value << sink.catalog_schema;
  out << YAML::Key << "catalog_uri" << YAML::Value << sink.catalog_uri;
  out << YAML::Key << "catalog_auth" << YAML::Value
      << auth_names[static_cast<int>(sink.catalog_auth)];
  out << YAML::Key << "catalog_token" << YAML::Value << secret(sink.catalog_token);
  out << YAML::Key << "catalog_client_id" << YAML::Value << sink.catalog_client_id;
  out << YAML::Key << "catalog_client_secret" << YAML::Value
      << secret(sink.catalog_client_secret);
  out << YAML::Key << "catalog_props" << YAML::Value << YAML::BeginMap;
  for (const auto& [k, v] : sink.catalog_props) {
    out << YAML::Key << k << YAML::Value << (LooksSecret(k) ? secret(v) : v);
  }
  out << YAML::EndMap;
  out << YAML::Key << "credential_mode" << YAML::Value
      << cred_names[static_cast<int>(sink.credential_mode)];
  out << YAML::Key << "warehouse" << YAML::Value << sink.warehouse;
  out << YAML::Key << "namespace" << YAML::Value << sink.ns;
  out << YAML::Key << "table_name" << YAML::Value << sink.table_name;
  out << YAML::Key << "s3_tables_arn" << YAML::Value << sink.s3_tables_arn;
  out << YAML::Key << "glue_catalog_id" << YAML::Value << sink.glue_catalog_id;
  out << YAML::Key << "s3_endpoint" << YAML::Value << sink.s3_endpoint;
  out << YAML::Key << "s3_access_key" << YAML::Value << sink.s3_access_key;
  out << YAML::Key << "s3_secret_key" << YAML::Value << secret(sink.s3_secret_key);
  out << YAML::Key << "s3_region" << YAML::Value << sink.s3_region;
  out << YAML::Key << "flush_interval" << YAML::Value << FormatDuration(sink.flush_interval);
  out << YAML::Key << "flush_rows" << YAML::Value << sink.flush_rows;
  out << YAML::Key << "flush_bytes" << YAML::Value << sink.flush_bytes;
  out << YAML::Key << "materializer_interval" << YAML::Value
      << FormatDuration(sink.materializer_interval);
  out << YAML::Key << "materializer_concurrency" << YAML::Value << sink.materializer_concurrency;
  out << YAML::Key << "compaction_data_files" << YAML::Value << sink.compaction_data_files;
  out << YAML::Key << "compaction_delete_files" << YAML::Value << sink.compaction_delete_files;
  out << YAML::Key << "target_file_size" << YAML::Value << sink.target_file_size;
  out << YAML::Key << "delete_mode" << YAML::Value
      << DeleteModeName(sink.delete_mode);
  out << YAML::Key << "maintenance_retention" << YAML::Value << dur(sink.maintenance_retention);
  out << YAML::Key << "maintenance_grace" << YAML::Value << dur(sink.maintenance_grace);
  out << YAML::Key << "compaction_interval" << YAML::Value << dur(sink.compaction_interval);
  out << YAML::Key << "materialized_prefix" << YAML::Value << sink.materialized_prefix;
  out << YAML::Key << "meta_namespace" << YAML::Value << sink.meta_namespace;
  out << YAML::Key << "index_dir" << YAML::Value << sink.index_dir;
  out << YAML::Key << "include_metadata" << YAML::Value << sink.include_metadata;
  out << YAML::EndMap;

  out << YAML::Key << "state" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "postgres_url" << YAML::Value << RedactConnUrl(state.postgres_url);
  out << YAML::Key << "coordinator_schema" << YAML::Value << state.coordinator_schema;
  out << YAML::Key << "group" << YAML::Value << state.group;
  out << YAML::EndMap;
  out << YAML::Key << "notifications" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "webhook_url" << YAML::Value
      << (notifications.webhook_url.empty() ? "" : "********");
  out << YAML::Key << "webhook_timeout" << YAML::Value
      << FormatDuration(notifications.webhook_timeout);
  out << YAML::Key << "channel" << YAML::Value << notifications.channel;
  out << YAML::Key << "poll_interval" << YAML::Value
      << FormatDuration(notifications.poll_interval);
  out << YAML::EndMap;
  out << YAML::Key << "metrics_addr" << YAML::Value << metrics_addr;
  out << YAML::Key << "memory_limit" << YAML::Value << memory_limit;
  out << YAML::Key << "max_outage" << YAML::Value
      << dur(max_outage);
  out << YAML::Key << "snapshot_only" << YAML::Value << snapshot_only;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

const char* TableModeName(TableMode m) {
  switch (m) {
    case TableMode::kMirror: return "mirror";
    case TableMode::kHistory: return "history";
    case TableMode::kBoth: return "both";
  }
  return "mirror";
}

const char* DeleteModeName(DeleteMode m) {
  switch (m) {
    case DeleteMode::kEquality: return "equality";
    case DeleteMode::kPosition: return "position";
    case DeleteMode::kDv: return "dv";
  }
  return "position";
}

std::optional<DeleteMode> ParseDeleteMode(std::string_view s) {
  for (DeleteMode m : {DeleteMode::kEquality, DeleteMode::kPosition, DeleteMode::kDv}) {
    if (s == DeleteModeName(m)) return m;
  }
  return std::nullopt;
}

std::string SnakeCase(const std::string& name) {
  std::string out;
  auto is_upper = [](char c) { return c >= 'A' && c <= 'Z'; };
  auto is_lower_or_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (is_upper(c)) {
      const bool after_word = i > 0 && is_lower_or_digit(name[i - 1]);
      const bool acronym_end = i > 0 && is_upper(name[i - 1]) && i + 1 < name.size() &&
                               name[i + 1] >= 'a' && name[i + 1] <= 'z';
      if ((after_word || acronym_end) && !out.empty() && out.back() != '_') out += '_';
      out += static_cast<char>(c - 'A' + 'a');
    } else if (is_lower_or_digit(c) || (static_cast<unsigned char>(c) >= 0x80)) {
      out += c;
    } else if (!out.empty() && out.back() != '_') {
      out += '_';
    }
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out.empty() ? name : out;
}

std::string IcebergColumnName(const TableConfig& table, const std::string& pg_name) {
  return table.snake_case_columns ? SnakeCase(pg_name) : pg_name;
}

Status CheckColumnNames(const TableConfig& table, const std::vector<std::string>& pg_names) {
  std::map<std::string, std::string> seen;
  for (const std::string& n : pg_names) {
    const std::string mapped = IcebergColumnName(table, n);
    auto [it, fresh] = seen.emplace(mapped, n);
    if (!fresh) {
      return InvalidArgument("tables[].iceberg.column_names: snake_case maps columns \"" +
                             it->second + "\" and \"" + n + "\" of " + table.name.ToString() +
                             " to one Iceberg column " + mapped +
                             "; rename one of them, or use column_names: as_is");
    }
  }
  return Status::Ok();
}

std::string ExpandTableName(const std::string& pattern, const TableName& table) {
  std::string name = pattern;
  for (const auto& [key, value] : {std::pair<std::string, std::string>{"{schema}", table.schema},
                                   {"{table}", table.table}}) {
    for (size_t at = name.find(key); at != std::string::npos;
         at = name.find(key, at + value.size())) {
      name.replace(at, key.size(), value);
    }
  }
  return name;
}

IcebergTableName IcebergNameOf(const TableConfig& table, const std::string& default_ns) {
  return IcebergTableName{table.iceberg_namespace.empty() ? default_ns : table.iceberg_namespace,
                          table.iceberg_name.empty() ? table.name.table : table.iceberg_name};
}

IcebergTableName IcebergHistoryNameOf(const TableConfig& table, const std::string& default_ns) {
  IcebergTableName n = IcebergNameOf(table, default_ns);
  n.name += "_history";
  return n;
}

bool LooksSecret(std::string_view key) {
  std::string k(key);
  for (char& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* word : {"secret", "token", "password", "credential", "authorization",
                           "api-key", "apikey", "access-key", "session"}) {
    if (k.find(word) != std::string::npos) return true;
  }
  return false;
}

}  // namespace pg2iceberg::config
