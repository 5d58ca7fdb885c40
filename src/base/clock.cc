#include "base/clock.h"

#include <algorithm>
#include <ctime>
#include <thread>

namespace pg2iceberg {

Clock::WallTime SystemClock::Now() const {
  return std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
}

Clock::MonoTime SystemClock::Monotonic() const {
  return std::chrono::time_point_cast<Duration>(std::chrono::steady_clock::now());
}

void SystemClock::SleepFor(Duration d) { std::this_thread::sleep_for(d); }

Clock* Clock::Real() {
  static SystemClock clock;
  return &clock;
}

bool WaitUntil(Clock* clock, Clock::Duration d, Clock::Duration poll,
               const std::function<bool()>& done) {
  const Stopwatch waited(clock);
  while (!done()) {
    const Clock::Duration left = d - waited.Elapsed();
    if (left <= Clock::Duration::zero()) return false;
    clock->SleepFor(std::min(poll, left));
  }
  return true;
}

std::string FormatRfc3339Millis(Clock::WallTime t) {
  const int64_t ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  int millis = static_cast<int>(ms % 1000);
  if (millis < 0) {
    millis += 1000;
    secs -= 1;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

}  // namespace pg2iceberg
