// The session store (gateway/store): records survive a close and an open again, unchanged
// records are not written twice, and a file that is not a usable store is refused with its path
// and the reason. Real SQLite files in a scratch directory; no sockets.

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gateway/store/session_store.hpp"
#include "scratch_dir.hpp"
#include "sn_protocol/codec.hpp"

namespace {

namespace fs = std::filesystem;
using gateway::core::InFlight;
using gateway::core::QueuedMessage;
using gateway::core::SessionChanges;
using gateway::core::SessionRecord;
using gateway::store::Durability;
using gateway::store::SessionStore;
using gateway::store::StoreError;

// A scratch directory, removed at the end of the case.
// A scratch directory; file(name) is the path of `name` in it.
struct Scratch : test_common::ScratchDir {
  Scratch() : ScratchDir("mqttsn-store") {}
};

// Runs one SQL statement on the file, as another program would.
void sql(const std::string& path, const std::string& statement) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_exec(db, statement.c_str(), nullptr, nullptr, &error);
  CHECK_MESSAGE(rc == SQLITE_OK, (error != nullptr ? error : ""));
  sqlite3_free(error);
  sqlite3_close(db);
}

sn::Bytes bytes(std::string_view text) { return {text.begin(), text.end()}; }

// A record with every field set.
SessionRecord full_record(std::string client_id) {
  SessionRecord r;
  r.client_id = std::move(client_id);
  const std::uint8_t address[6] = {127, 0, 0, 1, 0x13, 0x88};
  r.peer = sn::Peer::make(2, sn::PeerKind::ipv4, address);
  const std::uint8_t node[2] = {0x0a, 0x0b};
  REQUIRE(r.peer.set_node_id(node));
  r.status = SessionRecord::Status::asleep;
  r.keep_alive_s = 60;
  r.sleep_s = 3600;
  r.will = gateway::core::Will{"status/x", bytes("gone\0binary"), 2, true};
  r.topics = {{1, "a/b"}, {7, "c/d"}};
  r.next_topic_id = 8;
  r.subscriptions = {{"d/#", 2}, {"e/+", 1}};
  r.qos2_received = {{20, 0xdeadbeef}};
  r.qos2_released = {{18, 1}, {19, 2}};
  r.queue_seqs = {4, 9};
  r.queue = {QueuedMessage{"a/b", bytes("one"), 1, false, false, 4},
             QueuedMessage{"c/d", bytes(std::string("\x00\xff", 2)), 2, true, true, 9}};
  r.inflight = InFlight{InFlight::Kind::pubrel, 33, 0, sn::PubRel{33}};
  r.next_msg_id = 34;
  r.rejected_topics = {"x/y"};
  return r;
}

}  // namespace

// The record without its queue (each message is a row of its own).
SessionRecord without_queue(SessionRecord r) {
  r.queue.clear();
  r.queue_seqs.clear();
  return r;
}

TEST_CASE("store: a record encodes and decodes to itself, every field") {
  const SessionRecord r = full_record("node-1");
  CHECK(gateway::store::decode_record(gateway::store::encode_record(r)) == without_queue(r));
  for (const auto& m : r.queue) {
    CHECK(gateway::store::decode_message(gateway::store::encode_message(m), m.seq) == m);
  }
  SessionRecord plain;
  plain.client_id = "plain";
  CHECK(gateway::store::decode_record(gateway::store::encode_record(plain)) == plain);
}

TEST_CASE("store: bytes that are not a record are refused, never taken for one") {
  const auto good = gateway::store::encode_record(full_record("node-1"));
  CHECK_THROWS_AS(gateway::store::decode_record(std::span<const std::uint8_t>()), std::runtime_error);
  // Every truncation of a good record is refused, and so is one octet too many.
  for (std::size_t n = 0; n < good.size(); ++n) {
    CHECK_THROWS_AS(gateway::store::decode_record(std::span(good.data(), n)), std::runtime_error);
  }
  auto longer = good;
  longer.push_back(0);
  CHECK_THROWS_AS(gateway::store::decode_record(longer), std::runtime_error);
  // A count that promises more than the record holds is refused before anything is reserved.
  SessionRecord plain;
  plain.client_id = "x";
  auto counted = gateway::store::encode_record(plain);
  const std::size_t topics_count = 1 + 4 + 1 + 2 + 1 + 4 + 4 + 1 + 2 + 2 + 1;
  counted[topics_count] = 0xFF;
  counted[topics_count + 3] = 0x7F;
  CHECK_THROWS_WITH_AS(gateway::store::decode_record(counted), "count beyond the record",
                       std::runtime_error);
}

