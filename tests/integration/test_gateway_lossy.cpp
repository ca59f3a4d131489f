// End to end over a lossy radio (issue 12): MQTT-SN clients reach the real gateway through
// UdpImpairRelay (10 % loss, 2 % duplication, reordering, jitter; seeded), the gateway talks to a
// real mosquitto. Clients retransmit per §6.13, the gateway per its retry settings; what the
// broker and the clients see must still be complete, in order, and exactly once at QoS 2.
//
// Every case prints its impairment seed; MQTTSN_LOSSY_SEED=<n> replays a case with another one.

#include <doctest/doctest.h>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/broker.hpp"
#include "support/gateway_process.hpp"
#include "support/sn_retry_client.hpp"
#include "support/udp_impair.hpp"
#include "support/udp_rig.hpp"

using namespace std::chrono_literals;
using test_support::Impairment;
using test_support::RetryCounts;
using test_support::RetryingSnClient;
using test_support::RetryPolicy;
using test_support::TestSubscriber;
using test_support::UdpImpairRelay;

namespace {

// 1,000 messages each way, from (or to) four clients at once: each client has one QoS 1/2
// exchange in flight at a time (§6.6), so the clients side by side are what keeps this fast.
constexpr int kClients = 4;
constexpr int kPerClient = 250;
// Short timers on both sides keep a lost datagram cheap (the spec's T_retry is 10..15 s, §7.2).
constexpr RetryPolicy kClientRetry{25ms, 12, 500ms};
constexpr int kGatewayRetryMs = 40;
// 40 attempts: 1.6 s before the gateway gives a client up, enough under ThreadSanitizer's
// slowdown (10 attempts lost a client once in the fresh-machine run's TSan preset).
constexpr int kGatewayRetries = 40;

std::uint32_t seed_or(std::uint32_t fallback) {
  const char* text = std::getenv("MQTTSN_LOSSY_SEED");
  if (text == nullptr || *text == '\0') return fallback;
  return static_cast<std::uint32_t>(std::strtoul(text, nullptr, 10));
}

std::string payload(int client, int index) {
  return "c" + std::to_string(client) + "/" + std::to_string(index);
}

// "c<client>/<index>" -> index, -1 when the payload is not one of ours.
int index_of(const std::string& payload, int client) {
  const std::string prefix = "c" + std::to_string(client) + "/";
  if (!payload.starts_with(prefix)) return -1;
  return std::atoi(payload.c_str() + prefix.size());
}

// One client's stream as it arrived: complete, and in order where first seen; a copy of an earlier
// message is a duplicate (allowed at QoS 1, not at QoS 2).
struct Stream {
  std::size_t distinct = 0;
  std::size_t duplicates = 0;
  bool in_order = true;
  std::string first_problem;
  std::string disorder;  // the first message out of order, with what came before it

  Stream(const std::vector<int>& arrived, int expected) {
    std::set<int> seen;
    int next = 0;
    for (std::size_t pos = 0; pos < arrived.size(); ++pos) {
      const int index = arrived[pos];
      if (index < 0) {
        in_order = false;  // a message on the wrong topic, or not one of ours
        note("a stranger at position " + std::to_string(pos));
        continue;
      }
      if (seen.contains(index)) {
        ++duplicates;
        note("duplicate of " + std::to_string(index) + " at position " + std::to_string(pos));
        continue;
      }
      seen.insert(index);
      if (index != next && in_order) {
        in_order = false;
        disorder = "got " + std::to_string(index) + " where " + std::to_string(next) +
                   " was due, at position " + std::to_string(pos) + " (before: " +
                   around(arrived, pos) + ")";
        note(disorder);
      }
      next = index + 1;
    }
    distinct = seen.size();
    if (distinct != static_cast<std::size_t>(expected)) {
      note(std::to_string(expected - static_cast<int>(distinct)) + " missing");
    }
  }
  static std::string around(const std::vector<int>& arrived, std::size_t pos) {
    std::string text;
    for (std::size_t i = pos > 8 ? pos - 8 : 0; i <= pos && i < arrived.size(); ++i) {
      text += (text.empty() ? "" : " ") + std::to_string(arrived[i]);
    }
    return text;
  }
  void note(const std::string& text) {
    if (first_problem.empty()) first_problem = text;
  }
};

// Waits until `sub` holds `expected` distinct messages (topic and payload). A node's PUBACK means
// the broker has the message, not that the subscriber got it yet; and QoS 1 copies count in
// sub.count(), so a count alone can be reached while the last message is still on its way.
bool wait_for_distinct(TestSubscriber& sub, std::size_t expected, std::chrono::milliseconds timeout) {
  const auto distinct = [&sub] {
    std::set<std::string> seen;
    for (const auto& message : sub.messages()) seen.insert(message.topic + '\n' + message.payload);
    return seen.size();
  };
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (distinct() < expected) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    static_cast<void>(sub.wait_for(sub.count() + 1, 50ms));
  }
  return true;
}

