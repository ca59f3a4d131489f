// The gateway core with persistence (CoreConfig::persistent): which sessions it hands to the
// store, what their records hold, and a core started again on those records. No file here: the
// records go from one Core to the next as the app's store would carry them.

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core_fixture.hpp"

using namespace core_test;  // NOLINT(google-build-using-namespace)

namespace {

CoreConfig persistent_config(Mode mode = Mode::transparent) {
  CoreConfig config = default_config();
  config.persistent = true;
  config.mode = mode;
  return config;
}

const SessionRecord* saved(const SessionChanges& changes, const std::string& client_id) {
  const auto it = std::find_if(changes.saved.begin(), changes.saved.end(),
                               [&](const SessionRecord& r) { return r.client_id == client_id; });
  return it == changes.saved.end() ? nullptr : &*it;
}

bool removed(const SessionChanges& changes, const std::string& client_id) {
  return std::find(changes.removed.begin(), changes.removed.end(), client_id) !=
         changes.removed.end();
}

// The record of `client_id` after everything so far (REQUIREd to be there).
SessionRecord record(CoreFixture& f, const std::string& client_id) {
  const SessionChanges changes = f.changes();
  const SessionRecord* r = saved(changes, client_id);
  REQUIRE(r != nullptr);
  return *r;
}

sn::Publish down(sn::QoS qos, std::uint16_t topic_id, std::uint16_t msg_id, std::string_view data,
                 bool dup = false) {
  return publish_msg(qos, sn::TopicIdType::normal, topic_id, msg_id, data, false, dup);
}

}  // namespace

TEST_CASE("core: persistence §6.3 only CleanSession=false sessions go to the store, once accepted") {
  CoreFixture f{persistent_config()};
  const auto a = udp(5001);
  const auto b = udp(5002);
  f.connect(a, "clean", 60, /*clean=*/true);
  f.feed(b, connect_msg("kept", 60, /*clean=*/false));
  // Not accepted yet (the broker has not answered): nothing to keep.
  CHECK(f.changes().saved.empty());
  f.event(UpstreamConnected{f.connect_conn()});
  const SessionChanges changes = f.changes();
  CHECK(saved(changes, "clean") == nullptr);
  REQUIRE(saved(changes, "kept") != nullptr);
  CHECK(saved(changes, "kept")->status == SessionRecord::Status::lost);  // connected when taken
  CHECK(saved(changes, "kept")->keep_alive_s == 60);
  // Nothing happened since: nothing to hand out.
  CHECK(f.changes().saved.empty());
}

TEST_CASE("core: persistence §6.5 a REGISTER is in the record handed out with the REGACK") {
  CoreFixture f{persistent_config()};
  const auto c = udp(5001);
  f.connect(c, "node-1", 60, false);
  f.changes();
  const auto id = f.register_topic(c, "up/temp", 10);
  const SessionRecord r = record(f, "node-1");
  REQUIRE(r.topics.size() == 1);
  CHECK(r.topics[0].first == id);
  CHECK(r.topics[0].second == "up/temp");
}

TEST_CASE("core: persistence §6.3 a session ended or made clean is removed from the store") {
  CoreFixture f{persistent_config()};
  const auto c = udp(5001);
  f.connect(c, "node-1", 60, false);
  CHECK(saved(f.changes(), "node-1") != nullptr);
  // DISCONNECT: kept (CleanSession=false), as disconnected.
  f.feed(c, sn::Disconnect{});
  const SessionRecord away = record(f, "node-1");
  CHECK(away.status == SessionRecord::Status::disconnected);
  // Back with CleanSession=true: §6.3 the old session is gone, and so is its record.
  f.connect(c, "node-1", 60, true);
  CHECK(removed(f.changes(), "node-1"));
}

TEST_CASE("core: persistence a CleanSession=false client's downlink copy is acknowledged to the "
          "broker in the same call - a CleanSession=true client's waits for its PUBACK") {
  CoreFixture f{persistent_config()};
  const auto kept = udp(5001);
  const auto clean = udp(5002);
  const ConnId kept_conn = f.connect(kept, "kept", 60, false);
  const ConnId clean_conn = f.connect(clean, "clean", 60, true);
  f.feed(kept, subscribe_name(1, "d/#"));
  f.event(UpstreamSubscribeDone{kept_conn, f.req_of<UpstreamSubscribe>(), true, 1});
  f.feed(clean, subscribe_name(1, "d/#"));
  f.event(UpstreamSubscribeDone{clean_conn, f.req_of<UpstreamSubscribe>(), true, 1});

  // The app writes the record before it executes the acknowledgement.
  f.event(UpstreamMessage{kept_conn, "d/1", bytes("x"), 1, false, 41});
  CHECK(f.upstream<UpstreamAck>().size() == 1);
  const SessionRecord r = record(f, "kept");
  REQUIRE(r.queue.size() == 1);
  CHECK(r.queue[0].topic == "d/1");
  REQUIRE(r.inflight.has_value());
  CHECK(r.inflight->kind == InFlight::Kind::reg);  // the topic id goes first (§6.10)

  f.event(UpstreamMessage{clean_conn, "d/1", bytes("y"), 1, false, 42});
  CHECK(f.upstream<UpstreamAck>().empty());
}