TEST_CASE("store: sessions written survive closing and opening the file again") {
  Scratch scratch;
  const auto path = scratch.file("sessions.db");
  {
    SessionStore store(path, Durability::normal);
    CHECK(store.load().empty());
    SessionChanges changes;
    changes.saved = {full_record("node-1"), full_record("node-2")};
    store.write(changes);
    CHECK(store.rows_written() == 2);
    // The same records again: nothing written.
    store.write(changes);
    CHECK(store.rows_written() == 2);
    // One changed (its first message delivered, a new one queued), one removed.
    changes.saved = {full_record("node-1")};
    changes.saved[0].keep_alive_s = 30;
    changes.saved[0].queue_seqs = {9, 10};
    changes.saved[0].queue = {QueuedMessage{"e/f", bytes("three"), 1, false, false, 10}};
    changes.removed = {"node-2", "never-stored"};
    store.write(changes);
    CHECK(store.rows_written() == 3);
    CHECK(store.rows_deleted() == 1);
  }
  SessionStore again(path, Durability::full);
  const auto records = again.load();
  REQUIRE(records.size() == 1);
  SessionRecord expected = full_record("node-1");
  expected.keep_alive_s = 30;
  expected.queue_seqs = {9, 10};
  expected.queue = {full_record("node-1").queue[1],
                    QueuedMessage{"e/f", bytes("three"), 1, false, false, 10}};
  CHECK(records[0] == expected);
  // What was read counts as written: the same record is not written again.
  SessionChanges same;
  same.saved = {expected};
  same.saved[0].queue.clear();  // as the core hands it out: no message is new
  again.write(same);
  CHECK(again.rows_written() == 0);
  // A session removed takes its messages along.
  SessionChanges gone;
  gone.removed = {"node-1"};
  again.write(gone);
  CHECK(again.load().empty());
}

TEST_CASE("store: a file that is not a session store is refused with its path and the reason") {
  Scratch scratch;
  SUBCASE("not a database") {
    const auto path = scratch.file("text.db");
    std::ofstream(path) << std::string(8192, 'x');
    try {
      SessionStore store(path, Durability::normal);
      FAIL("opened " << path);
    } catch (const StoreError& e) {
      const std::string what = e.what();
      CHECK(what.find(path) == 0);
      CHECK(what.find("not a database") != std::string::npos);
    }
  }
  SUBCASE("a store another gateway has open") {
    const auto path = scratch.file("busy.db");
    SessionStore first(path, Durability::normal);
    CHECK_THROWS_WITH_AS(SessionStore(path, Durability::normal), doctest::Contains("locked"),
                         StoreError);
  }
  SUBCASE("a directory that does not exist") {
    const auto path = scratch.file("missing/sessions.db");
    CHECK_THROWS_WITH_AS(SessionStore(path, Durability::normal),
                         doctest::Contains(path.c_str()), StoreError);
  }
  SUBCASE("another program's database") {
    const auto path = scratch.file("other.db");
    {
      SessionStore store(path, Durability::normal);
    }
    // Someone else's format row.
    sql(path, "UPDATE meta SET value='x' WHERE key='format'");
    CHECK_THROWS_WITH_AS(SessionStore(path, Durability::normal),
                         doctest::Contains("not a session store"), StoreError);
  }
  SUBCASE("a record that does not decode") {
    const auto path = scratch.file("bad-record.db");
    {
      SessionStore store(path, Durability::normal);
      SessionChanges changes;
      changes.saved = {full_record("node-1")};
      store.write(changes);
    }
    // The record's bytes replaced by garbage.
    sql(path, "UPDATE sessions SET record=X'ff00ff' WHERE client_id='node-1'");
    SessionStore store(path, Durability::normal);
    CHECK_THROWS_WITH_AS(store.load(), doctest::Contains("node-1"), StoreError);
  }
}
