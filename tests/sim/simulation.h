// The deterministic simulation of the real loop (issue 12): the real WAL writer and
// materializer, on the in-memory coordinator, catalog and FileIO, fed by a scripted
// replication source (source_model.h), with a fake clock and seeded faults:
//   - a crash (the process's objects are dropped, only what is durable stays: coordinator,
//     catalog, objects, the slot's confirmed LSN) at any step and at every named crash point
//     of the durability protocol (base/crash_point.h);
//   - failed object-store calls, before or after they take effect (fault_injection.h);
//   - catalog commits that fail, conflict, or whose outcome is unknown.
// Any error ends the simulated process too, and it starts again as the pipeline's recovery
// does. After each seed's catch-up (no faults) the Iceberg table must equal the source
// model, with no duplicates; the slot must never be ahead of what the coordinator recorded
// (rule 2), and must have reached the last commit.
//
// Everything runs on one thread and depends only on the seed: a failing seed reproduces from
// its number (`pg2iceberg_sim --seed N --verbose`).
#pragma once

#include <cstdint>
#include <string>

namespace pg2iceberg::sim {

struct SeedOutcome {
  bool ok = true;
  std::string failure;  // what was wrong, when !ok
  int crashes = 0;      // simulated process ends (crash points, errors, plain crashes)
  int faults = 0;       // faults injected
  int commits = 0;      // Iceberg commits that landed
  int compactions = 0;  // compactions that committed
  int resyncs = 0;      // resyncs requested (each copies a table again)
  int transactions = 0;
};

struct SimOptions {
  // The product's log goes to stderr as it happens; otherwise the last lines are kept and
  // returned in the failure text.
  bool verbose = false;
};

SeedOutcome RunSeed(uint64_t seed, const SimOptions& options);

}  // namespace pg2iceberg::sim
