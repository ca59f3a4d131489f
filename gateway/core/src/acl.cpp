#include "gateway/core/acl.hpp"

#include "sn_protocol/topic.hpp"

namespace gateway::core {
namespace {

// `filter` with every "%c" replaced by the client id; empty when the id would change the
// filter's meaning (a wildcard or a level separator in it).
std::string expand(std::string_view filter, std::string_view client_id) {
  std::string out;
  out.reserve(filter.size() + client_id.size());
  for (std::size_t i = 0; i < filter.size(); ++i) {
    if (filter[i] == '%' && i + 1 < filter.size() && filter[i + 1] == 'c') {
      if (client_id.find_first_of("+#/") != std::string_view::npos) return {};
      out += client_id;
      ++i;
    } else {
      out += filter[i];
    }
  }
  return out;
}

std::vector<std::string_view> levels(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    const auto slash = text.find('/', start);
    out.push_back(text.substr(start, slash == std::string_view::npos ? std::string_view::npos
                                                                      : slash - start));
    if (slash == std::string_view::npos) return out;
    start = slash + 1;
  }
}

}  // namespace

bool client_pattern_matches(std::string_view pattern, std::string_view client_id) {
  // Iterative glob with one backtrack point: linear in practice, never exponential.
  std::size_t p = 0;
  std::size_t c = 0;
  std::size_t star = std::string_view::npos;
  std::size_t resume = 0;
  while (c < client_id.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == client_id[c])) {
      ++p;
      ++c;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = c;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      c = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool filter_covers(std::string_view allowed, std::string_view requested) {
  const auto a = levels(allowed);
  const auto r = levels(requested);
  std::size_t i = 0;
  for (; i < a.size(); ++i) {
    if (a[i] == "#") return true;  // the rest, however deep, including nothing more (§4.7.1.2)
    if (i >= r.size()) return false;
    if (r[i] == "#") return false;  // any depth, where `allowed` has a limit
    if (a[i] == "+") continue;      // one level: a name or '+'
    if (r[i] == "+" || r[i] != a[i]) return false;
  }
  return i == r.size();
}

template <typename Test>
bool Acl::any_filter(std::string_view client_id, std::vector<std::string> AclRule::*list,
                     Test test) const {
  for (const auto& rule : rules_) {
    if (!client_pattern_matches(rule.client, client_id)) continue;
    for (const auto& filter : rule.*list) {
      const std::string expanded = expand(filter, client_id);
      if (!expanded.empty() && test(expanded)) return true;
    }
  }
  return false;
}

bool Acl::may_publish(std::string_view client_id, std::string_view topic) const {
  return any_filter(client_id, &AclRule::publish,
                    [topic](const std::string& filter) { return sn::matches(filter, topic); });
}

bool Acl::may_subscribe(std::string_view client_id, std::string_view filter) const {
  return any_filter(client_id, &AclRule::subscribe, [filter](const std::string& allowed) {
    return filter_covers(allowed, filter);
  });
}

}  // namespace gateway::core
