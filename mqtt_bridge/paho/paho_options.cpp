#include "paho_options.hpp"

#include <mqtt/async_client.h>
#include <mqtt/properties.h>
#include <mqtt/will_options.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string_view>

// Paho MQTT C++ 1.2 builds disconnect_options on MQTTAsync_disconnectOptions_initializer, whose
// struct_version 0 makes Paho C ignore the reason code (and properties): set_reason_code() alone
// would send a plain DISCONNECT and the broker would discard the will. 1.2 offers no public way to
// raise the version; this class is the unit-test hook its header befriends, used for that one
// field. If a newer Paho removes the friend this stops compiling: then use its MQTT 5 disconnect
// options.
static_assert(mqtt::VERSION < 0x01030000,
              "check whether Paho's disconnect_options still needs this");
namespace mqtt {
class disconnect_options_test {
 public:
  static void use_v5_struct(disconnect_options& options) { options.opts_.struct_version = 1; }
};
}  // namespace mqtt

namespace mqtt_bridge::detail {

namespace {

// MQTT 3.1.1 §3.2.2.3, CONNACK return codes.
constexpr int kConnackServerUnavailable = 3;
constexpr int kConnackMaxRefusal = 5;
// MQTT 5 reason codes are one byte.
constexpr int kMaxReasonCode = 0xFF;

// MQTT 5 §3.2.2.2: refusals that say "not now" rather than "not you". Quota and connection rate
// are the broker shedding load, which the gateway answers like an unreachable broker (congestion).
bool is_transient_v5_refusal(int reason_code) {
  switch (reason_code) {
    case mqtt::ReasonCode::SERVER_UNAVAILABLE:
    case mqtt::ReasonCode::SERVER_BUSY:
    case mqtt::ReasonCode::QUOTA_EXCEEDED:
    case mqtt::ReasonCode::CONNECTION_RATE_EXCEEDED: return true;
    default: return false;
  }
}

// MQTT 5 §3.1.2.11.2: 0xFFFFFFFF means the session never expires, which is what MQTT 3.1.1 gives a
// client that connects with clean session = 0.
constexpr std::int32_t kSessionNeverExpires = -1;  // 0xFFFFFFFF as Paho's int32_t property value

}  // namespace

void validate(const BrokerOptions& options) {
  if (options.mqtt_version != 4 && options.mqtt_version != 5) {
    throw std::invalid_argument("mqtt_version must be 4 (MQTT 3.1.1) or 5 (MQTT 5.0), got " +
                                std::to_string(options.mqtt_version));
  }
  const std::string_view uri = options.uri;
  const auto scheme_end = uri.find("://");
  if (scheme_end == std::string_view::npos || scheme_end == 0) {
    throw std::invalid_argument("broker URI '" + options.uri +
                                "' has no scheme (expected e.g. tcp://host:1883)");
  }
  const auto host = uri.substr(scheme_end + 3);
  if (host.empty() || host.front() == ':' || host.front() == '/') {
    throw std::invalid_argument("broker URI '" + options.uri + "' has no host");
  }
}

mqtt::create_options make_create_options(const BrokerOptions& options) {
  mqtt::create_options create(options.mqtt_version == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1);
  // Paho C refuses a publish with MQTTASYNC_MAX_BUFFERED_MESSAGES once this many wait for its send
  // thread, connected or not (default 100). A burst of QoS 0 from many clients passes that easily:
  // the bench lost 18-72 % of QoS 0 there. The loop thread is the only producer and each waiting
  // message is bounded by what the transports can read, so a generous limit is safe.
  create.set_max_buffered_messages(options.max_queued_messages > 0
                                       ? static_cast<int>(std::min<std::size_t>(
                                             options.max_queued_messages, kMaxBufferedMessages))
                                       : kMaxBufferedMessages);
  return create;
}

mqtt::ssl_options make_ssl_options(const TlsOptions& tls) {
  mqtt::ssl_options ssl;
  // Paho C 1.3 loads the system's store itself when neither is given.
  if (!tls.ca_file.empty()) ssl.set_trust_store(tls.ca_file);
  if (!tls.ca_path.empty()) ssl.ca_path(tls.ca_path);
  if (!tls.cert_file.empty()) ssl.set_key_store(tls.cert_file);
  if (!tls.key_file.empty()) ssl.set_private_key(tls.key_file);
  // enableServerCertAuth checks the chain, verify the host name (X509_check_host / _ip_asc).
  ssl.set_enable_server_cert_auth(tls.verify);
  ssl.set_verify(tls.verify);
  // The config refuses "1.3" for Paho (it has no TLS 1.3 minimum); 1.2 is OpenSSL 3's own floor.
  ssl.set_ssl_version(MQTT_SSL_VERSION_TLS_1_2);
  if (!tls.alpn.empty()) ssl.set_alpn_protos(tls.alpn);
  return ssl;
}

mqtt::connect_options make_connect_options(const BrokerOptions& options,
                                           const ConnectRequest& request) {
  mqtt::connect_options opts;
  if (is_tls_uri(options.uri)) opts.set_ssl(make_ssl_options(options.tls));
  const bool v5 = options.mqtt_version == 5;
  // Set the version first: Paho clears the other version's clean flag when it changes.
  opts.set_mqtt_version(v5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1);
  if (v5) {
    opts.set_clean_start(request.clean_session);
    if (!request.clean_session) {
      opts.set_properties(
          mqtt::properties{{mqtt::property::SESSION_EXPIRY_INTERVAL, kSessionNeverExpires}});
    }
  } else {
    opts.set_clean_session(request.clean_session);
  }
  opts.set_keep_alive_interval(request.keep_alive);
  opts.set_connect_timeout(options.connect_timeout);
  opts.set_automatic_reconnect(false);
  const std::string& username = request.credentials ? request.credentials->username : options.username;
  const std::string& password = request.credentials ? request.credentials->password : options.password;
  if (!username.empty()) {
    opts.set_user_name(username);
    if (!password.empty()) opts.set_password(password);
  }
  if (request.will) {
    const Will& will = *request.will;
    opts.set_will(mqtt::will_options(will.topic, will.payload.data(), will.payload.size(), will.qos,
                                     will.retain));
  }
  return opts;
}

mqtt::disconnect_options make_disconnect_with_will_options() {
  mqtt::disconnect_options options;
  mqtt::disconnect_options_test::use_v5_struct(options);
  options.set_reason_code(mqtt::ReasonCode::DISCONNECT_WITH_WILL_MESSAGE);
  return options;
}

ConnectFailure classify_connect_failure(int mqtt_version, int return_code, int reason_code) {
  if (mqtt_version == 5) {
    // Paho C 1.3 reports an MQTT 5 CONNACK refusal as the failure's return code; look at the
    // reason code too in case a later version moves it there.
    int code = return_code;
    if (reason_code >= mqtt::ReasonCode::UNSPECIFIED_ERROR && reason_code != mqtt::MQTTPP_V3_CODE) {
      code = reason_code;
    }
    if (code >= mqtt::ReasonCode::UNSPECIFIED_ERROR && code <= kMaxReasonCode &&
        !is_transient_v5_refusal(code)) {
      return ConnectFailure::refused;
    }
    return ConnectFailure::unavailable;
  }
  if (return_code > 0 && return_code <= kConnackMaxRefusal &&
      return_code != kConnackServerUnavailable) {
    return ConnectFailure::refused;
  }
  return ConnectFailure::unavailable;
}

std::string describe_failure(const mqtt::token& token) {
  const int rc = token.get_return_code();
  const int reason = token.get_reason_code();
  std::string text;
  if (rc > 0 && rc <= kConnackMaxRefusal) {
    text = "CONNACK return code " + std::to_string(rc);
  } else if (rc >= mqtt::ReasonCode::UNSPECIFIED_ERROR && rc <= kMaxReasonCode) {
    text = "reason code " + std::to_string(rc) + " (" + mqtt::exception::reason_code_str(rc) + ")";
  } else {
    text = "paho error " + std::to_string(rc);
    if (const std::string rc_text = mqtt::exception::error_str(rc); !rc_text.empty()) {
      text += " (" + rc_text + ")";
    }
  }
  if (reason > 0 && reason != rc && reason != mqtt::MQTTPP_V3_CODE) {
    text += ", reason code " + std::to_string(reason) + " (" +
            mqtt::exception::reason_code_str(reason) + ")";
  }
  return text;
}

}  // namespace mqtt_bridge::detail