struct ClientRun {
  bool connected = false;
  bool set_up = false;  // registered or subscribed
  int done = 0;         // messages published (or received, distinct)
  std::vector<int> arrived;
  RetryCounts counts;
};

std::string describe(const RetryCounts& c) {
  std::ostringstream out;
  out << c.requests << " requests, " << c.retransmissions << " retransmissions (register "
      << c.register_retransmissions << ", subscribe " << c.subscribe_retransmissions << ", publish "
      << c.publish_retransmissions << ", pingreq " << c.pingreq_retransmissions << "), "
      << c.dup_publishes_in << " DUP PUBLISH in, " << c.qos2_duplicates_in
      << " QoS 2 copies not delivered again, " << c.stray_replies << " stray replies";
  return out.str();
}

// A broker, the gateway (short T_retry) and the impairing relay in front of it.
struct LossyRig {
  test_support::UdpRig rig;
  UdpImpairRelay relay;

  explicit LossyRig(std::uint32_t seed, Impairment impairment = {})
      : rig([] {
          test_support::GatewayOptions options;
          options.retry_interval_ms = kGatewayRetryMs;
          options.retry_max_attempts = kGatewayRetries;
          options.log_level = "info";  // the checks read only its "stats:" line (SIGUSR1)
          return options;
        }(),
            // mosquitto 2.0.11 with its default window of 20 unacknowledged messages per client
            // let a new message overtake older ones still queued for the window (its log: m141
            // sent before m85 on one topic, right after a PUBACK), against MQTT-4.6.0-6, when
            // acknowledgements came back out of order: the native client in aggregating mode
            // acknowledges each message when its MQTT-SN client did. No window, no queue, no
            // overtaking; any reordering left is the gateway's. (That window also lets one
            // sleeper stall everyone in that mode: test_gateway_udp.cpp pins it.)
            {"max_inflight_messages 0"}),
        relay(rig.gateway.port(), [&] {
          impairment.seed = seed;
          return impairment;
        }()) {
    MESSAGE("mode " << rig.gateway_mode << ", client " << test_support::default_client()
                    << ", impairment seed " << seed << " (MQTTSN_LOSSY_SEED replays another)");
  }
  ~LossyRig() { MESSAGE(relay.summary()); }

  std::string uri() const { return rig.broker.uri(); }

  // The gateway's counters (SIGUSR1 writes them to its log as "stats: name=value ...").
  std::map<std::string, std::uint64_t> gateway_stats() {
    const auto lines = [this] {
      std::size_t n = 0;
      const std::string log = rig.gateway.log();
      for (auto at = log.find("stats: "); at != std::string::npos; at = log.find("stats: ", at + 1)) ++n;
      return n;
    };
    const std::size_t before = lines();
    rig.gateway.signal(SIGUSR1);
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (lines() == before && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);  // the log gives no other signal
    }
    std::map<std::string, std::uint64_t> stats;
    const std::string log = rig.gateway.log();
    const auto at = log.rfind("stats: ");
    if (at == std::string::npos) return stats;
    std::istringstream line(log.substr(at + 7, log.find('\n', at) - at - 7));
    for (std::string item; line >> item;) {
      const auto eq = item.find('=');
      if (eq != std::string::npos) stats[item.substr(0, eq)] = std::stoull(item.substr(eq + 1));
    }
    MESSAGE("gateway " << log.substr(at, log.find('\n', at) - at));
    return stats;
  }
};

// One of the gateway's counters; a missing one fails the check rather than reading as 0.
std::uint64_t stat(const std::map<std::string, std::uint64_t>& stats, const std::string& name) {
  const auto it = stats.find(name);
  CHECK_MESSAGE(it != stats.end(), "the gateway's stats have no " << name);
  return it == stats.end() ? 0 : it->second;
}

sn::QoS qos_of(int qos) { return qos == 2 ? sn::QoS::qos2 : sn::QoS::qos1; }

