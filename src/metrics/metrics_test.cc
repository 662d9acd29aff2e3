#include "metrics/metrics.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace parley::metrics {
namespace {

TEST(Metrics, CounterSumsEveryThreadsSlot) {
  Registry r;
  Counter& c = r.NewCounter("t_total", "test", "a=\"1\"");
  std::vector<std::thread> ts;
  for (int i = 0; i < 8; ++i)
    ts.emplace_back([&] {
      for (int k = 0; k < 1000; ++k) c.Inc();
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(c.Value(), 8000u);
  EXPECT_NE(r.Expose().find("t_total{a=\"1\"} 8000\n"), std::string::npos);
}

TEST(Metrics, HistogramExposesCumulativeBuckets) {
  Registry r;
  Histogram& h = r.NewHistogram("lat_seconds", "test", {0.001, 0.01, 0.1});
  h.Observe(0.0005);
  h.Observe(0.005);
  h.Observe(0.005);
  h.Observe(5);
  std::string text = r.Expose();
  EXPECT_NE(text.find("# TYPE lat_seconds histogram\n"), std::string::npos);
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"0.001\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"0.01\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"0.1\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"+Inf\"} 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_count 4\n"), std::string::npos) << text;
  EXPECT_NEAR(h.Read().sum, 5.0105, 1e-6);
  EXPECT_GT(h.Quantile(0.5), 0.001);
  EXPECT_LE(h.Quantile(0.5), 0.01);
}

TEST(Metrics, OneHelpAndTypePerFamily) {
  Registry r;
  r.NewCounter("x_total", "help", "k=\"a\"");
  r.NewCounter("x_total", "help", "k=\"b\"");
  r.NewCallback("g", "gauge help", "gauge", "", [] { return 2.5; });
  std::string text = r.Expose();
  EXPECT_EQ(text.find("# TYPE x_total counter"), text.rfind("# TYPE x_total counter"));
  EXPECT_NE(text.find("x_total{k=\"b\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("g 2.5\n"), std::string::npos);
}

TEST(Metrics, LatencyBucketsSpan100usTo10s) {
  auto b = LatencyBuckets();
  EXPECT_DOUBLE_EQ(b.front(), 1e-4);
  EXPECT_DOUBLE_EQ(b.back(), 10);
  for (size_t i = 1; i < b.size(); ++i) EXPECT_LT(b[i - 1], b[i]);
}

}  // namespace
}  // namespace parley::metrics
