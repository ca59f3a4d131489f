#pragma once
// An identity at the broker: one type for the configuration (auth.clients) and both clients
// (ConnectRequest::credentials).

#include <string>

namespace mqtt_bridge {

// MQTT user name and password (MQTT 3.1.1 §3.1.3.4, §3.1.3.5); empty: not sent.
struct Credentials {
  std::string username;
  std::string password;

  bool operator==(const Credentials&) const = default;
};

// `text` with every "%c" replaced by `client_id`.
inline std::string expand_client_id(const std::string& text, const std::string& client_id) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 1 < text.size() && text[i + 1] == 'c') {
      out += client_id;
      ++i;
    } else {
      out += text[i];
    }
  }
  return out;
}

}  // namespace mqtt_bridge
