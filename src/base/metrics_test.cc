#include "base/metrics.h"

#include <cmath>
#include <thread>

#include <gtest/gtest.h>

namespace pg2iceberg::metrics {
namespace {

TEST(MetricsTest, RendersCountersAndGaugesSortedWithEscapedLabels) {
  Registry r;
  r.GetGauge("b_gauge", "A gauge.\nSecond line").Set(2.5);
  r.GetCounter("a_total", "Things done", {{"table", "public.t"}}).Add(3);
  r.GetCounter("a_total", "Things done", {{"table", "x\"y\\z\n"}}).Add();
  r.GetCounter("a_total", "ignored", {{"table", "public.t"}}).Add(-5);  // never goes down
  EXPECT_EQ(r.Render(),
            "# HELP a_total Things done\n"
            "# TYPE a_total counter\n"
            "a_total{table=\"public.t\"} 3\n"
            "a_total{table=\"x\\\"y\\\\z\\n\"} 1\n"
            "# HELP b_gauge A gauge.\\nSecond line\n"
            "# TYPE b_gauge gauge\n"
            "b_gauge 2.5\n");
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Registry r;
  auto& h = r.GetHistogram("d_seconds", "Durations", {{"table", "t"}}, {1, 0.1, 10});
  for (double v : {0.05, 0.1, 0.5, 3.0, 100.0}) h.Observe(v);
  EXPECT_EQ(r.Render(),
            "# HELP d_seconds Durations\n"
            "# TYPE d_seconds histogram\n"
            "d_seconds_bucket{table=\"t\",le=\"0.1\"} 2\n"
            "d_seconds_bucket{table=\"t\",le=\"1\"} 3\n"
            "d_seconds_bucket{table=\"t\",le=\"10\"} 4\n"
            "d_seconds_bucket{table=\"t\",le=\"+Inf\"} 5\n"
            "d_seconds_sum{table=\"t\"} 103.65\n"
            "d_seconds_count{table=\"t\"} 5\n");
  EXPECT_EQ(r.ValueOf("d_seconds", {{"table", "t"}}), 5);
}

TEST(MetricsTest, SameNameAndLabelsIsTheSameSeries) {
  Registry r;
  Counter& a = r.GetCounter("c_total", "h", {{"k", "v"}});
  Counter& b = r.GetCounter("c_total", "h", {{"k", "v"}});
  EXPECT_EQ(&a, &b);
  a.Add(2);
  b.Add(3);
  EXPECT_EQ(r.ValueOf("c_total", {{"k", "v"}}), 5);
  EXPECT_TRUE(std::isnan(r.ValueOf("c_total", {{"k", "other"}})));
  EXPECT_TRUE(std::isnan(r.ValueOf("absent")));
}

TEST(MetricsTest, TypeClashGivesADetachedMetricThatIsNotRendered) {
  Registry r;
  r.GetCounter("m", "counter").Add(1);
  r.GetGauge("m", "gauge").Set(42);  // wrong type: detached
  r.GetHistogram("h", "h", {}, {1, 2}).Observe(1);
  r.GetHistogram("h", "h", {}, {5}).Observe(1);  // other buckets: detached
  const std::string text = r.Render();
  EXPECT_NE(text.find("m 1\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("42"), std::string::npos) << text;
  EXPECT_EQ(text.find("le=\"5\""), std::string::npos) << text;
  EXPECT_EQ(r.ValueOf("h"), 1);
}

TEST(MetricsTest, CollectorsRunBeforeEveryRender) {
  Registry r;
  int calls = 0;
  r.AddCollector([&calls](Registry& reg) { reg.GetGauge("scrapes", "h").Set(++calls); });
  EXPECT_NE(r.Render().find("scrapes 1\n"), std::string::npos);
  EXPECT_NE(r.Render().find("scrapes 2\n"), std::string::npos);
}

TEST(MetricsTest, ConcurrentUpdatesAreNotLost) {
  Registry r;
  Counter& c = r.GetCounter("n_total", "h");
  Gauge& g = r.GetGauge("g", "h");
  Histogram& h = r.GetHistogram("h", "h");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.Add();
        g.Add(1);
        h.Observe(0.001);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.value(), 40000);
  EXPECT_EQ(g.value(), 40000);
  EXPECT_EQ(h.Read().count, 40000u);
  EXPECT_EQ(h.Read().cumulative.front(), 40000u);
}

TEST(MetricsTest, FormatsValuesAsPrometheusParsesThem) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(12345678901), "12345678901");
  EXPECT_EQ(FormatValue(0.1), "0.1");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
  EXPECT_EQ(FormatValue(INFINITY), "+Inf");
  EXPECT_EQ(FormatValue(-INFINITY), "-Inf");
}

TEST(MetricsTest, CountErrorLabelsComponentAndKind) {
  const Labels l = {{"component", "test"}, {"kind", "commit_state_unknown"}};
  const double before = Default().ValueOf("pg2iceberg_errors_total", l);
  CountError("test", StatusCode::kCommitStateUnknown);
  CountError("test", StatusCode::kCommitStateUnknown);
  EXPECT_EQ(Default().ValueOf("pg2iceberg_errors_total", l), (std::isnan(before) ? 0 : before) + 2);
}

}  // namespace
}  // namespace pg2iceberg::metrics
