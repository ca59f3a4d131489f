#pragma once
// Paho's persistence interface, kept in memory and shared by every connection of one ClientId
// within the gateway process, for one thing only: the QoS 2 messages a CleanSession=false
// connection received and answered PUBREC, whose PUBREL has not come yet.
//
// Why: Paho C delivers an incoming QoS 2 message at its PUBREL (MQTT 3.1.1 §4.3.3, method B).
// When the gateway closes such a connection between the PUBREC and the PUBREL (a sleeper's
// connection released, §6.14; a will update; a reconnect), the broker's session holds "PUBREC
// received" and sends only the PUBREL on the next connection of that ClientId. Without the
// message in persistence the next Paho client answers PUBCOMP and delivers nothing: the message
// is lost (the soak bench lost one in about 20,000 downlink QoS 2 messages this way). With it,
// the next client restores the message at creation and delivers it at the PUBREL.
//
// Everything else Paho persists (its queued commands, the messages it sends) stays with the
// client that wrote it and goes with it: those are the gateway core's to repeat or refuse, never
// a later Paho client's to send again by itself. (Paho reads them back during the client's life,
// so they must be kept that long.) Shared keys: Paho's "r-" and "r5-" (PUBLISH received, MQTT
// 3.1.1 / 5).
//
// Threads: Paho calls from its own threads, for several clients at once: one mutex.

#include <mqtt/iclient_persistence.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace mqtt_bridge::detail {

class ReceivedQos2Store {
 public:
  // What one ClientId at one server has.
  using Entries = std::map<std::string, std::string>;

  void put(const std::string& session, const std::string& key, std::string data);
  bool get(const std::string& session, const std::string& key, std::string& out) const;
  bool contains(const std::string& session, const std::string& key) const;
  std::vector<std::string> keys(const std::string& session) const;
  void remove(const std::string& session, const std::string& key);
  void clear(const std::string& session);
  std::size_t size() const;  // entries over all sessions

 private:
  mutable std::mutex mutex_;
  std::map<std::string, Entries> sessions_;
};

// One Paho client's view of the store (Paho keeps the pointer until the client is destroyed).
class ReceivedQos2Persistence final : public mqtt::iclient_persistence {
 public:
  explicit ReceivedQos2Persistence(std::shared_ptr<ReceivedQos2Store> store)
      : store_(std::move(store)) {}

  void open(const mqtt::string& client_id, const mqtt::string& server_uri) override;
  void close() override {}
  void clear() override;
  bool contains_key(const mqtt::string& key) override;
  mqtt::string_collection keys() const override;
  void put(const mqtt::string& key, const std::vector<mqtt::string_view>& bufs) override;
  mqtt::string get(const mqtt::string& key) const override;
  void remove(const mqtt::string& key) override;

  // The keys shared with the next client: PUBLISH received (Paho C MQTTPersistence.h "r-",
  // "r5-").
  static bool shared(const mqtt::string& key) { return !key.empty() && key[0] == 'r'; }

 private:
  std::shared_ptr<ReceivedQos2Store> store_;
  std::string session_;  // client id + '\n' + server URI
  mutable std::mutex mutex_;
  std::map<std::string, std::string> own_;  // this client's other keys (guarded)
};

}  // namespace mqtt_bridge::detail
