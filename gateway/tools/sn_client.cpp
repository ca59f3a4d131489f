#include "sn_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "sn_protocol/topic.hpp"

namespace sn_tools {

SnUdpClient::SnUdpClient(const std::string& host, std::uint16_t port) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  const std::string h = host == "localhost" ? "127.0.0.1" : host;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof(sockaddr_in6);
  } else {
    throw std::runtime_error("not an IP address: " + host);
  }
  fd_ = ::socket(addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  // connect() fixes the peer: only the gateway's datagrams are received.
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    const int err = errno;
    ::close(fd_);
    throw std::runtime_error(std::string("connect: ") + std::strerror(err));
  }
}

SnUdpClient::~SnUdpClient() {
  if (fd_ >= 0) ::close(fd_);
}

std::uint16_t SnUdpClient::local_port() const {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

void SnUdpClient::send(const sn::Message& message) {
  const sn::Bytes bytes = sn::encode(message);
  send_raw(bytes);
}

void SnUdpClient::send_raw(std::span<const std::uint8_t> bytes) {
  if (layer_ == nullptr) {
    send_datagram(bytes);
    return;
  }
  for (const auto& datagram : layer_->wrap(bytes)) send_datagram(datagram);
}

void SnUdpClient::send_datagram(std::span<const std::uint8_t> bytes) {
  if (::send(fd_, bytes.data(), bytes.size(), 0) < 0) {
    throw std::runtime_error(std::string("send: ") + std::strerror(errno));
  }
}

std::optional<sn::Bytes> SnUdpClient::receive_datagram(Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<std::uint8_t> buffer(65536);
  for (;;) {
    const auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    if (left.count() < 0) return std::nullopt;
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready <= 0) return std::nullopt;
    const ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), 0);
    if (n < 0) continue;  // ECONNREFUSED from an ICMP error: keep waiting
    buffer.resize(static_cast<std::size_t>(n));
    return buffer;
  }
}

std::optional<sn::Packet> SnUdpClient::receive(Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    while (!unwrapped_.empty()) {
      auto decoded = sn::decode(unwrapped_.front());
      unwrapped_.erase(unwrapped_.begin());
      if (decoded) return std::move(decoded).value();
    }
    const auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    if (left.count() < 0) return std::nullopt;
    auto datagram = receive_datagram(left);
    if (!datagram) return std::nullopt;
    if (layer_ == nullptr) {
      if (datagram->empty()) continue;
      auto decoded = sn::decode(*datagram);
      if (decoded) return std::move(decoded).value();
      continue;
    }
    std::vector<sn::Bytes> replies;
    unwrapped_ = layer_->unwrap(*datagram, replies);
    for (const auto& reply : replies) send_datagram(reply);
  }
}

std::uint16_t SnUdpClient::next_msg_id() {
  if (++msg_id_ == 0) msg_id_ = 1;
  return msg_id_;
}

void SnUdpClient::set_predefined(std::uint16_t id, std::string name) {
  predefined_.emplace_back(id, std::move(name));
}

std::optional<Received> SnUdpClient::deliver(const sn::Publish& publish) {
  const std::vector<std::pair<std::uint16_t, std::string>>* table = nullptr;
  std::string topic;
  switch (publish.topic_id_type) {
    case sn::TopicIdType::normal: table = &topics_; break;
    case sn::TopicIdType::predefined: table = &predefined_; break;
    case sn::TopicIdType::short_name: topic = sn::short_topic_name(publish.topic_id); break;
  }
  if (table != nullptr) {
    const auto it = std::find_if(table->begin(), table->end(),
                                 [&](const auto& e) { return e.first == publish.topic_id; });
    if (it == table->end()) {
      if (auto_answer_) {
        send(sn::PubAck{publish.topic_id, publish.msg_id, sn::ReturnCode::invalid_topic_id});
      }
      return std::nullopt;
    }
    topic = it->second;
  }
  return Received{topic, publish.data, publish.qos, publish.retain};
}

void SnUdpClient::handle_unsolicited(sn::Packet&& packet) {
  if (auto* reg = std::get_if<sn::Register>(&packet)) {
    if (!auto_answer_) return;
    topics_.emplace_back(reg->topic_id, reg->topic_name);
    send(sn::RegAck{reg->topic_id, reg->msg_id, sn::ReturnCode::accepted});
    return;
  }
  if (auto* publish = std::get_if<sn::Publish>(&packet)) {
    if (!auto_answer_) {
      unsolicited_.push_back(std::move(packet));
      return;
    }
    auto received = deliver(*publish);
    if (!received) return;
    if (publish->qos == sn::QoS::qos1) {
      send(sn::PubAck{publish->topic_id, publish->msg_id, sn::ReturnCode::accepted});
    } else if (publish->qos == sn::QoS::qos2) {
      send(sn::PubRec{publish->msg_id});
    }
    ready_.push_back(std::move(*received));
    return;
  }
  if (auto* pubrel = std::get_if<sn::PubRel>(&packet)) {
    if (auto_answer_) send(sn::PubComp{pubrel->msg_id});
    return;
  }
  unsolicited_.push_back(std::move(packet));
}

