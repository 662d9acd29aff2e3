// Metrics in the Prometheus text exposition format. Updates on the hot path
// take no lock shared between threads: every counter and histogram keeps one
// cache-line-padded slot per thread (event loops, writer, ...), updated with
// relaxed atomics; a scrape sums the slots. Metrics are created at start-up
// (label values are fixed sets: event types, close codes, route buckets,
// status classes), never per user or channel.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "util/mutex.h"

namespace parley::metrics {

inline constexpr int kSlots = 16;

// This thread's slot (assigned on first use, round-robin).
int Slot();

class Counter {
 public:
  void Inc(uint64_t n = 1) { slots_[Slot()].v.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Value() const;

 private:
  struct alignas(64) Cell {
    std::atomic<uint64_t> v{0};
  };
  std::array<Cell, kSlots> slots_;
};

class Gauge {
 public:
  void Set(int64_t v) { v_.store(v, std::memory_order_relaxed); }
  void Add(int64_t d) { v_.fetch_add(d, std::memory_order_relaxed); }
  int64_t Value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

// Buckets are upper bounds in seconds (or any unit), ascending; +Inf is
// implicit.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);
  struct Snapshot {
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Read() const;
  // The q-quantile (0..1) estimated as Prometheus's histogram_quantile does
  // (linear within the bucket); 0 when empty.
  double Quantile(double q) const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  struct alignas(64) Slot {
    std::unique_ptr<std::atomic<uint64_t>[]> buckets;
    std::atomic<uint64_t> sum_nanos{0};  // sum * 1e9, so that it stays an integer
  };
  std::vector<double> bounds_;
  std::array<Slot, kSlots> slots_;
};

// Exponential buckets from `start`, each `factor` times the last.
std::vector<double> ExponentialBuckets(double start, double factor, int count);

// Latency buckets from 100 us to 10 s (fine enough to read p50/p95/p99).
std::vector<double> LatencyBuckets();

class Registry {
 public:
  // `labels` is the label set as Prometheus text without braces, e.g.
  // `code="4000"` (may be empty). Returns a reference valid for the
  // registry's life. REQUIRES: called at start-up (takes a lock).
  Counter& NewCounter(std::string_view name, std::string_view help, std::string labels = "");
  Gauge& NewGauge(std::string_view name, std::string_view help, std::string labels = "");
  Histogram& NewHistogram(std::string_view name, std::string_view help, std::vector<double> bounds,
                          std::string labels = "");
  // A gauge or counter whose value is computed at scrape time.
  void NewCallback(std::string_view name, std::string_view help, std::string_view type,
                   std::string labels, std::function<double()> value);

  // A family whose series are listed at scrape time (label sets bounded by
  // the caller, e.g. the shards in use).
  using SeriesList = std::vector<std::pair<std::string, double>>;  // labels, value
  void NewCallbackFamily(std::string_view name, std::string_view help, std::string_view type,
                         std::function<SeriesList()> list);

  // The whole exposition (text/plain; version=0.0.4).
  std::string Expose() const;

 private:
  struct Series {
    std::string labels;
    Counter* counter = nullptr;
    Gauge* gauge = nullptr;
    Histogram* histogram = nullptr;
    std::function<double()> callback;
    std::function<SeriesList()> list;
  };
  struct Family {
    std::string name, help, type;
    std::vector<Series> series;
  };
  Family& FamilyOf(std::string_view name, std::string_view help, std::string_view type)
      REQUIRES(mu_);

  mutable Mutex mu_;  // creation and scrape only
  std::vector<std::unique_ptr<Family>> families_ GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Counter>> counters_ GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Gauge>> gauges_ GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Histogram>> histograms_ GUARDED_BY(mu_);
};

// Formats a double as Prometheus does (integers without a fraction, +Inf).
std::string FormatValue(double v);

}  // namespace parley::metrics
