// StreamDeframer: MQTT-SN frames cut out of a byte stream by their own Length field (§5.2.1),
// with the resynchronisation rule and inter-byte timeout its header documents. Time is passed in.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <doctest/doctest.h>

#include "transports/stream_deframer.hpp"

namespace {

using Bytes = std::vector<std::uint8_t>;
using std::chrono::milliseconds;

// PUBLISH QoS 0, topic id 0x0001, msg id 0, `data_size` octets of data, 1- or 3-octet Length.
Bytes publish(std::size_t data_size, std::uint8_t fill = 0x41) {
  const std::size_t body = 1 + 1 + 2 + 2 + data_size;  // MsgType, Flags, TopicId, MsgId, Data
  Bytes frame;
  if (body + 1 <= 255) {
    frame.push_back(static_cast<std::uint8_t>(body + 1));
  } else {
    const std::size_t total = body + 3;
    frame = {0x01, static_cast<std::uint8_t>(total >> 8), static_cast<std::uint8_t>(total & 0xFF)};
  }
  const Bytes header = {0x0C, 0x00, 0x00, 0x01, 0x00, 0x00};
  frame.insert(frame.end(), header.begin(), header.end());
  frame.insert(frame.end(), data_size, fill);
  return frame;
}

const Bytes kPingreq = {0x02, 0x16};                                    // PINGREQ, no client id
const Bytes kConnect = {0x08, 0x04, 0x04, 0x01, 0x00, 0x3C, 'a', 'b'};  // CONNECT "ab", 60 s

struct Sink {
  std::vector<Bytes> frames;
  transports::StreamDeframer::FrameSink fn() {
    return [this](std::span<const std::uint8_t> f) { frames.emplace_back(f.begin(), f.end()); };
  }
};

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

}  // namespace

TEST_CASE("serial deframer: a frame fed one octet at a time arrives once, whole") {
  transports::StreamDeframer d;
  Sink sink;
  const Bytes frame = publish(10);
  for (std::size_t i = 0; i < frame.size(); ++i) {
    d.feed(std::span(frame).subspan(i, 1), milliseconds(static_cast<long>(i)), sink.fn());
    CHECK(sink.frames.size() == (i + 1 == frame.size() ? 1U : 0U));
  }
  REQUIRE(sink.frames.size() == 1);
  CHECK(sink.frames[0] == frame);
  CHECK(d.counters().frames == 1);
  CHECK(d.counters().bytes_skipped == 0);
  CHECK_FALSE(d.has_partial());
}

TEST_CASE("serial deframer: three frames in one write arrive as three frames in order") {
  transports::StreamDeframer d;
  Sink sink;
  const Bytes a = kConnect;
  const Bytes b = publish(3);
  const Bytes c = kPingreq;
  d.feed(cat({a, b, c}), milliseconds(0), sink.fn());
  REQUIRE(sink.frames.size() == 3);
  CHECK(sink.frames[0] == a);
  CHECK(sink.frames[1] == b);
  CHECK(sink.frames[2] == c);
  CHECK(d.buffered() == 0);
}

TEST_CASE("serial deframer: a frame and a half, then the rest") {
  transports::StreamDeframer d;
  Sink sink;
  const Bytes stream = cat({publish(5), publish(7)});
  const std::size_t cut = publish(5).size() + 4;
  d.feed(std::span(stream).first(cut), milliseconds(0), sink.fn());
  CHECK(sink.frames.size() == 1);
  CHECK(d.has_partial());
  d.feed(std::span(stream).subspan(cut), milliseconds(1), sink.fn());
  REQUIRE(sink.frames.size() == 2);
  CHECK(sink.frames[1] == publish(7));
}

TEST_CASE("serial deframer: garbage before a frame is skipped octet by octet") {
  transports::StreamDeframer d;
  Sink sink;
  // Every octet is tried as a Length, the next one as its MsgType: 00 is Length 0; FF 99, 99 03,
  // 0C 11, 11 1E and 1E 11 name reserved types; 03 0C is too short for a PUBLISH. The frame
  // itself starts with 0x11 (Length 17), a reserved MsgType, so the last garbage octet cannot
  // swallow it.
  const Bytes garbage = {0x00, 0xFF, 0x99, 0x03, 0x0C, 0x11, 0x1E};
  const Bytes frame = publish(10);
  REQUIRE(frame[0] == 0x11);
  d.feed(cat({garbage, frame}), milliseconds(0), sink.fn());
  REQUIRE(sink.frames.size() == 1);
  CHECK(sink.frames[0] == frame);
  CHECK(d.counters().bytes_skipped == garbage.size());
}

