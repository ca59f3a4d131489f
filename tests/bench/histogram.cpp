#include "histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace bench {
namespace {
constexpr unsigned kSubBits = 6;  // 64 sub-buckets per power of two
constexpr std::uint64_t kSub = std::uint64_t{1} << kSubBits;
}  // namespace

std::size_t Histogram::index_of(std::uint64_t v) {
  if (v < kSub) return static_cast<std::size_t>(v);
  const unsigned exponent = static_cast<unsigned>(std::bit_width(v)) - 1;  // >= kSubBits
  const unsigned shift = exponent - kSubBits;
  const std::uint64_t sub = (v >> shift) - kSub;  // 0..63
  return static_cast<std::size_t>(kSub + std::uint64_t{shift} * kSub + sub);
}

std::uint64_t Histogram::upper_of(std::size_t index) {
  if (index < kSub) return index;
  const std::uint64_t shift = (index - kSub) / kSub;
  const std::uint64_t sub = (index - kSub) % kSub;
  return ((kSub + sub + 1) << shift) - 1;
}

void Histogram::record(std::uint64_t value_ns) {
  const std::size_t i = index_of(value_ns);
  if (i >= buckets_.size()) buckets_.resize(i + 1, 0);
  ++buckets_[i];
  ++count_;
  max_ = std::max(max_, value_ns);
}

void Histogram::merge(const Histogram& other) {
  if (other.buckets_.size() > buckets_.size()) buckets_.resize(other.buckets_.size(), 0);
  for (std::size_t i = 0; i < other.buckets_.size(); ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
}

std::uint64_t Histogram::percentile(double q) const {
  if (count_ == 0) return 0;
  if (q >= 1.0) return max_;
  const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= std::max<std::uint64_t>(rank, 1)) return std::min(upper_of(i), max_);
  }
  return max_;
}

nlohmann::json Histogram::to_json() const {
  nlohmann::json b = nlohmann::json::array();
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    if (buckets_[i] != 0) b.push_back({i, buckets_[i]});
  }
  return {{"n", count_}, {"max", max_}, {"b", std::move(b)}};
}

Histogram Histogram::from_json(const nlohmann::json& j) {
  Histogram h;
  if (!j.is_object()) return h;
  h.count_ = j.value("n", std::uint64_t{0});
  h.max_ = j.value("max", std::uint64_t{0});
  for (const auto& pair : j.value("b", nlohmann::json::array())) {
    const auto i = pair.at(0).get<std::size_t>();
    if (i > 4096) continue;  // not one of ours
    if (i >= h.buckets_.size()) h.buckets_.resize(i + 1, 0);
    h.buckets_[i] += pair.at(1).get<std::uint64_t>();
  }
  return h;
}

}  // namespace bench
