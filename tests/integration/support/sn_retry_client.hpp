#pragma once
// An MQTT-SN sensor node for lossy links: every request that expects the gateway's reply is
// supervised by T_retry and retransmitted up to N_retry times (§6.13), replies are matched by
// message id (a late or duplicated reply to an earlier request is ignored), and what the gateway
// sends is answered as a client must (§6.10) and delivered QoS 2 exactly once. Built on
// sn_tools::SnUdpClient's socket; one thread per client; every wait is bounded.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "sn_client.hpp"
#include "sn_protocol/packet.hpp"

namespace test_support {

struct RetryPolicy {
  std::chrono::milliseconds t_retry{25};
  int n_retry = 12;
  // T_retry of CONNECT: the gateway answers only once the broker took the connection (transparent
  // mode), which with Paho takes about 2 s on loopback. The gateway ignores a CONNECT repeated
  // meanwhile, so retransmitting at t_retry would only flood the link.
  std::chrono::milliseconds connect_t_retry{500};
};

struct RetryCounts {
  std::uint64_t requests = 0;         // first transmissions of supervised requests
  std::uint64_t retransmissions = 0;  // all of them
  std::uint64_t register_retransmissions = 0;
  std::uint64_t subscribe_retransmissions = 0;
  std::uint64_t publish_retransmissions = 0;  // PUBLISH (with DUP) and PUBREL
  std::uint64_t pingreq_retransmissions = 0;
  std::uint64_t dup_publishes_in = 0;     // PUBLISH from the gateway with DUP set
  std::uint64_t qos2_duplicates_in = 0;   // QoS 2 copies not delivered again
  std::uint64_t stray_replies = 0;        // replies matching no request under way
};

struct Delivery {
  std::string topic;  // empty when the topic id was unknown (then it was answered as §6.10 says)
  std::string payload;
  sn::QoS qos;
  bool dup;
};

class RetryingSnClient {
 public:
  // Towards 127.0.0.1:port (the gateway, or a relay in front of it).
  RetryingSnClient(std::uint16_t port, RetryPolicy policy = {});

  // CONNECT (no will) until CONNACK; its return code, or nothing after N_retry.
  std::optional<sn::ReturnCode> connect(const std::string& client_id, std::uint16_t keep_alive_s,
                                        bool clean_session);
  std::optional<std::uint16_t> register_topic(const std::string& name);
  std::optional<sn::SubAck> subscribe(const std::string& filter, sn::QoS qos);
  // QoS 1: until PUBACK accepted; QoS 2: until PUBREC, then PUBREL until PUBCOMP (§6.6). A PUBACK
  // "congestion" is answered by the retransmission after T_retry.
  bool publish(std::uint16_t topic_id, const std::string& payload, sn::QoS qos);
  // DISCONNECT with a duration until the gateway's DISCONNECT (§6.14).
  bool sleep(std::uint16_t duration_s);
  // PINGREQ with the client id, then the buffered messages until PINGRESP; T_retry restarts with
  // every other message and PINGREQ goes again when it runs out (§6.14). False: no PINGRESP.
  bool wake(const std::string& client_id);
  // Serves the link (answering and delivering) for `time`, or until `until` holds.
  void serve(std::chrono::milliseconds time, const std::function<bool()>& until = {});

  // Delivered messages not taken yet, in arrival order.
  std::deque<Delivery>& deliveries() { return deliveries_; }
  const RetryCounts& counts() const { return counts_; }

 private:
  // Sends `request` and waits for a frame `is_reply` accepts, retransmitting `again` (`request`
  // when empty) after every T_retry (`t_retry`, else the policy's). `retransmitted` counts them
  // by kind.
  std::optional<sn::Packet> exchange(const sn::Message& request,
                                     const std::function<bool(const sn::Packet&)>& is_reply,
                                     std::uint64_t RetryCounts::*retransmitted,
                                     std::optional<sn::Message> again = std::nullopt,
                                     std::optional<std::chrono::milliseconds> t_retry = {});
  // A frame that is no reply to the request under way.
  void handle(sn::Packet&& packet);
  std::uint16_t next_msg_id();

  sn_tools::SnUdpClient link_;
  RetryPolicy policy_;
  std::uint16_t msg_id_ = 0;
  std::map<std::uint16_t, std::string> topics_;  // from REGISTER and SUBACK
  std::set<std::uint16_t> qos2_unreleased_;      // delivered, PUBREL not seen yet
  // The last completed QoS 2 ids: a copy that arrives after its PUBREL (held back by the radio)
  // is not a new message. The gateway's ids only come round again after 65535 others.
  std::deque<std::uint16_t> qos2_released_;
  std::deque<Delivery> deliveries_;
  RetryCounts counts_;
};

}  // namespace test_support