TEST_CASE("serial deframer: Length 0 is skipped, never taken for a frame") {
  transports::StreamDeframer d;
  Sink sink;
  d.feed(Bytes{0x00, 0x00, 0x00}, milliseconds(0), sink.fn());
  CHECK(sink.frames.empty());
  CHECK(d.counters().bytes_skipped == 3);
  CHECK(d.buffered() == 0);
  d.feed(kPingreq, milliseconds(1), sink.fn());
  REQUIRE(sink.frames.size() == 1);
  CHECK(sink.frames[0] == kPingreq);
}

TEST_CASE("serial deframer: 01 00 02 (a 3-octet Length of 2) is resynchronised over") {
  transports::StreamDeframer d;
  Sink sink;
  const Bytes frame = publish(9);  // starts 0x0F 0x0C: after the skip, "02 0F" is no frame
  d.feed(cat({{0x01, 0x00, 0x02}, frame}), milliseconds(0), sink.fn());
  REQUIRE(sink.frames.size() == 1);
  CHECK(sink.frames[0] == frame);
  CHECK(d.counters().bytes_skipped == 3);
}

TEST_CASE("serial deframer: a non-canonical 3-octet Length below 256 is garbage") {
  transports::StreamDeframer d;
  Sink sink;
  // 01 00 08 04 ... would be a well-formed CONNECT in the 3-octet form, but §5.2.1 keeps that form
  // for 256 octets and more.
  d.feed(Bytes{0x01, 0x00, 0x0A, 0x04, 0x04, 0x01, 0x00, 0x3C, 'a', 'b'}, milliseconds(0),
         sink.fn());
  CHECK(sink.frames.empty());
  // 01 and 00 are skipped; "0A 04 ..." is then a plausible 10-octet CONNECT still waiting for two
  // octets, which only the inter-byte timeout can clear.
  CHECK(d.counters().bytes_skipped == 2);
  CHECK(d.has_partial());
  CHECK(d.tick(milliseconds(501)));
}

TEST_CASE("serial deframer: a 300-octet frame in the 3-octet form, split anywhere") {
  const Bytes frame = publish(300 - 9);
  REQUIRE(frame.size() == 300);
  REQUIRE(frame[0] == 0x01);
  CHECK(frame[1] == 0x01);
  CHECK(frame[2] == 0x2C);
  const std::size_t cuts[][2] = {{1, 2},     {2, 3},   {3, 4},    {4, 150},
                                 {255, 256}, {1, 299}, {100, 200}};
  for (const auto& cut : cuts) {
    CAPTURE(cut[0]);
    CAPTURE(cut[1]);
    transports::StreamDeframer d;
    Sink sink;
    const std::span<const std::uint8_t> all(frame);
    d.feed(all.first(cut[0]), milliseconds(0), sink.fn());
    d.feed(all.subspan(cut[0], cut[1] - cut[0]), milliseconds(1), sink.fn());
    CHECK(sink.frames.empty());
    d.feed(all.subspan(cut[1]), milliseconds(2), sink.fn());
    REQUIRE(sink.frames.size() == 1);
    CHECK(sink.frames[0] == frame);
    CHECK(d.counters().bytes_skipped == 0);
  }
}

TEST_CASE("serial deframer: a 3-octet Length above max_frame_size is skipped at once") {
  transports::StreamDeframer d({.max_frame_size = 512, .inter_byte_timeout = milliseconds(500)});
  Sink sink;
  // Declares 0x0400 = 1024 octets of PINGREQ: no waiting for them. (The next frame starts with
  // 0x11, a reserved MsgType, so the 0x16 left over cannot take it for its type.)
  const Bytes frame = publish(10);
  d.feed(cat({{0x01, 0x04, 0x00, 0x16}, frame}), milliseconds(0), sink.fn());
  REQUIRE(sink.frames.size() == 1);
  CHECK(sink.frames[0] == frame);
  CHECK(d.counters().bytes_skipped == 4);
}

