// Time as an interface, so that flush cadence, heartbeats, backoff and lag are testable with
// a fake clock and a deterministic simulation can run on one thread.
//
// SystemClock is thread-safe. FakeClock is thread-safe too; its SleepFor advances time
// instead of blocking, so code under test never waits for real.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace pg2iceberg {

class Clock {
 public:
  using Duration = std::chrono::nanoseconds;
  using WallTime = std::chrono::time_point<std::chrono::system_clock, Duration>;
  using MonoTime = std::chrono::time_point<std::chrono::steady_clock, Duration>;

  virtual ~Clock() = default;

  // Wall-clock time, for timestamps that leave the process (commit metadata, logs, lag).
  virtual WallTime Now() const = 0;
  // Monotonic time, for intervals and deadlines.
  virtual MonoTime Monotonic() const = 0;
  virtual void SleepFor(Duration d) = 0;

  int64_t NowMillis() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Now().time_since_epoch())
        .count();
  }

  // The process-wide real clock.
  static Clock* Real();
};

class SystemClock final : public Clock {
 public:
  WallTime Now() const override;
  MonoTime Monotonic() const override;
  void SleepFor(Duration d) override;
};

// Starts at a fixed instant; time moves only through Advance() or SleepFor().
class FakeClock final : public Clock {
 public:
  explicit FakeClock(WallTime start = WallTime(std::chrono::seconds(1'700'000'000)))
      : wall_ns_(start.time_since_epoch().count()) {}

  WallTime Now() const override { return WallTime(Duration(wall_ns_.load())); }
  MonoTime Monotonic() const override { return MonoTime(Duration(mono_ns_.load())); }
  void SleepFor(Duration d) override { Advance(d); }

  void Advance(Duration d) {
    wall_ns_ += d.count();
    mono_ns_ += d.count();
  }

 private:
  std::atomic<int64_t> wall_ns_;
  std::atomic<int64_t> mono_ns_{0};
};

// Time elapsed on a clock's monotonic time since construction or Restart(): durations for
// metrics and logs, deadlines and time limits.
class Stopwatch {
 public:
  // `clock` must outlive this object; null means Clock::Real().
  explicit Stopwatch(Clock* clock = nullptr)
      : clock_(clock != nullptr ? clock : Clock::Real()), start_(clock_->Monotonic()) {}

  Clock::Duration Elapsed() const { return clock_->Monotonic() - start_; }
  double Seconds() const { return std::chrono::duration<double>(Elapsed()).count(); }
  void Restart() { start_ = clock_->Monotonic(); }

 private:
  Clock* clock_;
  Clock::MonoTime start_;
};

// Waits on `clock` until `done()` is true, looking every `poll`, for at most `d`: true when
// done (at once if it already is), false when `d` passed first.
bool WaitUntil(Clock* clock, Clock::Duration d, Clock::Duration poll,
               const std::function<bool()>& done);

// RFC 3339 UTC with milliseconds: 2026-11-21T05:03:52.123Z
std::string FormatRfc3339Millis(Clock::WallTime t);

}  // namespace pg2iceberg
