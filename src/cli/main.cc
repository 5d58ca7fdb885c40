// pg2iceberg: the composition root. Parses the command line, loads the configuration, sets up
// logging and dispatches to a subcommand. Only this folder picks concrete backends.
//
// Exit codes: 0 success; 1 the work failed; 2 bad usage or configuration.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>

#include "base/log.h"
#include "cli/commands.h"
#include "config/config.h"
#include "config/options.h"

namespace pg2iceberg::cli {
namespace {

int Fail(int code, const Status& s) {
  std::fprintf(stderr, "error: %s\n", s.message().c_str());
  return code;
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{
      "pg2iceberg replicates PostgreSQL tables into Apache Iceberg tables through logical "
      "replication.",
      "pg2iceberg"};
  app.set_version_flag("--version", "pg2iceberg 0.1.0");
  std::string config_path = "config.yaml";
  std::string log_level = "info";
  std::string log_format = "auto";
  app.add_option("--config", config_path, "configuration file (YAML)")->capture_default_str();
  app.add_option("--log-level", log_level, "debug|info|warn|error")->capture_default_str();
  app.add_option("--log-format", log_format,
                 "text|json (default: text on a terminal, JSON otherwise)");
  app.require_subcommand(1);

  bool reference = false;
  auto* config_cmd = app.add_subcommand(
      "config", "print the effective configuration (secrets redacted) and exit");
  config_cmd->add_flag("--reference", reference,
                       "print the configuration reference (docs/configuration.md) instead");

  auto* connect_pg = app.add_subcommand(
      "connect-pg", "connect to the source PostgreSQL, print what pg2iceberg needs to know, exit");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  auto level = log::ParseLevel(log_level);
  if (!level.ok()) return Fail(2, level.status().WithContext("--log-level"));
  auto format = log::ParseFormat(log_format);
  if (!format.ok()) return Fail(2, format.status().WithContext("--log-format"));
  log::Init(*level, *format);

  if (config_cmd->parsed() && reference) {
    std::fputs(config::RenderReferenceMarkdown().c_str(), stdout);
    return 0;
  }

  // A missing default config file is fine when everything comes from the environment.
  std::string yaml_path = config_path;
  bool explicit_config = app.get_option("--config")->count() > 0;
  auto cfg = [&]() -> Result<config::Config> {
    FILE* f = std::fopen(yaml_path.c_str(), "r");
    if (f == nullptr && !explicit_config) {
      config::LoadOptions o;
      o.env = config::ProcessEnv();
      o.source_name = "environment";
      return config::Load(o);
    }
    if (f) std::fclose(f);
    return config::LoadFile(yaml_path, config::ProcessEnv());
  }();
  if (!cfg.ok()) return Fail(2, cfg.status());
  for (const std::string& w : cfg->warnings) log::Warn(w);

  if (config_cmd->parsed()) return RunConfig(*cfg);
  if (connect_pg->parsed()) return RunConnectPg(*cfg);
  return Fail(2, InvalidArgument("no subcommand; see pg2iceberg --help"));
}

}  // namespace pg2iceberg::cli

int main(int argc, char** argv) { return pg2iceberg::cli::Main(argc, argv); }
