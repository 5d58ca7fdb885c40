#include "base/clock.h"

#include <gtest/gtest.h>

namespace pg2iceberg {
namespace {

using namespace std::chrono_literals;

TEST(ClockTest, FakeClockMovesOnlyWhenTold) {
  FakeClock clock;
  auto w0 = clock.Now();
  auto m0 = clock.Monotonic();
  EXPECT_EQ(clock.Now(), w0);
  clock.SleepFor(1500ms);
  EXPECT_EQ(clock.Now() - w0, 1500ms);
  EXPECT_EQ(clock.Monotonic() - m0, 1500ms);
  clock.Advance(2s);
  EXPECT_EQ(clock.Monotonic() - m0, 3500ms);
}

TEST(ClockTest, SystemClockIsMonotonic) {
  auto* c = Clock::Real();
  auto a = c->Monotonic();
  auto b = c->Monotonic();
  EXPECT_LE(a, b);
  EXPECT_GT(c->NowMillis(), 1'600'000'000'000);
}

TEST(ClockTest, StopwatchMeasuresOnItsClock) {
  FakeClock clock;
  Stopwatch w(&clock);
  EXPECT_EQ(w.Elapsed(), 0ns);
  clock.Advance(1500ms);
  EXPECT_EQ(w.Elapsed(), 1500ms);
  EXPECT_DOUBLE_EQ(w.Seconds(), 1.5);
  w.Restart();
  clock.Advance(2s);
  EXPECT_EQ(w.Elapsed(), 2s);
}

TEST(ClockTest, WaitUntilPollsOnItsClockAndGivesUpAfterTheDuration) {
  FakeClock clock;
  int looks = 0;
  EXPECT_TRUE(WaitUntil(&clock, 10s, 1s, [&] { return ++looks == 4; }));
  EXPECT_EQ(clock.Monotonic().time_since_epoch(), 3s);
  EXPECT_FALSE(WaitUntil(&clock, 2500ms, 1s, [] { return false; }));
  EXPECT_EQ(clock.Monotonic().time_since_epoch(), 5500ms);  // no sleep past the duration
  EXPECT_TRUE(WaitUntil(&clock, 0s, 1s, [] { return true; }));
}

TEST(ClockTest, Rfc3339) {
  Clock::WallTime t(std::chrono::milliseconds(1'763'701'432'123));
  EXPECT_EQ(FormatRfc3339Millis(t), "2025-11-21T05:03:52.123Z");
  EXPECT_EQ(FormatRfc3339Millis(Clock::WallTime(0ns)), "1970-01-01T00:00:00.000Z");
}

}  // namespace
}  // namespace pg2iceberg
