#include "base/crash_point.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>

namespace pg2iceberg {
namespace {
std::atomic<CrashPointHook> hook{nullptr};
}  // namespace

void SetCrashPointHook(CrashPointHook h) { hook = h; }

void CrashPoint(std::string_view name) {
  if (CrashPointHook h = hook.load(std::memory_order_relaxed)) {
    h(name);
    return;
  }
  static const std::string points = [] {
    const char* v = std::getenv("PG2I_CRASH_AT");
    return v ? "," + std::string(v) + "," : std::string();
  }();
  if (points.empty()) return;
  if (points.find("," + std::string(name) + ",") == std::string::npos) return;
  static std::atomic<long> skip = [] {
    const char* v = std::getenv("PG2I_CRASH_SKIP");
    return v ? std::atol(v) : 0L;
  }();
  if (skip.fetch_sub(1) > 0) return;
  kill(getpid(), SIGKILL);
}

}  // namespace pg2iceberg