// kClients nodes each publish kPerClient messages on their own topic; an MQTT subscriber on the
// broker checks what arrived.
void uplink(int qos, std::uint32_t seed) {
  LossyRig lossy(seed);
  TestSubscriber sub(lossy.uri(), "lossy/up/#", 2);
  std::vector<ClientRun> runs(kClients);
  {
    std::vector<std::thread> nodes;
    for (int i = 0; i < kClients; ++i) {
      nodes.emplace_back([&lossy, &run = runs[static_cast<std::size_t>(i)], i, qos] {
        RetryingSnClient node(lossy.relay.port(), kClientRetry);
        run.connected = node.connect("lossy-up-" + std::to_string(i), 60, true) ==
                        sn::ReturnCode::accepted;
        const auto topic = run.connected ? node.register_topic("lossy/up/" + std::to_string(i))
                                         : std::nullopt;
        run.set_up = topic.has_value();
        for (int k = 0; run.set_up && k < kPerClient; ++k) {
          if (!node.publish(*topic, payload(i, k), qos_of(qos))) break;
          ++run.done;
        }
        run.counts = node.counts();
      });
    }
    for (auto& node : nodes) node.join();
  }
  const std::size_t total = kClients * kPerClient;
  // Every node has its acknowledgements, so the broker has every message; the subscriber may
  // still be receiving.
  static_cast<void>(wait_for_distinct(sub, total, 10s));
  // A late copy (held back by the radio) would come within the relay's hold time.
  if (qos == 2) static_cast<void>(sub.wait_for(sub.count() + 1, 500ms));
  std::vector<std::vector<int>> arrived(kClients);
  for (const auto& message : sub.messages()) {
    for (int i = 0; i < kClients; ++i) {
      if (message.topic == "lossy/up/" + std::to_string(i)) {
        arrived[static_cast<std::size_t>(i)].push_back(index_of(message.payload, i));
      }
    }
  }
  std::uint64_t publish_retransmissions = 0;
  for (int i = 0; i < kClients; ++i) {
    const ClientRun& run = runs[static_cast<std::size_t>(i)];
    const Stream stream(arrived[static_cast<std::size_t>(i)], kPerClient);
    INFO("client " << i << ": " << describe(run.counts) << "; at the broker: " << stream.distinct
                   << " distinct, " << stream.duplicates << " duplicates; "
                   << stream.first_problem << "; " << stream.disorder);
    MESSAGE("client " << i << ": " << describe(run.counts) << "; at the broker " << stream.distinct
                      << " distinct, " << stream.duplicates << " duplicates");
    CHECK(run.connected);
    CHECK(run.set_up);
    CHECK(run.done == kPerClient);
    CHECK(stream.distinct == kPerClient);
    CHECK(stream.in_order);
    if (qos == 2) {
      // DESIGN.md: "QoS 2 uplink: exactly one copy reaches the broker even if the radio
      // duplicates or reorders", a copy held back past its PUBREL included (the case "... not
      // forwarded again" below pins that one).
      CHECK_MESSAGE(stream.duplicates == 0,
                    "seed " << seed << ": " << stream.duplicates << " duplicate(s) at the broker");
    }
    publish_retransmissions += run.counts.publish_retransmissions;
  }
  CHECK(publish_retransmissions > 0);
  // Every retransmitted or duplicated PUBLISH that got through counts as one more in.
  const auto stats = lossy.gateway_stats();
  const std::string in = "messages/in/qos" + std::to_string(qos);
  CHECK(stat(stats, in) > total);
  // The copies the gateway recognised (a QoS 2 PUBLISH again before or after its PUBREL).
  if (qos == 2) CHECK(stat(stats, "duplicates/in") > 0);
  CHECK(stat(stats, "clients/lost_total") == 0);
}

