// pg2iceberg_sim: runs seeds of the deterministic simulation (simulation.h).
//
//   pg2iceberg_sim --seeds 2000              seeds 1..2000
//   pg2iceberg_sim --seeds 100000 --first 7  seeds 7..100006
//   pg2iceberg_sim --seed 1234 --verbose     one seed, with the product's log
//
// Prints each failing seed with what was wrong, then a summary with seeds per second. Exit
// status 1 when a seed failed, 2 on bad arguments.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "sim/simulation.h"

namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: pg2iceberg_sim [--seeds N] [--first S] [--seed S] [--verbose]\n");
  return 2;
}

bool ParseCount(const char* text, uint64_t* out) {
  char* end = nullptr;
  *out = std::strtoull(text, &end, 10);
  return end != text && *end == '\0';
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t seeds = 1000;
  uint64_t first = 1;
  pg2iceberg::sim::SimOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--verbose") {
      options.verbose = true;
    } else if ((a == "--seeds" || a == "--first" || a == "--seed") && i + 1 < argc) {
      uint64_t v = 0;
      if (!ParseCount(argv[++i], &v)) return Usage();
      if (a == "--seeds") seeds = v;
      if (a == "--first") first = v;
      if (a == "--seed") {
        first = v;
        seeds = 1;
      }
    } else {
      return Usage();
    }
  }
  const auto started = std::chrono::steady_clock::now();
  uint64_t failed = 0;
  long crashes = 0, faults = 0, commits = 0, transactions = 0, compactions = 0, resyncs = 0;
  for (uint64_t s = first; s < first + seeds; ++s) {
    const auto outcome = pg2iceberg::sim::RunSeed(s, options);
    crashes += outcome.crashes;
    faults += outcome.faults;
    commits += outcome.commits;
    compactions += outcome.compactions;
    resyncs += outcome.resyncs;
    transactions += outcome.transactions;
    if (!outcome.ok) {
      ++failed;
      std::printf("seed %llu FAILED (reproduce: pg2iceberg_sim --seed %llu --verbose)\n%s\n",
                  static_cast<unsigned long long>(s), static_cast<unsigned long long>(s),
                  outcome.failure.c_str());
      std::fflush(stdout);
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf(
      "%llu seeds (%llu..%llu): %llu failed; %ld source transactions, %ld simulated process "
      "ends, %ld faults, %ld Iceberg commits (%ld compactions), %ld resyncs; %.1f s, %.1f "
      "seeds/s\n",
      static_cast<unsigned long long>(seeds), static_cast<unsigned long long>(first),
      static_cast<unsigned long long>(first + seeds - 1), static_cast<unsigned long long>(failed),
      transactions, crashes, faults, commits, compactions, resyncs, secs, secs > 0 ? seeds / secs : 0.0);
  return failed == 0 ? 0 : 1;
}
