#pragma once
// One client's normal topic ids (§6.5, §6.10): REGISTER from the client and REGISTER from the
// gateway share this table, so an id never means two names for the same client. Ids are never
// 0x0000 or 0xFFFF (§5.3.11).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace gateway::core {

class TopicRegistry {
 public:
  // The id of `name`, assigning the next free one when new; nothing when `limit` ids are in use.
  std::optional<std::uint16_t> assign(const std::string& name, std::size_t limit);
  const std::string* name_of(std::uint16_t id) const;
  std::optional<std::uint16_t> id_of(const std::string& name) const;
  void erase(std::uint16_t id);
  void clear();
  std::size_t size() const { return by_id_.size(); }
  // Persistence: every (id, name), the next id to try, and putting them back.
  const std::unordered_map<std::uint16_t, std::string>& entries() const { return by_id_; }
  std::uint16_t next() const { return next_; }
  void restore(std::uint16_t id, const std::string& name);
  void set_next(std::uint16_t next) { next_ = next; }

 private:
  std::unordered_map<std::uint16_t, std::string> by_id_;
  std::unordered_map<std::string, std::uint16_t> by_name_;
  std::uint16_t next_ = 1;
};

}  // namespace gateway::core