TEST_CASE("core: persistence §6.5 §6.6 a restored session - its topic ids work without REGISTER, "
          "a QoS 2 PUBLISH at the broker before the restart is not forwarded again") {
  const auto c = udp(5001);
  SessionRecord r;
  std::uint16_t topic = 0;
  {
    CoreFixture f{persistent_config()};
    const ConnId conn = f.connect(c, "node-1", 60, false);
    topic = f.register_topic(c, "up/temp", 10);
    f.feed(c, down(sn::QoS::qos2, topic, 20, "once"));
    f.event(UpstreamPublishDone{conn, f.req_of<UpstreamPublish>(), true});
    REQUIRE(show(f.last()) == show({to(c, sn::PubRec{20})}));
    r = record(f, "node-1");
  }
  CHECK(r.qos2_received.size() == 1);

  // The gateway process is gone; a new one starts on the record.
  CoreFixture g{persistent_config(), {r}, Time{100000}};
  CHECK(g.sessions() == 1);
  // The client's next frame finds no connection (§6.12); it connects again, CleanSession=false.
  CHECK(show(g.feed(c, sn::PingReq{})) == show({to(c, sn::Disconnect{})}));
  g.feed(c, connect_msg("node-1", 60, false));
  const auto up = g.upstream<UpstreamConnect>();
  REQUIRE(up.size() == 1);
  CHECK_FALSE(up[0].clean_session);
  g.event(UpstreamConnected{up[0].conn, true});
  // The PUBLISH again (its PUBREC was lost): PUBREC, nothing upstream.
  CHECK(show(g.feed(c, down(sn::QoS::qos2, topic, 20, "once", true))) ==
        show({to(c, sn::PubRec{20})}));
  // PUBREL: PUBCOMP, nothing upstream.
  CHECK(show(g.feed(c, sn::PubRel{20})) == show({to(c, sn::PubComp{20})}));
  // The topic id registered before the restart still names the topic.
  g.feed(c, down(sn::QoS::qos1, topic, 21, "again"));
  const auto pubs = g.upstream<UpstreamPublish>();
  REQUIRE(pubs.size() == 1);
  CHECK(pubs[0].topic == "up/temp");
}

TEST_CASE("core: persistence §6.14 a sleeper restored asleep gets its buffered messages when it "
          "wakes - transparent mode reconnects it upstream with CleanSession=false") {
  const auto c = udp(5001);
  SessionRecord r;
  {
    // The connection stays open while it sleeps, so the gateway buffers what comes.
    CoreConfig config = persistent_config();
    config.release_sleeper_upstream = false;
    CoreFixture g{config};
    g.qos_minus_one_up();
    const ConnId conn = g.connect(c, "node-1", 60, false);
    g.feed(c, subscribe_name(1, "d/#"));
    g.event(UpstreamSubscribeDone{conn, g.req_of<UpstreamSubscribe>(), true, 1});
    g.feed(c, sn::Disconnect{600});
    // Buffered for the next wake-up (§6.14).
    g.event(UpstreamMessage{conn, "d/1", bytes("buffered"), 1, false, 0});
    r = record(g, "node-1");
  }
  CHECK(r.status == SessionRecord::Status::asleep);
  CHECK(r.sleep_s == 600);
  REQUIRE(r.queue.size() == 1);

  CoreFixture g{persistent_config(), {r}, Time{50000}};
  g.qos_minus_one_up();
  // The wake-up (§6.14): the released connection opens again, the buffer goes out.
  g.feed(c, sn::PingReq{"node-1"});
  const auto up = g.upstream<UpstreamConnect>();
  REQUIRE(up.size() == 1);
  CHECK_FALSE(up[0].clean_session);
  const auto frames = g.sent_to(c);
  REQUIRE(frames.size() == 1);
  const auto* reg = std::get_if<sn::Register>(&frames[0]);
  REQUIRE(reg != nullptr);
  CHECK(reg->topic_name == "d/1");
  g.feed(c, sn::RegAck{reg->topic_id, reg->msg_id, sn::ReturnCode::accepted});
  const auto publish = g.sent_to(c);
  REQUIRE(publish.size() == 1);
  const auto* p = std::get_if<sn::Publish>(&publish[0]);
  REQUIRE(p != nullptr);
  CHECK(std::string(p->data.begin(), p->data.end()) == "buffered");
}

TEST_CASE("core: persistence §6.14 a sleeper restored asleep that never wakes is lost at the end "
          "of its sleep - its will is published by the gateway") {
  SessionRecord r;
  r.client_id = "node-1";
  r.peer = udp(5001);
  r.status = SessionRecord::Status::asleep;
  r.sleep_s = 60;
  r.will = Will{"status/node-1", bytes("gone"), 1, true};
  CoreFixture g{persistent_config(), {r}, Time{0}};
  g.qos_minus_one_up();
  g.advance(65s);  // 60 s + 10 % (§7.2) has not passed
  CHECK(g.upstream<UpstreamPublish>().empty());
  g.advance(2s);
  const auto wills = g.upstream<UpstreamPublish>();
  REQUIRE(wills.size() == 1);
  CHECK(wills[0].topic == "status/node-1");
  CHECK(wills[0].qos == 1);
  CHECK(wills[0].retain);
}

