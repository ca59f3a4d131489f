#include "transports/xbee_api.hpp"

#include <utility>

namespace transports::xbee {
namespace {

bool needs_escape(std::uint8_t octet) {
  return octet == kStartDelimiter || octet == kEscape || octet == kXon || octet == kXoff;
}

void put(std::uint8_t octet, ApiMode mode, std::vector<std::uint8_t>& out) {
  if (mode == ApiMode::escaped && needs_escape(octet)) {
    out.push_back(kEscape);
    out.push_back(static_cast<std::uint8_t>(octet ^ kEscapeXor));
  } else {
    out.push_back(octet);
  }
}

std::uint64_t read_be64(std::span<const std::uint8_t> bytes) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < 8; ++i) value = (value << 8) | bytes[i];
  return value;
}

std::uint16_t read_be16(std::span<const std::uint8_t> bytes) {
  return static_cast<std::uint16_t>((bytes[0] << 8) | bytes[1]);
}

}  // namespace

std::uint8_t checksum(std::span<const std::uint8_t> frame_data) {
  std::uint8_t sum = 0;
  for (const std::uint8_t octet : frame_data) sum = static_cast<std::uint8_t>(sum + octet);
  return static_cast<std::uint8_t>(0xFF - sum);
}

void encode_frame_to(std::span<const std::uint8_t> frame_data, ApiMode mode,
                     std::vector<std::uint8_t>& out) {
  out.reserve(out.size() + 4 + frame_data.size() * (mode == ApiMode::escaped ? 2 : 1));
  out.push_back(kStartDelimiter);  // never escaped: it is the one octet that marks a frame
  put(static_cast<std::uint8_t>(frame_data.size() >> 8), mode, out);
  put(static_cast<std::uint8_t>(frame_data.size() & 0xFFU), mode, out);
  for (const std::uint8_t octet : frame_data) put(octet, mode, out);
  put(checksum(frame_data), mode, out);
}

std::vector<std::uint8_t> encode_frame(std::span<const std::uint8_t> frame_data, ApiMode mode) {
  std::vector<std::uint8_t> out;
  encode_frame_to(frame_data, mode, out);
  return out;
}

void encode_transmit_request_to(const TransmitRequest& request, ApiMode mode,
                                std::vector<std::uint8_t>& out) {
  std::vector<std::uint8_t> data;
  data.reserve(kTransmitRequestOverhead + request.rf_data.size());
  data.push_back(kTransmitRequest);
  data.push_back(request.frame_id);
  for (int shift = 56; shift >= 0; shift -= 8) {
    data.push_back(static_cast<std::uint8_t>(request.destination64 >> shift));
  }
  data.push_back(static_cast<std::uint8_t>(request.destination16 >> 8));
  data.push_back(static_cast<std::uint8_t>(request.destination16 & 0xFFU));
  data.push_back(request.broadcast_radius);
  data.push_back(request.options);
  data.insert(data.end(), request.rf_data.begin(), request.rf_data.end());
  encode_frame_to(data, mode, out);
}

std::vector<std::uint8_t> encode_transmit_request(const TransmitRequest& request, ApiMode mode) {
  std::vector<std::uint8_t> out;
  encode_transmit_request_to(request, mode, out);
  return out;
}

std::optional<ReceivePacket> parse_receive_packet(std::span<const std::uint8_t> frame_data) {
  // type, 64-bit source, 16-bit source, options: 12 octets before the RF data.
  constexpr std::size_t kHeader = 12;
  if (frame_data.size() < kHeader || frame_data[0] != kReceivePacket) return std::nullopt;
  ReceivePacket packet;
  packet.source64 = read_be64(frame_data.subspan(1));
  packet.source16 = read_be16(frame_data.subspan(9));
  packet.options = frame_data[11];
  packet.rf_data = frame_data.subspan(kHeader);
  return packet;
}

