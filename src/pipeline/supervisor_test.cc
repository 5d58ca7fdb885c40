#include "pipeline/supervisor.h"

#include <gtest/gtest.h>

#include <atomic>

namespace pg2iceberg::pipeline {
namespace {

using namespace std::chrono_literals;

// Services that run until the stop: how long each waits is measured on a fake clock, which
// only their own waits move.
TEST(SupervisorTest, TheFirstErrorStopsEveryServiceAndIsTheAttempts) {
  FakeClock clock;
  Supervisor sup(&clock, nullptr);
  std::string reported;
  sup.on_failure = [&](const std::string& service, const Status&) { reported = service; };
  std::atomic<int> stopped{0};
  auto until_stop = [&] {
    while (!sup.Wait(1h)) {
    }
    ++stopped;
    return Status::Ok();
  };
  sup.Start("materializer", until_stop);
  sup.Start("copy", until_stop);
  sup.Start("wal writer", [] { return Unavailable("connection lost"); });
  const Status s = sup.Join();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "wal writer: connection lost");
  EXPECT_EQ(stopped, 2);
  EXPECT_EQ(reported, "wal writer");
  EXPECT_TRUE(sup.failed());
  EXPECT_TRUE(sup.Ended("copy"));
}

TEST(SupervisorTest, ALaterErrorDoesNotReplaceTheFirst) {
  Supervisor sup(nullptr, nullptr);
  std::atomic<bool> first_in{false};
  sup.Start("a", [&] {
    first_in = true;
    return Aborted("first");
  });
  sup.Start("b", [&] {
    while (!first_in) Clock::Real()->SleepFor(1ms);
    while (!sup.stopping()) Clock::Real()->SleepFor(1ms);
    return Internal("second, while stopping");
  });
  EXPECT_EQ(sup.Join().message(), "a: first");
}

TEST(SupervisorTest, AServiceThatIsNotCriticalFailsAlone) {
  FakeClock clock;
  Supervisor sup(&clock, nullptr);
  sup.Start("compaction", [] { return Internal("disk full"); }, /*critical=*/false);
  while (!sup.Ended("compaction")) Clock::Real()->SleepFor(1ms);
  EXPECT_FALSE(sup.stopping());
  sup.RequestRestart();
  EXPECT_TRUE(sup.Join().ok());
  EXPECT_TRUE(sup.restart_requested());
  EXPECT_FALSE(sup.failed());
}

TEST(SupervisorTest, TheProcessStopReachesTheFlagAndEveryWait) {
  std::atomic<bool> process_stop{false};
  FakeClock clock;
  Supervisor sup(&clock, &process_stop);
  std::atomic<bool> waiting{false};
  sup.Start("copy", [&] {
    waiting = true;
    // A copy polls a flag rather than waiting.
    while (!sup.stop_flag()) Clock::Real()->SleepFor(1ms);
    return Cancelled("copy stopped");
  }, /*critical=*/false);
  sup.Start("materializer", [&] {
    EXPECT_TRUE(sup.Wait(24h));  // woken by the stop, not by the time
    return Status::Ok();
  });
  while (!waiting) Clock::Real()->SleepFor(1ms);
  process_stop = true;
  EXPECT_TRUE(sup.Join().ok());
  EXPECT_TRUE(sup.stopping());
  EXPECT_FALSE(sup.restart_requested());
}

TEST(SupervisorTest, AFollowerOutlivesTheStopUntilTheServiceItFollowsEnded) {
  std::atomic<bool> process_stop{true};
  Supervisor sup(nullptr, &process_stop);
  std::atomic<bool> writer_flushed{false};
  std::atomic<bool> saw_flush{false};
  sup.Start("wal writer", [&] {
    Clock::Real()->SleepFor(30ms);  // the last flush
    writer_flushed = true;
    return Status::Ok();
  });
  sup.Start("materializer", [&] {
    while (!sup.Ended("wal writer")) Clock::Real()->SleepFor(1ms);
    saw_flush = writer_flushed.load();  // its last cycle commits what the writer flushed
    return Status::Ok();
  });
  EXPECT_TRUE(sup.Join().ok());
  EXPECT_TRUE(saw_flush);
}

TEST(SupervisorTest, AnExceptionIsAnInternalErrorNotTheEndOfTheProcess) {
  Supervisor sup(nullptr, nullptr);
  sup.Start("materializer", []() -> Status { throw std::runtime_error("boom"); });
  const Status s = sup.Join();
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_NE(s.message().find("boom"), std::string::npos);
}

TEST(SupervisorTest, AWaitEndsWhenItsConditionHolds) {
  FakeClock clock;
  Supervisor sup(&clock, nullptr);
  int polls = 0;
  EXPECT_TRUE(sup.Wait(1h, [&] { return ++polls == 3; }));
  EXPECT_FALSE(sup.Wait(1s));  // no stop, no condition: the whole time
  EXPECT_FALSE(sup.stopping());
}

}  // namespace
}  // namespace pg2iceberg::pipeline