TEST_CASE("core: persistence aggregating mode - a restored session's subscriptions are subscribed "
          "again and messages for it wait while it is away") {
  SessionRecord r;
  r.client_id = "node-1";
  r.peer = udp(5001);
  r.status = SessionRecord::Status::lost;
  r.subscriptions = {{"d/#", 1}};
  CoreFixture g{persistent_config(Mode::aggregating), {r}, Time{0}};
  g.qos_minus_one_up();
  const auto subs = g.upstream<UpstreamSubscribe>();
  REQUIRE(subs.size() == 1);
  CHECK(subs[0].filter == "d/#");
  CHECK(subs[0].qos == 1);
  g.event(UpstreamSubscribeDone{kQosMinusOneConn, subs[0].req, true, 1});
  g.event(UpstreamMessage{kQosMinusOneConn, "d/1", bytes("kept"), 1, false, 0});
  const SessionRecord after = record(g, "node-1");
  REQUIRE(after.queue.size() == 1);
  CHECK(after.queue[0].topic == "d/1");

  // Back: the message goes out after CONNACK (REGISTER first).
  const auto c = udp(5001);
  g.feed(c, connect_msg("node-1", 60, false));
  const auto frames = g.sent_to(c);
  REQUIRE(frames.size() == 2);
  CHECK(std::holds_alternative<sn::ConnAck>(frames[0]));
  CHECK(std::holds_alternative<sn::Register>(frames[1]));
}

TEST_CASE("core: persistence the exchange in flight is restored - a PUBREL waiting for PUBCOMP "
          "goes again at the next CONNACK, not the PUBLISH") {
  const auto c = udp(5001);
  SessionRecord r;
  {
    CoreFixture f{persistent_config()};
    const ConnId conn = f.connect(c, "node-1", 60, false);
    // A two-character topic is a short name (§6.7): the PUBLISH needs no REGISTER.
    f.feed(c, subscribe_name(2, "dd"));
    f.event(UpstreamSubscribeDone{conn, f.req_of<UpstreamSubscribe>(), true, 2});
    f.event(UpstreamMessage{conn, "dd", bytes("exactly once"), 2, false, 0});
    const auto frames = f.sent_to(c);
    REQUIRE(frames.size() == 1);
    const auto* p = std::get_if<sn::Publish>(&frames[0]);
    REQUIRE(p != nullptr);
    f.feed(c, sn::PubRec{p->msg_id});
    REQUIRE(show(f.last()) == show({to(c, sn::PubRel{p->msg_id})}));
    r = record(f, "node-1");
  }
  REQUIRE(r.inflight.has_value());
  CHECK(r.inflight->kind == InFlight::Kind::pubrel);
  const std::uint16_t msg_id = r.inflight->msg_id;

  CoreFixture g{persistent_config(), {r}, Time{0}};
  g.feed(c, connect_msg("node-1", 60, false));
  g.event(UpstreamConnected{g.connect_conn(), true});
  CHECK(show(g.last()) ==
        show({to(c, sn::ConnAck{sn::ReturnCode::accepted}), to(c, sn::PubRel{msg_id})}));
  g.feed(c, sn::PubComp{msg_id});
  CHECK(record(g, "node-1").queue.empty());
}

TEST_CASE("core: persistence a queued message is handed to the store once - later records name it "
          "by its number until it leaves the queue") {
  CoreFixture f{persistent_config()};
  const auto c = udp(5001);
  const ConnId conn = f.connect(c, "node-1", 60, false);
  f.feed(c, subscribe_name(2, "dd"));  // a short name (§6.7): no REGISTER in the way
  f.event(UpstreamSubscribeDone{conn, f.req_of<UpstreamSubscribe>(), true, 1});
  f.changes();
  f.event(UpstreamMessage{conn, "dd", bytes("one"), 1, false, 0});
  const auto first = f.sent_to(c);
  REQUIRE(first.size() == 1);
  f.event(UpstreamMessage{conn, "dd", bytes("two"), 1, false, 0});
  SessionRecord r = record(f, "node-1");
  REQUIRE(r.queue.size() == 2);
  CHECK(r.queue_seqs == std::vector<std::uint64_t>{r.queue[0].seq, r.queue[1].seq});
  CHECK(r.queue[0].seq < r.queue[1].seq);
  const std::uint64_t second = r.queue[1].seq;
  // The first acknowledged: the record names the second only, and carries no message again.
  const auto& publish = std::get<sn::Publish>(first.front());
  f.feed(c, sn::PubAck{publish.topic_id, publish.msg_id, sn::ReturnCode::accepted});
  r = record(f, "node-1");
  CHECK(r.queue_seqs == std::vector<std::uint64_t>{second});
  CHECK(r.queue.empty());
}