std::optional<TransmitStatus> parse_transmit_status(std::span<const std::uint8_t> frame_data) {
  constexpr std::size_t kSize = 7;
  if (frame_data.size() != kSize || frame_data[0] != kTransmitStatus) return std::nullopt;
  TransmitStatus status;
  status.frame_id = frame_data[1];
  status.destination16 = read_be16(frame_data.subspan(2));
  status.retry_count = frame_data[4];
  status.delivery_status = frame_data[5];
  status.discovery_status = frame_data[6];
  return status;
}

std::array<std::uint8_t, 10> address_bytes(std::uint64_t address64, std::uint16_t address16) {
  std::array<std::uint8_t, 10> bytes{};
  for (std::size_t i = 0; i < 8; ++i) {
    bytes[i] = static_cast<std::uint8_t>(address64 >> (56 - 8 * i));
  }
  bytes[8] = static_cast<std::uint8_t>(address16 >> 8);
  bytes[9] = static_cast<std::uint8_t>(address16 & 0xFFU);
  return bytes;
}

bool address_from_bytes(std::span<const std::uint8_t> bytes, std::uint64_t& address64,
                        std::uint16_t& address16) {
  if (bytes.size() != 10) return false;
  address64 = read_be64(bytes);
  address16 = read_be16(bytes.subspan(8));
  return true;
}

FrameDecoder::FrameDecoder(ApiMode mode, std::size_t max_frame_data)
    : mode_(mode), max_frame_data_(max_frame_data == 0 ? 1 : max_frame_data) {}

// Unescapes the candidate that starts with the 0x7E at `start`. On `frame`, frame_data_ holds
// its frame data and `end` is one past its last raw octet.
FrameDecoder::Step FrameDecoder::try_frame(std::size_t start, std::size_t& end) {
  std::size_t pos = start + 1;
  // Reads one unescaped octet; false with `bad` set when the escaping is broken.
  bool bad = false;
  const auto next = [&](std::uint8_t& octet) {
    if (pos >= buffer_.size()) return false;
    const std::uint8_t raw = buffer_[pos];
    if (mode_ == ApiMode::escaped) {
      if (raw == kStartDelimiter) {  // AP=2 never sends a bare 0x7E inside a frame
        bad = true;
        return false;
      }
      if (raw == kEscape) {
        if (pos + 1 >= buffer_.size()) return false;
        octet = static_cast<std::uint8_t>(buffer_[pos + 1] ^ kEscapeXor);
        if (!needs_escape(octet)) {
          bad = true;
          return false;
        }
        pos += 2;
        return true;
      }
    }
    octet = raw;
    ++pos;
    return true;
  };

  std::uint8_t hi = 0;
  std::uint8_t lo = 0;
  if (!next(hi) || !next(lo)) return bad ? Step::bad : Step::need_more;
  const std::size_t length = (static_cast<std::size_t>(hi) << 8) | lo;
  if (length == 0 || length > max_frame_data_) return Step::bad;

  frame_data_.clear();
  std::uint8_t sum = 0;
  for (std::size_t i = 0; i <= length; ++i) {  // the frame data, then the checksum
    std::uint8_t octet = 0;
    if (!next(octet)) return bad ? Step::bad : Step::need_more;
    sum = static_cast<std::uint8_t>(sum + octet);
    if (i < length) frame_data_.push_back(octet);
  }
  if (sum != 0xFF) return Step::bad;
  end = pos;
  return Step::frame;
}

void FrameDecoder::feed(std::span<const std::uint8_t> bytes, const FrameSink& on_frame) {
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
  std::size_t start = 0;
  while (start < buffer_.size()) {
    if (buffer_[start] != kStartDelimiter) {
      ++start;
      ++counters_.bytes_skipped;
      continue;
    }
    std::size_t end = 0;
    const Step step = try_frame(start, end);
    if (step == Step::need_more) break;
    if (step == Step::bad) {
      ++counters_.bad_frames;
      ++counters_.bytes_skipped;  // the candidate's 0x7E; the rest is searched again
      ++start;
      continue;
    }
    ++counters_.frames;
    if (on_frame) on_frame(frame_data_);
    start = end;
  }
  buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(start));
}

}  // namespace transports::xbee
