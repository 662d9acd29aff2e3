// A small HDR-style log-linear latency histogram: values in microseconds from
// 1 µs to 60 s, relative resolution better than 1% (two significant digits).
// Values below 256 µs have their own bucket each; above, each power of two is
// split in 128 linear sub-buckets. Fixed size (2,688 counters, 21 KiB), no
// allocation per record; histograms merge by adding counters.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <string>
#include <string_view>

namespace parley::load {

class Histogram {
 public:
  static constexpr uint64_t kMaxUs = 60'000'000;  // 60 s; larger values are clamped
  static constexpr int kSubBits = 7;              // 128 sub-buckets per power of two
  static constexpr int kLinear = 2 << kSubBits;   // 256 exact buckets
  static constexpr int kBuckets = kLinear + (26 - kSubBits) * (1 << kSubBits);

  void Record(uint64_t us) {
    if (us > kMaxUs) us = kMaxUs;
    ++counts_[Index(us)];
    ++total_;
    max_ = std::max(max_, us);
  }
  void Add(const Histogram& o) {
    for (int i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    max_ = std::max(max_, o.max_);
  }
  void Reset() { *this = Histogram(); }
  uint64_t total() const { return total_; }
  uint64_t max() const { return max_; }

  // The value at percentile p (0..100): the highest value of the bucket that
  // holds it (never more than max()).
  uint64_t Percentile(double p) const {
    if (total_ == 0) return 0;
    uint64_t rank = static_cast<uint64_t>(p / 100.0 * static_cast<double>(total_) + 0.5);
    rank = std::clamp<uint64_t>(rank, 1, total_);
    uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(BucketHigh(i), max_);
    }
    return max_;
  }

  // Text form for the worker → parent pipe: "max;i:n,i:n,...".
  std::string Encode() const {
    std::string s = std::to_string(max_) + ";";
    for (int i = 0; i < kBuckets; ++i) {
      if (!counts_[i]) continue;
      s += std::to_string(i);
      s += ':';
      s += std::to_string(counts_[i]);
      s += ',';
    }
    return s;
  }
  // Adds what Encode() wrote; false on malformed text.
  bool Decode(std::string_view s) {
    size_t semi = s.find(';');
    if (semi == std::string_view::npos) return false;
    Histogram h;
    h.max_ = std::stoull(std::string(s.substr(0, semi)));
    size_t pos = semi + 1;
    while (pos < s.size()) {
      size_t colon = s.find(':', pos), comma = s.find(',', pos);
      if (colon == std::string_view::npos || comma == std::string_view::npos || colon > comma)
        return false;
      int i = std::stoi(std::string(s.substr(pos, colon - pos)));
      uint64_t n = std::stoull(std::string(s.substr(colon + 1, comma - colon - 1)));
      if (i < 0 || i >= kBuckets) return false;
      h.counts_[i] += n;
      h.total_ += n;
      pos = comma + 1;
    }
    Add(h);
    return true;
  }

  static int Index(uint64_t v) {
    if (v < static_cast<uint64_t>(kLinear)) return static_cast<int>(v);
    int e = std::bit_width(v) - 1;  // >= kSubBits + 1
    int shift = e - kSubBits;
    int sub = static_cast<int>(v >> shift) - (1 << kSubBits);  // 0..127
    return kLinear + (e - kSubBits - 1) * (1 << kSubBits) + sub;
  }
  static uint64_t BucketHigh(int i) {
    if (i < kLinear) return static_cast<uint64_t>(i);
    int k = i - kLinear;
    int e = k / (1 << kSubBits) + kSubBits + 1;
    int sub = k % (1 << kSubBits);
    int shift = e - kSubBits;
    return ((static_cast<uint64_t>((1 << kSubBits) + sub + 1)) << shift) - 1;
  }

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t total_ = 0;
  uint64_t max_ = 0;
};

}  // namespace parley::load
