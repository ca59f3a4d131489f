// Digi XBee API frames: golden bytes from Digi's own examples (XBee 3 Zigbee / XBee-PRO 900HP
// user guides: "Transmit Request frame - 0x10", "Receive Packet frame - 0x90", "Transmit Status
// frame - 0x8B", "Escaped characters in API frames"), in API mode 1 (AP=1) and 2 (AP=2).

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <doctest/doctest.h>

#include "transports/xbee_api.hpp"

namespace {

using Bytes = std::vector<std::uint8_t>;
namespace xbee = transports::xbee;

const Bytes kTxData0A = {'T', 'x', 'D', 'a', 't', 'a', '0', 'A'};
const Bytes kRxData = {'R', 'x', 'D', 'a', 't', 'a'};

// Digi's Transmit Request example: to 0x0013A200 40 0A 01 27, 16-bit unknown, "TxData0A".
const Bytes kTransmitRequestAp1 = {
    0x7E, 0x00, 0x16,                                // start, Length 22
    0x10, 0x01,                                      // Transmit Request, frame id 1
    0x00, 0x13, 0xA2, 0x00, 0x40, 0x0A, 0x01, 0x27,  // 64-bit destination
    0xFF, 0xFE,                                      // 16-bit destination: unknown
    0x00, 0x00,                                      // broadcast radius, options
    'T',  'x',  'D',  'a',  't',  'a',  '0',  'A',   // RF data
    0x13};                                           // checksum
// The same with AP=2: the 0x13 of the 64-bit address and the checksum 0x13 (XOFF) both escaped.
const Bytes kTransmitRequestAp2 = {0x7E, 0x00, 0x16, 0x10, 0x01, 0x00, 0x7D, 0x33, 0xA2, 0x00,
                                   0x40, 0x0A, 0x01, 0x27, 0xFF, 0xFE, 0x00, 0x00, 'T',  'x',
                                   'D',  'a',  't',  'a',  '0',  'A',  0x7D, 0x33};

// Digi's Receive Packet example: from 0x0013A200 40522BAA / 0x7D84, acknowledged, "RxData".
const Bytes kReceivePacketAp1 = {0x7E, 0x00, 0x12,  // start, Length 18
                                 0x90,              // Receive Packet
                                 0x00, 0x13, 0xA2, 0x00, 0x40, 0x52, 0x2B, 0xAA,  // 64-bit source
                                 0x7D, 0x84,                                      // 16-bit source
                                 0x01,                               // options: acknowledged
                                 'R',  'x',  'D',  'a',  't',  'a',  // RF data
                                 0x0D};                              // checksum
// AP=2: 0x13 -> 7D 33, 0x7D -> 7D 5D.
const Bytes kReceivePacketAp2 = {0x7E, 0x00, 0x12, 0x90, 0x00, 0x7D, 0x33, 0xA2,
                                 0x00, 0x40, 0x52, 0x2B, 0xAA, 0x7D, 0x5D, 0x84,
                                 0x01, 'R',  'x',  'D',  'a',  't',  'a',  0x0D};

// Digi's Transmit Status example: frame id 1 delivered to 0x7D84, no retries, address discovery.
const Bytes kTransmitStatusAp1 = {0x7E, 0x00, 0x07, 0x8B, 0x01, 0x7D, 0x84, 0x00, 0x00, 0x01, 0x71};
const Bytes kTransmitStatusAp2 = {0x7E, 0x00, 0x07, 0x8B, 0x01, 0x7D,
                                  0x5D, 0x84, 0x00, 0x00, 0x01, 0x71};

struct Sink {
  std::vector<Bytes> frames;
  xbee::FrameDecoder::FrameSink fn() {
    return [this](std::span<const std::uint8_t> f) { frames.emplace_back(f.begin(), f.end()); };
  }
};

Bytes frame_data_of(const Bytes& plain_frame) {  // AP=1 frame -> its frame data
  return Bytes(plain_frame.begin() + 3, plain_frame.end() - 1);
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

}  // namespace

TEST_CASE("xbee api: checksum is 0xFF minus the 8-bit sum of the frame data") {
  // Digi's escaping example: frame data 23 11, checksum 0xFF - 0x34 = 0xCB.
  CHECK(xbee::checksum(Bytes{0x23, 0x11}) == 0xCB);
  CHECK(xbee::checksum(frame_data_of(kTransmitRequestAp1)) == 0x13);
  CHECK(xbee::checksum(frame_data_of(kReceivePacketAp1)) == 0x0D);
}

TEST_CASE("xbee api: Digi's escaping example (0x11 escaped as 7D 31)") {
  CHECK(xbee::encode_frame(Bytes{0x23, 0x11}, xbee::ApiMode::plain) ==
        Bytes{0x7E, 0x00, 0x02, 0x23, 0x11, 0xCB});
  CHECK(xbee::encode_frame(Bytes{0x23, 0x11}, xbee::ApiMode::escaped) ==
        Bytes{0x7E, 0x00, 0x02, 0x23, 0x7D, 0x31, 0xCB});
}

TEST_CASE("xbee api: Transmit Request 0x10 golden bytes, API mode 1 and 2 (escaped checksum)") {
  xbee::TransmitRequest request;
  request.frame_id = 0x01;
  request.destination64 = 0x0013A200400A0127ULL;
  request.destination16 = xbee::kUnknown16;
  request.rf_data = kTxData0A;
  CHECK(xbee::encode_transmit_request(request, xbee::ApiMode::plain) == kTransmitRequestAp1);
  CHECK(xbee::encode_transmit_request(request, xbee::ApiMode::escaped) == kTransmitRequestAp2);
}

TEST_CASE("xbee api: Transmit Request 0x10 broadcast to 000000000000FFFF / FFFE") {
  const Bytes payload = {0x02, 0x16};
  xbee::TransmitRequest request;
  request.frame_id = 0x00;  // no Transmit Status wanted
  request.destination64 = xbee::kBroadcast64;
  request.destination16 = xbee::kUnknown16;
  request.rf_data = payload;
  const Bytes data = {0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                      0xFF, 0xFF, 0xFF, 0xFE, 0x00, 0x00, 0x02, 0x16};
  const Bytes expected = cat({{0x7E, 0x00, 0x10}, data, {xbee::checksum(data)}});
  CHECK(xbee::encode_transmit_request(request, xbee::ApiMode::plain) == expected);
  CHECK(expected.back() == 0xDC);  // 0xFF - (0x10 + 3 * 0xFF + 0xFE + 0x02 + 0x16) mod 256
}

TEST_CASE("xbee api: Length and checksum octets are escaped too in API mode 2") {
  // 17 octets of frame data: Length 0x0011 (XON) must go out as 00 7D 31.
  Bytes data(17, 0x00);
  data[0] = 0x90;
  const Bytes out = xbee::encode_frame(data, xbee::ApiMode::escaped);
  REQUIRE(out.size() >= 4);
  CHECK(out[1] == 0x00);
  CHECK(out[2] == 0x7D);
  CHECK(out[3] == 0x31);
  Sink sink;
  xbee::FrameDecoder decoder(xbee::ApiMode::escaped);
  decoder.feed(out, sink.fn());
  REQUIRE(sink.frames.size() == 1);
  CHECK(sink.frames[0] == data);
}

TEST_CASE("xbee api: Receive Packet 0x90 golden bytes decode in API mode 1 and 2") {
  for (const auto mode : {xbee::ApiMode::plain, xbee::ApiMode::escaped}) {
    const Bytes& wire = mode == xbee::ApiMode::plain ? kReceivePacketAp1 : kReceivePacketAp2;
    CAPTURE(static_cast<int>(mode));
    CHECK(xbee::encode_frame(frame_data_of(kReceivePacketAp1), mode) == wire);
    Sink sink;
    xbee::FrameDecoder decoder(mode);
    decoder.feed(wire, sink.fn());
    REQUIRE(sink.frames.size() == 1);
    const auto packet = xbee::parse_receive_packet(sink.frames[0]);
    REQUIRE(packet.has_value());
    CHECK(packet->source64 == 0x0013A20040522BAAULL);
    CHECK(packet->source16 == 0x7D84);
    CHECK(packet->options == 0x01);
    CHECK(Bytes(packet->rf_data.begin(), packet->rf_data.end()) == kRxData);
    CHECK(decoder.counters().frames == 1);
    CHECK(decoder.counters().bad_frames == 0);
  }
}

TEST_CASE("xbee api: Transmit Status 0x8B golden bytes decode in API mode 1 and 2") {
  for (const auto mode : {xbee::ApiMode::plain, xbee::ApiMode::escaped}) {
    const Bytes& wire = mode == xbee::ApiMode::plain ? kTransmitStatusAp1 : kTransmitStatusAp2;
    Sink sink;
    xbee::FrameDecoder decoder(mode);
    decoder.feed(wire, sink.fn());
    REQUIRE(sink.frames.size() == 1);
    const auto status = xbee::parse_transmit_status(sink.frames[0]);
    REQUIRE(status.has_value());
    CHECK(*status == xbee::TransmitStatus{.frame_id = 0x01,
                                          .destination16 = 0x7D84,
                                          .retry_count = 0x00,
                                          .delivery_status = 0x00,
                                          .discovery_status = 0x01});
    CHECK(status->delivered());
  }
  // A failure: Route Not Found (0x25), address unknown (0xFFFD).
  const Bytes failed = {0x8B, 0x07, 0xFF, 0xFD, 0x02, 0x25, 0x00};
  const auto status = xbee::parse_transmit_status(failed);
  REQUIRE(status.has_value());
  CHECK_FALSE(status->delivered());
  CHECK(status->delivery_status == 0x25);
  CHECK(status->retry_count == 2);
}

TEST_CASE("xbee api: parsers refuse other frame types and short frames") {
  CHECK_FALSE(xbee::parse_receive_packet(frame_data_of(kTransmitStatusAp1)).has_value());
  CHECK_FALSE(xbee::parse_transmit_status(frame_data_of(kReceivePacketAp1)).has_value());
  CHECK_FALSE(xbee::parse_receive_packet(Bytes{0x90, 0x00, 0x13}).has_value());
  CHECK_FALSE(xbee::parse_transmit_status(Bytes{0x8B, 0x01, 0x7D, 0x84, 0x00, 0x00}).has_value());
  // A 0x90 with no RF data is well formed (an empty payload).
  const Bytes data = frame_data_of(kReceivePacketAp1);
  const auto empty = xbee::parse_receive_packet(std::span(data).first(data.size() - 6));
  REQUIRE(empty.has_value());
  CHECK(empty->rf_data.empty());
}

TEST_CASE("xbee api: decoder takes frames one octet at a time and several per read") {
  for (const auto mode : {xbee::ApiMode::plain, xbee::ApiMode::escaped}) {
    const Bytes stream = mode == xbee::ApiMode::plain
                             ? cat({kReceivePacketAp1, kTransmitStatusAp1, kReceivePacketAp1})
                             : cat({kReceivePacketAp2, kTransmitStatusAp2, kReceivePacketAp2});
    Sink one;
    xbee::FrameDecoder by_octet(mode);
    for (const std::uint8_t octet : stream) by_octet.feed(Bytes{octet}, one.fn());
    Sink all;
    xbee::FrameDecoder at_once(mode);
    at_once.feed(stream, all.fn());
    REQUIRE(one.frames.size() == 3);
    CHECK(one.frames == all.frames);
    CHECK(one.frames[1] == frame_data_of(kTransmitStatusAp1));
    CHECK(by_octet.buffered() == 0);
  }
}

TEST_CASE("xbee api: garbage and a bad checksum are skipped and the next frame is found") {
  for (const auto mode : {xbee::ApiMode::plain, xbee::ApiMode::escaped}) {
    const Bytes& good = mode == xbee::ApiMode::plain ? kReceivePacketAp1 : kReceivePacketAp2;
    Bytes corrupt = good;
    corrupt[corrupt.size() - 2] ^= 0x01;  // one RF data bit flipped: checksum fails
    Sink sink;
    xbee::FrameDecoder decoder(mode);
    decoder.feed(cat({{0x00, 0x55, 0xAA}, corrupt, good}), sink.fn());
    REQUIRE(sink.frames.size() == 1);
    CHECK(sink.frames[0] == frame_data_of(kReceivePacketAp1));
    CHECK(decoder.counters().bad_frames == 1);
    CHECK(decoder.counters().bytes_skipped == 3 + corrupt.size());
  }
}

TEST_CASE("xbee api: a frame cut short by a new 0x7E is dropped, the new one kept") {
  Sink plain_sink;
  xbee::FrameDecoder plain(xbee::ApiMode::plain);
  // The first 10 octets of one frame, then a whole one: in AP=1 the truncated frame swallows the
  // next octets as its data, fails its checksum, and the search resumes inside it.
  plain.feed(
      cat({Bytes(kReceivePacketAp1.begin(), kReceivePacketAp1.begin() + 10), kReceivePacketAp1}),
      plain_sink.fn());
  REQUIRE(plain_sink.frames.size() == 1);
  CHECK(plain.counters().bad_frames >= 1);

  Sink escaped_sink;
  xbee::FrameDecoder escaped(xbee::ApiMode::escaped);
  // In AP=2 a bare 0x7E can only start a frame, so the truncated one fails at once.
  escaped.feed(
      cat({Bytes(kReceivePacketAp2.begin(), kReceivePacketAp2.begin() + 10), kReceivePacketAp2}),
      escaped_sink.fn());
  REQUIRE(escaped_sink.frames.size() == 1);
  CHECK(escaped.counters().bad_frames == 1);
  CHECK(escaped.buffered() == 0);
}

TEST_CASE("xbee api: Length 0, Length above the maximum and a needless escape are bad frames") {
  Sink sink;
  xbee::FrameDecoder decoder(xbee::ApiMode::escaped, 64);
  decoder.feed(Bytes{0x7E, 0x00, 0x00, 0xFF}, sink.fn());                    // Length 0
  decoder.feed(Bytes{0x7E, 0x01, 0x00}, sink.fn());                          // 256 > 64
  decoder.feed(Bytes{0x7E, 0x00, 0x02, 0x23, 0x7D, 0x01, 0xCB}, sink.fn());  // 7D 01 -> 0x21
  decoder.feed(kTransmitStatusAp2, sink.fn());
  REQUIRE(sink.frames.size() == 1);
  CHECK(decoder.counters().bad_frames == 3);
}

TEST_CASE("xbee api: a 64 + 16-bit address round-trips through the Peer octets") {
  const auto bytes = xbee::address_bytes(0x0013A20040522BAAULL, 0x7D84);
  CHECK(Bytes(bytes.begin(), bytes.end()) ==
        Bytes{0x00, 0x13, 0xA2, 0x00, 0x40, 0x52, 0x2B, 0xAA, 0x7D, 0x84});
  std::uint64_t a64 = 0;
  std::uint16_t a16 = 0;
  REQUIRE(xbee::address_from_bytes(bytes, a64, a16));
  CHECK(a64 == 0x0013A20040522BAAULL);
  CHECK(a16 == 0x7D84);
  CHECK_FALSE(xbee::address_from_bytes(std::span(bytes).first(9), a64, a16));
}
