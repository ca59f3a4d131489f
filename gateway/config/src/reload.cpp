// What a SIGHUP reload may apply, and which keys changed (config.hpp).

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/config/config.hpp"
#include "schema.hpp"

namespace gateway::config {
namespace {

// A section present on one side only is walked as if the other had it empty, so that its keys
// are named one by one ("auth.acl", not "auth").
void compare(const nlohmann::ordered_json* before, const nlohmann::ordered_json* after,
             const std::string& path, std::vector<std::string>& out) {
  const bool before_object = before != nullptr && before->is_object();
  const bool after_object = after != nullptr && after->is_object();
  if ((before_object || after_object) && (before_object || before == nullptr) &&
      (after_object || after == nullptr)) {
    const auto child_path = [&](const std::string& key) {
      return path.empty() ? key : path + "." + key;
    };
    if (before_object) {
      for (const auto& [key, value] : before->items()) {
        const auto* other = after_object && after->contains(key) ? &after->at(key) : nullptr;
        compare(&value, other, child_path(key), out);
      }
    }
    if (after_object) {
      for (const auto& [key, value] : after->items()) {
        if (!before_object || !before->contains(key)) compare(nullptr, &value, child_path(key), out);
      }
    }
    return;
  }
  if (before == nullptr || after == nullptr || *before != *after) out.push_back(path);
}

}  // namespace

std::vector<std::string> changed_keys(const Config& before, const Config& after) {
  std::vector<std::string> changed;
  const auto rendered_before = nlohmann::ordered_json::parse(render_config(before));
  const auto rendered_after = nlohmann::ordered_json::parse(render_config(after));
  compare(&rendered_before, &rendered_after, "", changed);
  return changed;
}

bool reloadable(std::string_view path) {
  // The keys the core and the logger take while clients are served (Core::reconfigure).
  for (const std::string_view key : detail::reloadable_keys()) {
    if (path == key) return true;
    // Within a reloadable key.
    if (path.size() > key.size() && path.substr(0, key.size()) == key &&
        (path[key.size()] == '.' || path[key.size()] == '[')) {
      return true;
    }
  }
  return false;
}

}  // namespace gateway::config
