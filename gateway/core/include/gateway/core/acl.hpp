#pragma once
// Who may publish and subscribe to what (`auth.acl`, issue 13 §3). One type for the
// configuration and the core: the config reads rules into AclRule, the core asks an Acl.
//
// A rule applies to the clients whose ClientId its `client` matches: the ClientId itself, or a
// pattern with `*` (any run of characters, none included) and `?` (one character). A client may
// do what any rule that applies to it allows; with no rule for it, nothing. `%c` in a filter
// stands for the ClientId; a ClientId with '+', '#' or '/' (which would change what the filter
// means: "sensors/%c/#" for the id "#" is "sensors/#/#") takes nothing from such a filter.

#include <string>
#include <string_view>
#include <vector>

namespace gateway::core {

struct AclRule {
  std::string client;                  // a ClientId, or a pattern with * and ?
  std::vector<std::string> publish;    // topic filters the client may publish (and REGISTER) to
  std::vector<std::string> subscribe;  // topic filters the client may subscribe within

  bool operator==(const AclRule&) const = default;
};

// `*` and `?` as above; every other character stands for itself.
bool client_pattern_matches(std::string_view pattern, std::string_view client_id);

// Every topic `requested` matches is matched by `allowed` too (MQTT 3.1.1 §4.7 wildcards): "a/+"
// covers "a/b" and "a/+", "a/#" covers "a", "a/b/c" and "a/+/#", "a/+" does not cover "a/#".
bool filter_covers(std::string_view allowed, std::string_view requested);

class Acl {
 public:
  explicit Acl(std::vector<AclRule> rules) : rules_(std::move(rules)) {}

  bool may_publish(std::string_view client_id, std::string_view topic) const;
  bool may_subscribe(std::string_view client_id, std::string_view filter) const;
  const std::vector<AclRule>& rules() const { return rules_; }

 private:
  template <typename Test>
  bool any_filter(std::string_view client_id, std::vector<std::string> AclRule::*list,
                  Test test) const;

  std::vector<AclRule> rules_;
};

}  // namespace gateway::core
