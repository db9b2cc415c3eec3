// A fixed-size log-scale histogram of microsecond latencies: four buckets
// per power of two (about 19% resolution), so percentiles cost no memory
// per sample and recording is a few instructions on the hot path.
#pragma once
#include <cstdint>

namespace vhqos {

struct LatencySummary {
  uint64_t count = 0;
  double p50 = 0, p90 = 0, p99 = 0, max = 0;  // microseconds
};

class LatencyHistogram {
 public:
  void record(uint64_t us) {
    counts_[bucket(us)]++;
    total_++;
    if (us > max_) max_ = us;
  }
  LatencySummary summary() const {
    LatencySummary s;
    s.count = total_;
    s.max = static_cast<double>(max_);
    if (total_ == 0) return s;
    s.p50 = quantile(0.50);
    s.p90 = quantile(0.90);
    s.p99 = quantile(0.99);
    return s;
  }

 private:
  static constexpr int kSub = 4, kBuckets = 64 * kSub;
  static int bucket(uint64_t us) {
    if (us < kSub) return static_cast<int>(us);
    int hi = 63 - __builtin_clzll(us);                          // us in [2^hi, 2^(hi+1))
    int sub = static_cast<int>((us >> (hi - 2)) & (kSub - 1));  // next two bits
    int b = hi * kSub + sub;
    return b < kBuckets ? b : kBuckets - 1;
  }
  // Upper edge of bucket b (the value reported for samples in it).
  static double upper(int b) {
    if (b < kSub) return b;
    int hi = b / kSub, sub = b % kSub;
    return static_cast<double>((1ULL << hi) + ((sub + 1ULL) << (hi - 2)));
  }
  double quantile(double q) const {
    uint64_t want = static_cast<uint64_t>(q * static_cast<double>(total_ - 1)) + 1, seen = 0;
    for (int b = 0; b < kBuckets; b++) {
      seen += counts_[b];
      if (seen >= want) return upper(b) < static_cast<double>(max_) ? upper(b) : static_cast<double>(max_);
    }
    return static_cast<double>(max_);
  }
  uint64_t counts_[kBuckets] = {};
  uint64_t total_ = 0, max_ = 0;
};

}  // namespace vhqos
