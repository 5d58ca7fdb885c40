// pg2iceberg: the composition root. Parses the command line, loads the configuration, sets up
// logging and dispatches to a subcommand. Only this folder picks concrete backends.
//
// Exit codes: 0 success; 1 the work failed; 2 bad usage or configuration.
#include <CLI/CLI.hpp>
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>

#include "base/log.h"
#include "cli/backends.h"
#include "cli/catalog_info.h"
#include "cli/commands.h"
#include "cli/compact.h"
#include "cli/maintain.h"
#include "cli/pipeline.h"
#include "cli/probes.h"
#include "cli/status.h"
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

// The arguments for CLI11 (which takes them reversed), with the older spelling of the worker
// mode: `pg2iceberg --materializer-only --materializer-worker-id ID` is
// `pg2iceberg materializer-only --worker-id ID`.
std::vector<std::string> ReversedArgs(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = argc - 1; i >= 1; --i) {
    args.emplace_back(std::string(argv[i]) == "--materializer-only" ? "materializer-only"
                                                                     : argv[i]);
  }
  return args;
}

struct WorkerArgs {
  WorkerOptions options;
  std::string ttl_text = "30s";
};

CLI::App* AddWorkerCommand(CLI::App& app, WorkerArgs& args) {
  auto* cmd = app.add_subcommand(
      "materializer-only",
      "a materializer worker (distributed mode, next to one stream-only): materializes its "
      "share of the tables among the live workers of state.group, until SIGINT/SIGTERM");
  cmd->add_option("--worker-id,--materializer-worker-id", args.options.worker_id,
                  "this worker's id in the group (unique; e.g. the pod name)")
      ->required();
  cmd->add_option("--worker-ttl", args.ttl_text,
                  "a worker whose last heartbeat is older than this has left; its tables go to "
                  "the others (every worker of a group should use the same)")
      ->capture_default_str();
  return cmd;
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
      "connect-pg", "check that logical replication can work with this server, role and tables; "
      "exit 1 with the fix for each failed check");
  auto* connect_iceberg = app.add_subcommand(
      "connect-iceberg", "write, read and delete an object in the warehouse and commit a probe table to "
      "the catalog (then remove it); exit 1 with the fix for each failed check");
  CatalogInfoArgs catalog_info_args;
  auto* catalog_info = AddCatalogInfoCommand(app, catalog_info_args);
  auto* run = app.add_subcommand(
      "run", "replicate: WAL writer and materializer in one process, until SIGINT/SIGTERM");
  auto* snapshot_cmd = app.add_subcommand(
      "snapshot", "initial copy of every configured table into Iceberg, then exit (creates the "
                  "slot first so no change is lost before the next run)");
  auto* stream_only = app.add_subcommand(
      "stream-only", "WAL writer only: own the replication slot and stage changes");
  WorkerArgs worker_args;
  auto* worker_cmd = AddWorkerCommand(app, worker_args);
  auto* health_cmd = app.add_subcommand(
      "health", "ask the running process's /healthz (metrics_addr); exit 0 when healthy (a "
                "container's health check)");
  auto* status_cmd = app.add_subcommand(
      "status", "per-table positions and lag; --wait blocks until Iceberg has caught up");
  bool wait = false;
  std::string timeout_text = "300s";
  status_cmd->add_flag("--wait", wait,
                       "wait until everything committed in PostgreSQL so far is in Iceberg");
  status_cmd->add_option("--timeout", timeout_text, "give up waiting after this long")
      ->capture_default_str();
  bool status_json = false;
  status_cmd->add_flag("--json", status_json, "print the status as JSON (for scripts)");
  auto* verify = app.add_subcommand(
      "verify", "compare PostgreSQL with Iceberg by primary key; non-zero exit on any difference");
  VerifyOptions verify_options;
  verify->add_option("--table", verify_options.tables,
                     "verify only this configured table (repeatable; default: all)");
  verify->add_option("--sample", verify_options.samples,
                     "how many differing rows to print per table")
      ->capture_default_str();
  auto* migrate = app.add_subcommand(
      "migrate-coord", "create or upgrade the coordinator schema (idempotent) and exit");
  auto* cleanup = app.add_subcommand(
      "cleanup", "drop the slot, the publication and the coordinator schema (not Iceberg tables)");
  std::vector<std::string> resync_tables;
  auto* resync = app.add_subcommand(
      "resync", "copy a table again; the copy replaces its Iceberg content (a running `run` "
                "does it at once, the other tables keep streaming; else the next start)");
  resync->add_option("--table", resync_tables, "the configured table to copy again (repeatable)")
      ->required();

  CompactOptions compact_options;
  auto* compact = app.add_subcommand(
      "compact", "one compaction pass over every configured table, then exit: rewrite the "
                 "partitions past sink.compaction_data_files / sink.compaction_delete_files "
                 "toward sink.target_file_size, applying their deletes (runs next to a live `run`)");
  compact->add_option("--table", compact_options.tables,
                      "compact only this configured table (repeatable; default: all)");
  compact->add_flag("--all", compact_options.all,
                    "compact every partition with more than one data file or any delete file");
  MaintainOptions maintain_options;
  auto* maintain = app.add_subcommand(
      "maintain", "expire old snapshots and delete orphan files of every configured table, then "
                  "exit (runs next to a live `run`)");
  maintain->add_option("--retention", maintain_options.retention,
                       "expire snapshots older than this (default: sink.maintenance_retention)");
  maintain->add_option("--retain-last", maintain_options.retain_last,
                       "snapshots of the table's history always kept")
      ->capture_default_str();
  maintain->add_option("--table", maintain_options.tables,
                       "maintain only this configured table (repeatable; default: all)");
  maintain->add_flag("--dry-run", maintain_options.dry_run,
                     "list what would be expired and deleted; change nothing");

  std::vector<std::string> args = ReversedArgs(argc, argv);
  try {
    app.parse(args);
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

  // A missing default config file is fine when the environment configures pg2iceberg; with
  // neither, stop rather than run on defaults.
  std::string yaml_path = config_path;
  bool explicit_config = app.get_option("--config")->count() > 0;
  auto cfg = [&]() -> Result<config::Config> {
    if (explicit_config) return config::LoadFile(yaml_path, config::ProcessEnv());
    bool file_read = false;
    auto loaded = config::LoadDefaultFile(yaml_path, config::ProcessEnv(), &file_read);
    if (loaded.ok() && !file_read) {
      std::string vars;
      for (const std::string& v : config::EnvironmentVariablesInUse(config::ProcessEnv())) {
        vars += (vars.empty() ? "" : ",") + v;
      }
      log::Info("no config file; configuration from the environment", {{"variables", vars}});
    }
    return loaded;
  }();
  if (!cfg.ok()) return Fail(2, cfg.status());
  for (const std::string& w : cfg->warnings) log::Warn(w);

  if (config_cmd->parsed()) return RunConfig(*cfg);
  if (connect_pg->parsed()) return RunConnectPg(*cfg);
  if (connect_iceberg->parsed()) return RunConnectIceberg(*cfg);
  if (catalog_info->parsed()) return RunCatalogInfo(*cfg, catalog_info_args);
  if (migrate->parsed()) return RunMigrateCoord(*cfg);
  if (health_cmd->parsed()) return RunHealth(*cfg);
  // The commands below work on the tables: with none configured, the publication's.
  cfg = WithPublishedTables(std::move(*cfg));
  if (!cfg.ok()) {
    return Fail(cfg.status().code() == StatusCode::kInvalidArgument ? 2 : 1, cfg.status());
  }
  if (verify->parsed()) return RunVerify(*cfg, verify_options);
  if (cleanup->parsed()) return RunCleanup(*cfg);
  if (resync->parsed()) return RunResync(*cfg, resync_tables);
  if (maintain->parsed()) return RunMaintain(*cfg, maintain_options);
  if (compact->parsed()) return RunCompact(*cfg, compact_options);
  if (status_cmd->parsed()) {
    auto t = config::ParseDuration(timeout_text);
    if (!t.ok()) return Fail(2, t.status().WithContext("--timeout"));
    return RunStatus(*cfg, StatusOptions{.wait = wait,
                                         .timeout = std::chrono::duration_cast<std::chrono::seconds>(*t),
                                         .json = status_json});
  }
  if (snapshot_cmd->parsed()) {
    InstallStopHandlers();
    return RunSnapshotCommand(*cfg, g_stop);
  }
  if (worker_cmd->parsed()) {
    auto ttl = config::ParseDuration(worker_args.ttl_text);
    if (!ttl.ok()) return Fail(2, ttl.status().WithContext("--worker-ttl"));
    worker_args.options.ttl = std::max<std::chrono::seconds>(
        std::chrono::seconds(1), std::chrono::duration_cast<std::chrono::seconds>(*ttl));
    InstallStopHandlers();
    return RunMaterializerOnly(*cfg, g_stop, worker_args.options);
  }
  if (run->parsed() || stream_only->parsed()) {
    InstallStopHandlers();
    if (cfg->source.mode == config::SourceMode::kQuery && stream_only->parsed()) {
      return Fail(2, InvalidArgument("stream-only goes with source.mode logical; in query mode "
                                     "use run (it polls and materializes)"));
    }
    return run->parsed() ? RunPipeline(*cfg, g_stop) : RunStreamOnly(*cfg, g_stop);
  }
  return Fail(2, InvalidArgument("no subcommand; see pg2iceberg --help"));
}

}  // namespace pg2iceberg::cli

int main(int argc, char** argv) {
  // Arrow allocates from the C library's heap, not its bundled jemalloc: jemalloc keeps freed
  // pages (~90 MB more peak RSS on a 1,000,000-change backlog, bench/pipeline_bench.sh), and
  // one allocator lets ReleaseFreedMemory return Arrow's memory with ours. Set before Arrow's
  // first allocation; an operator's own ARROW_DEFAULT_MEMORY_POOL wins.
  setenv("ARROW_DEFAULT_MEMORY_POOL", "system", /*overwrite=*/0);
  int rc = 1;
  try {
    rc = pg2iceberg::cli::Main(argc, argv);
  } catch (const std::exception& e) {
    // A last resort: components turn their exceptions into statuses; whatever still escapes
    // ends the command with its message, not with std::terminate.
    std::fprintf(stderr, "error: internal error: %s\n", e.what());
  }
  // Arrow's S3 client must be shut down before static destructors run.
  (void)pg2iceberg::io::FinalizeS3();
  return rc;
}