std::optional<Received> SnUdpClient::next_publish(Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (ready_.empty()) {
    const auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    auto packet = receive(left);
    if (!packet) return std::nullopt;
    handle_unsolicited(std::move(*packet));
  }
  Received first = std::move(ready_.front());
  ready_.erase(ready_.begin());
  return first;
}

std::optional<sn::ReturnCode> SnUdpClient::connect(const std::string& client_id,
                                                   std::uint16_t keep_alive_s, bool clean_session,
                                                   const std::string& will_topic,
                                                   const std::string& will_message,
                                                   sn::QoS will_qos, bool will_retain,
                                                   Millis timeout) {
  const bool will = !will_topic.empty();
  send(sn::Connect{will, clean_session, keep_alive_s, client_id});
  if (will) {
    if (!expect<sn::WillTopicReq>(timeout)) return std::nullopt;
    send(sn::WillTopic{will_qos, will_retain, will_topic});
    if (!expect<sn::WillMsgReq>(timeout)) return std::nullopt;
    send(sn::WillMsg{sn::Bytes(will_message.begin(), will_message.end())});
  }
  const auto connack = expect<sn::ConnAck>(timeout);
  if (!connack) return std::nullopt;
  return connack->return_code;
}

std::optional<std::uint16_t> SnUdpClient::register_topic(const std::string& name, Millis timeout) {
  const std::uint16_t id = next_msg_id();
  send(sn::Register{0, id, name});
  const auto regack = expect<sn::RegAck>(timeout);
  if (!regack || regack->msg_id != id || regack->return_code != sn::ReturnCode::accepted) {
    return std::nullopt;
  }
  return regack->topic_id;
}

bool SnUdpClient::publish(sn::TopicIdType type, std::uint16_t topic_id, const sn::Bytes& payload,
                          sn::QoS qos, bool retain, Millis timeout) {
  sn::Publish p;
  p.qos = qos;
  p.retain = retain;
  p.topic_id_type = type;
  p.topic_id = topic_id;
  p.data = payload;
  if (qos == sn::QoS::qos1 || qos == sn::QoS::qos2) p.msg_id = next_msg_id();
  send(p);
  if (qos == sn::QoS::qos1) {
    const auto puback = expect<sn::PubAck>(timeout);
    return puback && puback->msg_id == p.msg_id &&
           puback->return_code == sn::ReturnCode::accepted;
  }
  if (qos == sn::QoS::qos2) {
    const auto pubrec = expect<sn::PubRec>(timeout);
    if (!pubrec || pubrec->msg_id != p.msg_id) return false;
    send(sn::PubRel{p.msg_id});
    const auto pubcomp = expect<sn::PubComp>(timeout);
    return pubcomp && pubcomp->msg_id == p.msg_id;
  }
  return true;
}

std::optional<sn::SubAck> SnUdpClient::subscribe(const std::string& filter, sn::QoS qos,
                                                 Millis timeout) {
  sn::Subscribe s;
  s.qos = qos;
  s.msg_id = next_msg_id();
  s.topic_name = filter;
  send(s);
  auto suback = expect<sn::SubAck>(timeout);
  if (suback && suback->return_code == sn::ReturnCode::accepted && suback->topic_id != 0) {
    topics_.emplace_back(suback->topic_id, filter);
  }
  return suback;
}

std::optional<sn::SubAck> SnUdpClient::subscribe_id(sn::TopicIdType type, std::uint16_t id,
                                                    sn::QoS qos, Millis timeout) {
  sn::Subscribe s;
  s.qos = qos;
  s.msg_id = next_msg_id();
  s.topic_id_type = type;
  s.topic_id = id;
  send(s);
  return expect<sn::SubAck>(timeout);
}

bool SnUdpClient::unsubscribe(const std::string& filter, Millis timeout) {
  sn::Unsubscribe u;
  u.msg_id = next_msg_id();
  u.topic_name = filter;
  send(u);
  const auto unsuback = expect<sn::UnsubAck>(timeout);
  return unsuback && unsuback->msg_id == u.msg_id;
}

bool SnUdpClient::ping(Millis timeout) {
  send(sn::PingReq{});
  return expect<sn::PingResp>(timeout).has_value();
}

bool SnUdpClient::disconnect(Millis timeout) {
  send(sn::Disconnect{});
  return expect<sn::Disconnect>(timeout).has_value();
}

}  // namespace sn_tools