// An MQTT client publishes kPerClient messages to each of kClients nodes' topics; the nodes check
// what arrived.
void downlink(int qos, std::uint32_t seed) {
  LossyRig lossy(seed);
  std::vector<ClientRun> runs(kClients);
  std::atomic<int> subscribed{0};
  std::atomic<int> complete{0};  // nodes that have their share (or never will)
  std::vector<std::thread> nodes;
  for (int i = 0; i < kClients; ++i) {
    nodes.emplace_back([&, &run = runs[static_cast<std::size_t>(i)], i] {
      RetryingSnClient node(lossy.relay.port(), kClientRetry);
      const std::string topic = "lossy/down/" + std::to_string(i);
      run.connected = node.connect("lossy-down-" + std::to_string(i), 60, true) ==
                      sn::ReturnCode::accepted;
      if (run.connected) {
        const auto suback = node.subscribe(topic, qos_of(qos));
        run.set_up = suback && suback->return_code == sn::ReturnCode::accepted;
      }
      ++subscribed;
      std::set<int> distinct;
      const auto take = [&] {
        for (auto& delivery : node.deliveries()) {
          const int index = delivery.topic == topic ? index_of(delivery.payload, i) : -1;
          run.arrived.push_back(index);
          distinct.insert(index);
        }
        node.deliveries().clear();
        return distinct.size() >= static_cast<std::size_t>(kPerClient);
      };
      if (run.set_up) node.serve(20s, take);
      ++complete;
      if (run.set_up) {
        // Stay on the air until every node has its share: the last exchanges (PUBREL, PUBCOMP)
        // finish, and a late copy of anything would show up here.
        node.serve(20s, [&] { return complete.load() == kClients; });
        node.serve(300ms);
        take();
      }
      run.done = static_cast<int>(distinct.size());
      run.counts = node.counts();
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (subscribed.load() < kClients && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);  // the nodes' threads give no other signal
  }
  {
    TestSubscriber publisher(lossy.uri(), "lossy/unused", 2);
    for (int k = 0; k < kPerClient; ++k) {
      for (int i = 0; i < kClients; ++i) {
        publisher.publish("lossy/down/" + std::to_string(i), payload(i, k), qos);
      }
    }
  }
  for (auto& node : nodes) node.join();
  std::uint64_t dup_in = 0;
  for (int i = 0; i < kClients; ++i) {
    const ClientRun& run = runs[static_cast<std::size_t>(i)];
    const Stream stream(run.arrived, kPerClient);
    INFO("client " << i << ": " << describe(run.counts) << "; delivered " << stream.distinct
                   << " distinct, " << stream.duplicates << " duplicates; "
                   << stream.first_problem << "; " << stream.disorder);
    MESSAGE("client " << i << ": " << describe(run.counts) << "; delivered " << stream.distinct
                      << " distinct, " << stream.duplicates << " duplicates");
    CHECK(run.connected);
    CHECK(run.set_up);
    CHECK(stream.distinct == kPerClient);
    CHECK(stream.in_order);
    if (qos == 2) CHECK(stream.duplicates == 0);
    dup_in += run.counts.dup_publishes_in;
  }
  // The gateway's retransmissions (§6.13: PUBLISH again with DUP after T_retry) as the clients
  // saw them, and as its statistics count them.
  CHECK(dup_in > 0);
  const auto stats = lossy.gateway_stats();
  CHECK(stat(stats, "retransmissions/out") >= dup_in);
  const std::string out = "messages/out/qos" + std::to_string(qos);
  CHECK(stat(stats, out) >= static_cast<std::uint64_t>(kClients * kPerClient));
  CHECK(stat(stats, "clients/lost_total") == 0);
}

// A node subscribes, sleeps (§6.14), messages arrive for it, and it wakes until it has them all.
// CleanSession=true: the gateway buffers them. CleanSession=false in transparent mode: the gateway
// closes the node's broker connection while it sleeps (sleep.release_upstream), and the wake-up
// opens it again and fetches the broker's backlog before the flush.
void sleeper(bool clean_session, std::uint32_t seed) {
  LossyRig lossy(seed);
  constexpr int kBuffered = 60;  // within sleep.max_buffered_messages (100)
  const std::string id = clean_session ? "lossy-sleeper" : "lossy-sleeper-kept";
  RetryingSnClient node(lossy.relay.port(), kClientRetry);
  REQUIRE(node.connect(id, 60, clean_session) == sn::ReturnCode::accepted);
  const auto suback = node.subscribe("lossy/sleep", sn::QoS::qos2);
  REQUIRE(suback.has_value());
  REQUIRE(suback->return_code == sn::ReturnCode::accepted);
  REQUIRE(node.sleep(20));
  {
    // QoS 1 and 2 alternately while it sleeps.
    TestSubscriber publisher(lossy.uri(), "lossy/unused", 2);
    for (int k = 0; k < kBuffered; ++k) publisher.publish("lossy/sleep", payload(0, k), 1 + k % 2);
  }
  // Order holds per QoS: the broker (and Paho, which hands a QoS 2 message over at PUBREL) may let
  // a QoS 1 message overtake a QoS 2 one (MQTT 3.1.1 §4.6 orders messages of one QoS).
  std::vector<int> arrived[2];  // [0]: the QoS 1 ones (even k, as k / 2), [1]: QoS 2 (odd k)
  std::set<int> distinct;
  int wakes = 0;
  int pingresps = 0;
  // Until it has them all and the gateway closed a flush with PINGRESP (§6.14); a wake-up whose
  // PINGRESP the radio lost (or that outlasted the client's patience) is followed by another.
  for (; wakes < 20 && (distinct.size() < static_cast<std::size_t>(kBuffered) || pingresps == 0);
       ++wakes) {
    if (wakes > 0) std::this_thread::sleep_for(100ms);  // asleep between wake-ups, as a sensor is
    if (node.wake(id)) ++pingresps;
    for (const auto& delivery : node.deliveries()) {
      const int index = delivery.topic == "lossy/sleep" ? index_of(delivery.payload, 0) : -1;
      const bool qos2 = delivery.qos == sn::QoS::qos2;
      arrived[qos2 ? 1 : 0].push_back(index >= 0 && index % 2 == (qos2 ? 1 : 0) ? index / 2 : -1);
      distinct.insert(index);
    }
    node.deliveries().clear();
  }
  const Stream qos1(arrived[0], kBuffered / 2);
  const Stream qos2(arrived[1], kBuffered / 2);
  INFO(describe(node.counts()) << "; " << wakes << " wake-up(s), " << pingresps
                               << " PINGRESP; QoS 1: " << qos1.first_problem << "; "
                               << qos1.disorder << "; QoS 2: " << qos2.first_problem << "; "
                               << qos2.disorder);
  MESSAGE(describe(node.counts()) << "; " << wakes << " wake-up(s), " << pingresps
                                  << " PINGRESP, " << qos1.duplicates
                                  << " duplicates at QoS 1, " << qos2.duplicates << " at QoS 2");
  CHECK(distinct.size() == kBuffered);
  CHECK(qos1.distinct == kBuffered / 2);
  CHECK(qos1.in_order);
  CHECK(qos2.distinct == kBuffered / 2);
  CHECK(qos2.in_order);
  CHECK(qos2.duplicates == 0);
  CHECK(pingresps >= 1);
  const auto stats = lossy.gateway_stats();
  CHECK(stat(stats, "clients/lost_total") == 0);
  CHECK(stat(stats, "drops/sleep_buffer") == 0);
  if (!clean_session && lossy.rig.gateway_mode == "transparent") {
    CHECK(stat(stats, "sleep/upstream_released") >= 1);
    CHECK(stat(stats, "sleep/upstream_resumed") >= 1);
  }
}

}  // namespace

TEST_CASE("gateway: lossy radio §6.6 §6.13: 1000 QoS 1 messages uplink arrive at least once "
          "and in order per client") {
  uplink(1, seed_or(1201));
}

TEST_CASE("gateway: lossy radio §6.10 §6.13: 1000 QoS 1 messages downlink arrive at least once "
          "and in order per client") {
  downlink(1, seed_or(1202));
}

TEST_CASE("gateway: lossy radio §6.6 §6.13: 1000 QoS 2 messages uplink arrive exactly once") {
  uplink(2, seed_or(1203));
}

TEST_CASE("gateway: lossy radio §6.10 §6.13: 1000 QoS 2 messages downlink arrive exactly once") {
  downlink(2, seed_or(1204));
}

TEST_CASE("gateway: lossy radio §6.14: a sleeper wakes and gets its buffer through the loss") {
  sleeper(true, seed_or(1205));
}

TEST_CASE("gateway: lossy radio §6.14: a CleanSession=false sleeper wakes and gets its messages "
          "through the loss") {
  sleeper(false, seed_or(1207));
}

TEST_CASE("gateway: lossy radio §6.5 §6.9 §6.13: REGISTER and SUBSCRIBE survive retransmission") {
  const std::uint32_t seed = seed_or(1206);
  LossyRig lossy(seed);
  constexpr int kTopics = 40;
  RetryingSnClient node(lossy.relay.port(), kClientRetry);
  REQUIRE(node.connect("lossy-registrar", 60, true) == sn::ReturnCode::accepted);
  std::vector<std::uint16_t> ids;
  for (int k = 0; k < kTopics; ++k) {
    const auto id = node.register_topic("lossy/reg/" + std::to_string(k));
    REQUIRE_MESSAGE(id.has_value(), "REGISTER " << k);
    ids.push_back(*id);
  }
  CHECK(std::set<std::uint16_t>(ids.begin(), ids.end()).size() == kTopics);
  // A name registered again keeps its id (§6.5), however many copies of the first REGISTER came.
  CHECK(node.register_topic("lossy/reg/0") == ids[0]);
  for (int k = 0; k < kTopics; ++k) {
    const auto suback = node.subscribe("lossy/sub/" + std::to_string(k), sn::QoS::qos1);
    REQUIRE_MESSAGE(suback.has_value(), "SUBSCRIBE " << k);
    CHECK(suback->return_code == sn::ReturnCode::accepted);
    CHECK(suback->topic_id != 0);
  }
  // The registrations work: each id publishes to its own name.
  TestSubscriber sub(lossy.uri(), "lossy/reg/#", 1);
  for (int k = 0; k < kTopics; ++k) {
    CHECK(node.publish(ids[static_cast<std::size_t>(k)], "r" + std::to_string(k), sn::QoS::qos1));
  }
  CHECK(wait_for_distinct(sub, kTopics, 10s));
  std::set<int> reg_ok;
  for (const auto& message : sub.messages()) {
    CHECK(message.topic == "lossy/reg/" + message.payload.substr(1));
    reg_ok.insert(std::atoi(message.payload.c_str() + 1));
  }
  CHECK(reg_ok.size() == kTopics);
  // The subscriptions work: each topic reaches the node under its own name.
  for (int k = 0; k < kTopics; ++k) sub.publish("lossy/sub/" + std::to_string(k), "s" + std::to_string(k), 1);
  std::set<int> sub_ok;
  node.serve(10s, [&] {
    for (const auto& delivery : node.deliveries()) {
      CHECK(delivery.topic == "lossy/sub/" + delivery.payload.substr(1));
      sub_ok.insert(std::atoi(delivery.payload.c_str() + 1));
    }
    node.deliveries().clear();
    return sub_ok.size() == kTopics;
  });
  CHECK(sub_ok.size() == kTopics);
  const RetryCounts& counts = node.counts();
  MESSAGE(describe(counts));
  CHECK(counts.register_retransmissions > 0);
  CHECK(counts.subscribe_retransmissions > 0);
  const auto stats = lossy.gateway_stats();
  CHECK(stat(stats, "clients/lost_total") == 0);
}

// What the QoS 2 uplink case above runs into, without the luck of the draw: the radio holds back a
// copy of a QoS 2 PUBLISH (the client's retransmission, or a duplicate) until after the exchange
// ended with PUBREL / PUBCOMP. The gateway has forgotten the message id by then and forwards the
// copy as a new message. DESIGN.md promises "exactly one copy reaches the broker even if the radio
// duplicates or reorders"; a client has one QoS 2 exchange open at a time (§6.6), so a copy with
// DUP set and the id of the exchange just completed cannot be a new message.
TEST_CASE("gateway: lossy radio §6.6: a QoS 2 PUBLISH that arrives again after its PUBREL is "
          "not forwarded again") {
  test_support::UdpRig rig;
  TestSubscriber sub(rig.broker.uri(), "lossy/late", 2);
  auto node = rig.client();
  REQUIRE(node.connect("lossy-late", 60, true) == sn::ReturnCode::accepted);
  const auto topic = node.register_topic("lossy/late");
  REQUIRE(topic.has_value());
  sn::Publish publish{false, sn::QoS::qos2, false, sn::TopicIdType::normal, *topic, 0x0700,
                      test_support::bytes("once")};
  node.send(publish);
  REQUIRE(node.expect<sn::PubRec>(5s).has_value());
  node.send(sn::PubRel{publish.msg_id});
  REQUIRE(node.expect<sn::PubComp>(5s).has_value());
  publish.dup = true;  // the retransmission the radio held back
  node.send(publish);
  CHECK(node.publish(sn::TopicIdType::normal, *topic, test_support::bytes("after"), sn::QoS::qos1,
                     false));
  // "once", "after", and (the bug) "once" again, in any order (Paho hands QoS 2 over at PUBREL).
  static_cast<void>(sub.wait_for(3, 2s));
  int once = 0;
  for (const auto& message : sub.messages()) once += message.payload == "once" ? 1 : 0;
  CHECK_MESSAGE(once == 1, "a late QoS 2 copy reached the broker " << once << " times");
}
