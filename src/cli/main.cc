// pg2iceberg: the composition root. Parses the command line, loads the configuration, sets up
// logging and dispatches to a subcommand. Only this folder picks concrete backends.
//
// Exit codes: 0 success; 1 the work failed; 2 bad usage or configuration.
#include <CLI/CLI.hpp>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>

#include "base/log.h"
#include "cli/commands.h"
#include "cli/pipeline.h"
#include "cli/verify.h"
#include "config/config.h"
#include "config/options.h"
#include "io/arrow_file_io.h"

namespace pg2iceberg::cli {
namespace {

std::atomic<bool> g_stop{false};

void OnStopSignal(int) { g_stop = true; }

void InstallStopHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

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
  app.set_version_flag("--version", std::string("pg2iceberg ") + kVersion);
  std::string config_path = "config.yaml";
  std::string log_level = "info";
  std::string log_format = "auto";
  app.add_option("--config", config_path, "configuration file (YAML)")->capture_default_str();
  app.add_option("--log-level", log_level, "debug|info|warn|error")->capture_default_str();
  app.add_option("--log-format", log_format,
                 "text|json (default: text on a terminal, JSON otherwise)");
  app.require_subcommand(1);
  // Global options may also follow the subcommand: `pg2iceberg run --config x.yaml`.
  app.fallthrough();

  bool reference = false;
  auto* config_cmd = app.add_subcommand(
      "config", "print the effective configuration (secrets redacted) and exit");
  config_cmd->add_flag("--reference", reference,
                       "print the configuration reference (docs/configuration.md) instead");

  auto* connect_pg = app.add_subcommand(
      "connect-pg", "connect to the source PostgreSQL, print what pg2iceberg needs to know, exit");
  auto* connect_iceberg = app.add_subcommand(
      "connect-iceberg", "open the Iceberg catalog through the production path, probe, exit");
  auto* run = app.add_subcommand(
      "run", "replicate: WAL writer and materializer in one process, until SIGINT/SIGTERM");
  auto* snapshot_cmd = app.add_subcommand(
      "snapshot", "initial copy of every configured table into Iceberg, then exit (creates the "
                  "slot first so no change is lost before the next run)");
  auto* stream_only = app.add_subcommand(
      "stream-only", "WAL writer only: own the replication slot and stage changes");
  auto* status_cmd = app.add_subcommand(
      "status", "per-table positions and lag; --wait blocks until Iceberg has caught up");
  bool wait = false;
  std::string timeout_text = "300s";
  status_cmd->add_flag("--wait", wait,
                       "wait until everything committed in PostgreSQL so far is in Iceberg");
  status_cmd->add_option("--timeout", timeout_text, "give up waiting after this long")
      ->capture_default_str();
  auto* verify = app.add_subcommand(
      "verify", "compare PostgreSQL with Iceberg by primary key; non-zero exit on any difference");
  auto* migrate = app.add_subcommand(
      "migrate-coord", "create or upgrade the coordinator schema (idempotent) and exit");
  auto* cleanup = app.add_subcommand(
      "cleanup", "drop the slot, the publication and the coordinator schema (not Iceberg tables)");

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
  if (connect_iceberg->parsed()) return RunConnectIceberg(*cfg);
  if (migrate->parsed()) return RunMigrateCoord(*cfg);
  if (verify->parsed()) return RunVerify(*cfg);
  if (cleanup->parsed()) return RunCleanup(*cfg);
  if (status_cmd->parsed()) {
    auto t = config::ParseDuration(timeout_text);
    if (!t.ok()) return Fail(2, t.status().WithContext("--timeout"));
    return RunStatus(*cfg, wait, std::chrono::duration_cast<std::chrono::seconds>(*t));
  }
  if (snapshot_cmd->parsed()) {
    InstallStopHandlers();
    return RunSnapshotCommand(*cfg, g_stop);
  }
  if (run->parsed() || stream_only->parsed()) {
    InstallStopHandlers();
    if (cfg->source.mode == config::SourceMode::kQuery) {
      return Fail(2, Unimplemented("source.mode query is not implemented yet; use logical"));
    }
    return run->parsed() ? RunPipeline(*cfg, g_stop) : RunStreamOnly(*cfg, g_stop);
  }
  return Fail(2, InvalidArgument("no subcommand; see pg2iceberg --help"));
}

}  // namespace pg2iceberg::cli

int main(int argc, char** argv) {
  const int rc = pg2iceberg::cli::Main(argc, argv);
  // Arrow's S3 client must be shut down before static destructors run.
  (void)pg2iceberg::io::FinalizeS3();
  return rc;
}
