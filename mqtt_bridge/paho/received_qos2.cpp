#include "received_qos2.hpp"

#include <mqtt/exception.h>

namespace mqtt_bridge::detail {

void ReceivedQos2Store::put(const std::string& session, const std::string& key, std::string data) {
  const std::lock_guard lock(mutex_);
  sessions_[session][key] = std::move(data);
}

bool ReceivedQos2Store::get(const std::string& session, const std::string& key,
                            std::string& out) const {
  const std::lock_guard lock(mutex_);
  const auto s = sessions_.find(session);
  if (s == sessions_.end()) return false;
  const auto e = s->second.find(key);
  if (e == s->second.end()) return false;
  out = e->second;
  return true;
}

bool ReceivedQos2Store::contains(const std::string& session, const std::string& key) const {
  const std::lock_guard lock(mutex_);
  const auto s = sessions_.find(session);
  return s != sessions_.end() && s->second.contains(key);
}

std::vector<std::string> ReceivedQos2Store::keys(const std::string& session) const {
  const std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  if (const auto s = sessions_.find(session); s != sessions_.end()) {
    for (const auto& [key, data] : s->second) out.push_back(key);
  }
  return out;
}

void ReceivedQos2Store::remove(const std::string& session, const std::string& key) {
  const std::lock_guard lock(mutex_);
  const auto s = sessions_.find(session);
  if (s == sessions_.end()) return;
  s->second.erase(key);
  if (s->second.empty()) sessions_.erase(s);
}

void ReceivedQos2Store::clear(const std::string& session) {
  const std::lock_guard lock(mutex_);
  sessions_.erase(session);
}

std::size_t ReceivedQos2Store::size() const {
  const std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const auto& [session, entries] : sessions_) n += entries.size();
  return n;
}

void ReceivedQos2Persistence::open(const mqtt::string& client_id, const mqtt::string& server_uri) {
  session_ = client_id + "\n" + server_uri;
}

void ReceivedQos2Persistence::clear() {
  store_->clear(session_);
  const std::lock_guard lock(mutex_);
  own_.clear();
}

bool ReceivedQos2Persistence::contains_key(const mqtt::string& key) {
  if (shared(key)) return store_->contains(session_, key);
  const std::lock_guard lock(mutex_);
  return own_.contains(key);
}

mqtt::string_collection ReceivedQos2Persistence::keys() const {
  mqtt::string_collection out;
  for (auto& key : store_->keys(session_)) out.push_back(std::move(key));
  const std::lock_guard lock(mutex_);
  for (const auto& [key, data] : own_) out.push_back(key);
  return out;
}

void ReceivedQos2Persistence::put(const mqtt::string& key,
                                  const std::vector<mqtt::string_view>& bufs) {
  std::string data;
  for (const auto& buf : bufs) data.append(buf.data(), buf.size());
  if (shared(key)) {
    store_->put(session_, key, std::move(data));
    return;
  }
  const std::lock_guard lock(mutex_);
  own_[key] = std::move(data);
}

mqtt::string ReceivedQos2Persistence::get(const mqtt::string& key) const {
  std::string data;
  if (shared(key)) {
    if (!store_->get(session_, key, data)) throw mqtt::persistence_exception();
    return data;
  }
  const std::lock_guard lock(mutex_);
  const auto it = own_.find(key);
  if (it == own_.end()) throw mqtt::persistence_exception();
  return it->second;
}

void ReceivedQos2Persistence::remove(const mqtt::string& key) {
  if (shared(key)) {
    store_->remove(session_, key);
    return;
  }
  const std::lock_guard lock(mutex_);
  own_.erase(key);
}

}  // namespace mqtt_bridge::detail
