#include "pipeline/recovery.h"

#include <gtest/gtest.h>

namespace pg2iceberg::pipeline {
namespace {

using namespace std::chrono_literals;

Recovery::Options Opts(FakeClock* clock) {
  Recovery::Options o;
  o.clock = clock;
  o.jitter = [] { return 1.0; };  // the full backoff
  o.initial_backoff = 1s;
  o.max_backoff = 8s;
  return o;
}

TEST(RecoveryTest, TransientCodesAreRetriedOthersNeedAPerson) {
  EXPECT_TRUE(IsTransient(Unavailable("connection lost")));
  EXPECT_TRUE(IsTransient(CommitStateUnknown("timeout")));
  EXPECT_TRUE(IsTransient(Aborted("conflict")));
  EXPECT_TRUE(IsTransient(ResourceExhausted("disk full")));
  for (const Status& s : {InvalidArgument("config"), FailedPrecondition("refused"),
                          DataLoss("gone"), Internal("bug"), NotFound("x")}) {
    EXPECT_FALSE(IsTransient(s)) << s.ToString();
    FakeClock clock;
    Recovery r(Opts(&clock));
    EXPECT_FALSE(r.Failed(s).retry);
  }
}

TEST(RecoveryTest, BackoffDoublesUpToTheCapAndResetsOnceAnAttemptWorked) {
  FakeClock clock;
  Recovery r(Opts(&clock));
  std::vector<int64_t> waits;
  for (int i = 0; i < 6; ++i) {
    auto d = r.Failed(Unavailable("down"));
    ASSERT_TRUE(d.retry);
    waits.push_back(std::chrono::duration_cast<std::chrono::seconds>(d.wait).count());
    clock.Advance(d.wait);
  }
  EXPECT_EQ(waits, (std::vector<int64_t>{1, 2, 4, 8, 8, 8}));
  EXPECT_EQ(r.Failed(Unavailable("down")).attempt, 7);
  // An attempt that worked ends the outage.
  r.Healthy();
  clock.Advance(5s);
  auto d = r.Failed(Unavailable("down again"));
  EXPECT_EQ(d.attempt, 1);
  EXPECT_EQ(d.wait, 1s);
  EXPECT_EQ(d.outage, 0s);
}

TEST(RecoveryTest, JitterScalesBetweenHalfAndAll) {
  FakeClock clock;
  auto o = Opts(&clock);
  o.jitter = [] { return 0.0; };
  Recovery r(o);
  EXPECT_EQ(r.Failed(Unavailable("x")).wait, 500ms);
}

TEST(RecoveryTest, MaxOutageBoundsTheTotalTime) {
  FakeClock clock;
  auto o = Opts(&clock);
  o.max_outage = 10s;
  Recovery r(o);
  std::chrono::milliseconds total{0};
  Recovery::Decision d;
  for (int i = 0; i < 20; ++i) {
    d = r.Failed(Unavailable("down"));
    if (!d.retry) break;
    total += d.wait;
    clock.Advance(d.wait);
  }
  EXPECT_FALSE(d.retry);
  EXPECT_NE(d.give_up.find("max_outage (10 s)"), std::string::npos) << d.give_up;
  EXPECT_EQ(total, 10s);  // the last wait is cut to the limit
}

}  // namespace
}  // namespace pg2iceberg::pipeline
