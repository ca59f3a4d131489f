#include "topic_registry.hpp"

namespace gateway::core {

std::optional<std::uint16_t> TopicRegistry::assign(const std::string& name, std::size_t limit) {
  if (auto known = by_name_.find(name); known != by_name_.end()) return known->second;
  if (by_id_.size() >= limit || by_id_.size() >= 0xFFFE) return std::nullopt;
  // Next id after the last one handed out, skipping the reserved values and ids in use.
  while (next_ == 0x0000 || next_ == 0xFFFF || by_id_.count(next_) != 0) ++next_;
  const std::uint16_t id = next_++;
  by_id_.emplace(id, name);
  by_name_.emplace(name, id);
  return id;
}

const std::string* TopicRegistry::name_of(std::uint16_t id) const {
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second;
}

std::optional<std::uint16_t> TopicRegistry::id_of(const std::string& name) const {
  const auto it = by_name_.find(name);
  if (it == by_name_.end()) return std::nullopt;
  return it->second;
}

void TopicRegistry::erase(std::uint16_t id) {
  const auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  by_name_.erase(it->second);
  by_id_.erase(it);
}

void TopicRegistry::restore(std::uint16_t id, const std::string& name) {
  if (id == 0x0000 || id == 0xFFFF || by_id_.count(id) != 0 || by_name_.count(name) != 0) return;
  by_id_.emplace(id, name);
  by_name_.emplace(name, id);
}

void TopicRegistry::clear() {
  by_id_.clear();
  by_name_.clear();
  next_ = 1;
}

}  // namespace gateway::core
