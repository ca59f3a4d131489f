// Both stream framers against many frames cut at random places (fixed seeds: reproducible):
// everything that went in comes out, in order, with nothing skipped.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include <doctest/doctest.h>

#include "transports/stream_deframer.hpp"
#include "transports/xbee_api.hpp"

namespace {

using Bytes = std::vector<std::uint8_t>;

// A PUBLISH of 0..400 random data octets (1- or 3-octet Length as §5.2.1 requires).
Bytes random_publish(std::mt19937& rng) {
  const std::size_t data_size = std::uniform_int_distribution<std::size_t>(0, 400)(rng);
  const std::size_t body = 6 + data_size;
  Bytes frame;
  if (body + 1 <= 255) {
    frame.push_back(static_cast<std::uint8_t>(body + 1));
  } else {
    frame = {0x01, static_cast<std::uint8_t>((body + 3) >> 8),
             static_cast<std::uint8_t>((body + 3) & 0xFF)};
  }
  const Bytes header = {0x0C, 0x20, 0x00, 0x01, 0x12, 0x34};
  frame.insert(frame.end(), header.begin(), header.end());
  std::uniform_int_distribution<int> octet(0, 255);
  for (std::size_t i = 0; i < data_size; ++i)
    frame.push_back(static_cast<std::uint8_t>(octet(rng)));
  return frame;
}

// Feeds `stream` in chunks of 1..max_chunk octets.
template <class Feed>
void feed_in_chunks(const Bytes& stream, std::mt19937& rng, std::size_t max_chunk, Feed feed) {
  std::size_t pos = 0;
  while (pos < stream.size()) {
    const std::size_t n = std::min(stream.size() - pos,
                                   std::uniform_int_distribution<std::size_t>(1, max_chunk)(rng));
    feed(std::span(stream).subspan(pos, n));
    pos += n;
  }
}

}  // namespace

TEST_CASE("serial deframer: 200 random frames cut at random places all come out") {
  for (const unsigned seed : {1U, 2U, 3U}) {
    CAPTURE(seed);
    std::mt19937 rng(seed);
    std::vector<Bytes> frames;
    Bytes stream;
    for (int i = 0; i < 200; ++i) {
      frames.push_back(random_publish(rng));
      stream.insert(stream.end(), frames.back().begin(), frames.back().end());
    }
    transports::StreamDeframer d;
    std::vector<Bytes> out;
    feed_in_chunks(stream, rng, 700, [&](std::span<const std::uint8_t> chunk) {
      d.feed(chunk, std::chrono::milliseconds(0),
             [&](std::span<const std::uint8_t> f) { out.emplace_back(f.begin(), f.end()); });
    });
    CHECK(out == frames);
    CHECK(d.counters().bytes_skipped == 0);
    CHECK(d.buffered() == 0);
  }
}

TEST_CASE("xbee api: 200 random Receive Packets cut at random places all come out, AP=1 and 2") {
  for (const auto mode : {transports::xbee::ApiMode::plain, transports::xbee::ApiMode::escaped}) {
    CAPTURE(static_cast<int>(mode));
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> octet(0, 255);
    std::vector<Bytes> frames;
    Bytes stream;
    for (int i = 0; i < 200; ++i) {
      Bytes data = {transports::xbee::kReceivePacket};
      const std::size_t size = std::uniform_int_distribution<std::size_t>(11, 120)(rng);
      for (std::size_t k = 0; k < size; ++k) data.push_back(static_cast<std::uint8_t>(octet(rng)));
      frames.push_back(data);
      transports::xbee::encode_frame_to(data, mode, stream);
    }
    transports::xbee::FrameDecoder decoder(mode);
    std::vector<Bytes> out;
    feed_in_chunks(stream, rng, 300, [&](std::span<const std::uint8_t> chunk) {
      decoder.feed(chunk,
                   [&](std::span<const std::uint8_t> f) { out.emplace_back(f.begin(), f.end()); });
    });
    CHECK(out == frames);
    CHECK(decoder.counters().bad_frames == 0);
    CHECK(decoder.counters().bytes_skipped == 0);
  }
}