TEST_CASE("serial deframer: inter-byte timeout drops a stale partial frame when bytes arrive") {
  transports::StreamDeframer d({.max_frame_size = 1024, .inter_byte_timeout = milliseconds(100)});
  Sink sink;
  // A plausible 1000-octet PUBLISH header that never completes.
  d.feed(Bytes{0x01, 0x03, 0xE8, 0x0C, 0x00}, milliseconds(1000), sink.fn());
  CHECK(d.has_partial());
  CHECK(d.partial_deadline() == milliseconds(1100));
  d.feed(kPingreq, milliseconds(1101), sink.fn());
  REQUIRE(sink.frames.size() == 1);
  CHECK(sink.frames[0] == kPingreq);
  CHECK(d.counters().timeouts == 1);
  CHECK(d.counters().bytes_skipped == 0);
}

TEST_CASE("serial deframer: inter-byte timeout on tick - bytes within the timeout are kept") {
  transports::StreamDeframer d({.max_frame_size = 1024, .inter_byte_timeout = milliseconds(100)});
  Sink sink;
  const Bytes frame = publish(20);
  d.feed(std::span(frame).first(5), milliseconds(0), sink.fn());
  CHECK_FALSE(d.tick(milliseconds(100)));  // exactly the timeout: not yet stale
  d.feed(std::span(frame).subspan(5, 5), milliseconds(100), sink.fn());
  CHECK_FALSE(d.tick(milliseconds(150)));
  CHECK(d.tick(milliseconds(201)));
  CHECK(d.counters().timeouts == 1);
  CHECK_FALSE(d.has_partial());
  CHECK_FALSE(d.tick(milliseconds(1000)));  // nothing left to drop
  d.feed(frame, milliseconds(1001), sink.fn());
  REQUIRE(sink.frames.size() == 1);
  CHECK(sink.frames[0] == frame);
}

TEST_CASE("serial deframer: a zero timeout never drops a partial frame") {
  transports::StreamDeframer d({.max_frame_size = 1024, .inter_byte_timeout = milliseconds(0)});
  Sink sink;
  const Bytes frame = publish(4);
  d.feed(std::span(frame).first(3), milliseconds(0), sink.fn());
  CHECK_FALSE(d.tick(milliseconds(1000000)));
  d.feed(std::span(frame).subspan(3), milliseconds(2000000), sink.fn());
  CHECK(sink.frames.size() == 1);
  CHECK(d.counters().timeouts == 0);
}

TEST_CASE("serial deframer: a §5.5 encapsulated frame is cut with its inner frame") {
  transports::StreamDeframer d;
  Sink sink;
  // Length 5 (header only), 0xFE, Ctrl 0x01 (radius 1), Wireless Node Id 0xAB 0xCD, then PINGREQ.
  const Bytes frame = {0x05, 0xFE, 0x01, 0xAB, 0xCD, 0x02, 0x16};
  for (const std::uint8_t octet : cat({frame, kPingreq})) {
    d.feed(Bytes{octet}, milliseconds(0), sink.fn());
  }
  REQUIRE(sink.frames.size() == 2);
  CHECK(sink.frames[0] == frame);
  CHECK(sink.frames[1] == kPingreq);
}

TEST_CASE("serial deframer: reset forgets a partial frame") {
  transports::StreamDeframer d;
  Sink sink;
  d.feed(Bytes{0x08, 0x04, 0x04}, milliseconds(0), sink.fn());
  d.reset();
  d.feed(kPingreq, milliseconds(1), sink.fn());
  REQUIRE(sink.frames.size() == 1);
  CHECK(sink.frames[0] == kPingreq);
}

TEST_CASE("serial deframer: minimum sizes per MsgType") {
  CHECK(transports::min_frame_size(0x16) == 2);  // PINGREQ
  CHECK(transports::min_frame_size(0x0C) == 7);  // PUBLISH
  CHECK(transports::min_frame_size(0x03) == 0);  // reserved
  CHECK(transports::min_frame_size(0x11) == 0);  // reserved
  CHECK(transports::min_frame_size(0x1E) == 0);  // reserved
  CHECK(transports::min_frame_size(0xFE) == 4);  // encapsulation header
}
