#include "metrics/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace parley::metrics {

int Slot() {
  static std::atomic<int> next{0};
  thread_local int slot = next.fetch_add(1, std::memory_order_relaxed) % kSlots;
  return slot;
}

uint64_t Counter::Value() const {
  uint64_t sum = 0;
  for (const Cell& c : slots_) sum += c.v.load(std::memory_order_relaxed);
  return sum;
}

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  std::sort(bounds_.begin(), bounds_.end());
  for (Slot& s : slots_) {
    s.buckets = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
    for (size_t i = 0; i <= bounds_.size(); ++i) s.buckets[i].store(0);
  }
}

void Histogram::Observe(double v) {
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  Slot& s = slots_[metrics::Slot()];
  s.buckets[i].fetch_add(1, std::memory_order_relaxed);
  if (v > 0) s.sum_nanos.fetch_add(static_cast<uint64_t>(v * 1e9), std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot out;
  std::vector<uint64_t> counts(bounds_.size() + 1, 0);
  uint64_t nanos = 0;
  for (const Slot& s : slots_) {
    for (size_t i = 0; i <= bounds_.size(); ++i)
      counts[i] += s.buckets[i].load(std::memory_order_relaxed);
    nanos += s.sum_nanos.load(std::memory_order_relaxed);
  }
  uint64_t run = 0;
  for (uint64_t c : counts) {
    run += c;
    out.cumulative.push_back(run);
  }
  out.count = run;
  out.sum = static_cast<double>(nanos) / 1e9;
  return out;
}

double Histogram::Quantile(double q) const {
  Snapshot s = Read();
  if (s.count == 0) return 0;
  double rank = q * static_cast<double>(s.count);
  uint64_t prev = 0;
  for (size_t i = 0; i < s.cumulative.size(); ++i) {
    if (static_cast<double>(s.cumulative[i]) >= rank) {
      if (i == bounds_.size()) return bounds_.empty() ? 0 : bounds_.back();
      double lo = i == 0 ? 0 : bounds_[i - 1];
      double in_bucket = static_cast<double>(s.cumulative[i] - prev);
      double frac = in_bucket > 0 ? (rank - static_cast<double>(prev)) / in_bucket : 1;
      return lo + (bounds_[i] - lo) * frac;
    }
    prev = s.cumulative[i];
  }
  return bounds_.empty() ? 0 : bounds_.back();
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> b;
  double v = start;
  for (int i = 0; i < count; ++i, v *= factor) b.push_back(v);
  return b;
}

std::vector<double> LatencyBuckets() {
  // 100 us .. 10 s: 1, 2.5, 5 per decade.
  std::vector<double> b;
  for (double decade = 1e-4; decade < 10; decade *= 10)
    for (double m : {1.0, 2.5, 5.0}) b.push_back(decade * m);
  b.push_back(10);
  return b;
}

std::string FormatValue(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{}", v);
}

Registry::Family& Registry::FamilyOf(std::string_view name, std::string_view help,
                                     std::string_view type) {
  for (auto& f : families_)
    if (f->name == name) return *f;
  auto f = std::make_unique<Family>();
  f->name = name;
  f->help = help;
  f->type = type;
  families_.push_back(std::move(f));
  return *families_.back();
}

Counter& Registry::NewCounter(std::string_view name, std::string_view help, std::string labels) {
  MutexLock lock(&mu_);
  counters_.push_back(std::make_unique<Counter>());
  FamilyOf(name, help, "counter").series.push_back({std::move(labels), counters_.back().get()});
  return *counters_.back();
}

Gauge& Registry::NewGauge(std::string_view name, std::string_view help, std::string labels) {
  MutexLock lock(&mu_);
  gauges_.push_back(std::make_unique<Gauge>());
  Series s;
  s.labels = std::move(labels);
  s.gauge = gauges_.back().get();
  FamilyOf(name, help, "gauge").series.push_back(std::move(s));
  return *gauges_.back();
}

Histogram& Registry::NewHistogram(std::string_view name, std::string_view help,
                                  std::vector<double> bounds, std::string labels) {
  MutexLock lock(&mu_);
  histograms_.push_back(std::make_unique<Histogram>(std::move(bounds)));
  Series s;
  s.labels = std::move(labels);
  s.histogram = histograms_.back().get();
  FamilyOf(name, help, "histogram").series.push_back(std::move(s));
  return *histograms_.back();
}

void Registry::NewCallback(std::string_view name, std::string_view help, std::string_view type,
                           std::string labels, std::function<double()> value) {
  MutexLock lock(&mu_);
  Series s;
  s.labels = std::move(labels);
  s.callback = std::move(value);
  FamilyOf(name, help, type).series.push_back(std::move(s));
}

void Registry::NewCallbackFamily(std::string_view name, std::string_view help,
                                 std::string_view type, std::function<SeriesList()> list) {
  MutexLock lock(&mu_);
  Series s;
  s.list = std::move(list);
  FamilyOf(name, help, type).series.push_back(std::move(s));
}

namespace {
std::string Braced(const std::string& labels, std::string_view extra = {}) {
  if (labels.empty() && extra.empty()) return "";
  std::string out = "{";
  out += labels;
  if (!labels.empty() && !extra.empty()) out += ',';
  out += extra;
  out += '}';
  return out;
}
}  // namespace

std::string Registry::Expose() const {
  MutexLock lock(&mu_);
  std::string out;
  out.reserve(16 * 1024);
  for (const auto& f : families_) {
    fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", f->name, f->help,
                   f->name, f->type);
    for (const Series& s : f->series) {
      if (s.histogram) {
        Histogram::Snapshot snap = s.histogram->Read();
        const auto& b = s.histogram->bounds();
        for (size_t i = 0; i <= b.size(); ++i) {
          std::string le =
              "le=\"" + (i < b.size() ? FormatValue(b[i]) : std::string("+Inf")) + "\"";
          fmt::format_to(std::back_inserter(out), "{}_bucket{} {}\n", f->name, Braced(s.labels, le),
                         snap.cumulative[i]);
        }
        fmt::format_to(std::back_inserter(out), "{}_sum{} {}\n{}_count{} {}\n", f->name,
                       Braced(s.labels), FormatValue(snap.sum), f->name, Braced(s.labels),
                       snap.count);
        continue;
      }
      if (s.list) {
        for (const auto& [labels, value] : s.list())
          fmt::format_to(std::back_inserter(out), "{}{} {}\n", f->name, Braced(labels),
                         FormatValue(value));
        continue;
      }
      double v = s.counter ? static_cast<double>(s.counter->Value())
                 : s.gauge ? static_cast<double>(s.gauge->Value())
                           : s.callback();
      fmt::format_to(std::back_inserter(out), "{}{} {}\n", f->name, Braced(s.labels),
                     FormatValue(v));
    }
  }
  return out;
}

}  // namespace parley::metrics
