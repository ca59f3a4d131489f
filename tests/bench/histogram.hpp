#pragma once
// A latency histogram with log-linear buckets (64 per power of two, so a reported percentile is
// within ~1.6% of the true value) that merges by addition: each worker ships its histogram as JSON
// and the coordinator adds them, so percentiles over all clients need no raw samples.

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

namespace bench {

class Histogram {
 public:
  void record(std::uint64_t value_ns);
  void merge(const Histogram& other);
  std::uint64_t count() const { return count_; }
  std::uint64_t max() const { return max_; }
  // The value below which `q` (0..1) of the samples lie (bucket upper bound, max for q = 1);
  // 0 when empty.
  std::uint64_t percentile(double q) const;

  nlohmann::json to_json() const;  // {"n":..,"max":..,"b":[[index,count],...]}
  static Histogram from_json(const nlohmann::json& j);

 private:
  static std::size_t index_of(std::uint64_t v);
  static std::uint64_t upper_of(std::size_t index);

  std::vector<std::uint64_t> buckets_;
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace bench
