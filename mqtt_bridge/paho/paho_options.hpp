#pragma once
// Translating our requests into Paho options and Paho outcomes back into our terms. Pure functions.

#include <mqtt/connect_options.h>
#include <mqtt/create_options.h>
#include <mqtt/disconnect_options.h>
#include <mqtt/ssl_options.h>
#include <mqtt/token.h>

#include <string>

#include "mqtt_bridge/upstream.hpp"

namespace mqtt_bridge::detail {

// Throws std::invalid_argument when the options cannot work (unknown MQTT version, URI without a
// scheme or host). Paho's own URI check runs when the first client is created.
void validate(const BrokerOptions& options);

// Messages Paho may hold per connection before publish() fails (see make_create_options).
inline constexpr int kMaxBufferedMessages = 65536;

// Persistence is chosen by the object passed to async_client (none: MQTTCLIENT_PERSISTENCE_NONE;
// CleanSession=false connections get received_qos2.hpp's); these options carry the MQTT version
// (Paho needs 5 at creation for MQTT 5) and the buffered-message limit.
mqtt::create_options make_create_options(const BrokerOptions& options);

// TLS for ssl:// and mqtts:// URIs (tls_options.hpp in Paho's terms). No error handler: Paho C++
// 1.2 copies ssl_options into the connect options and the client without moving the handler's
// context pointer along, and the handler then hangs Paho's thread (seen here); a failed TLS
// connect is explained by tls_probe.hpp instead.
mqtt::ssl_options make_ssl_options(const TlsOptions& tls);

// Keep-alive, clean session (MQTT 5: clean start + session expiry), will, credentials, version,
// connect timeout, TLS; never automatic reconnect (the gateway core decides when to reconnect).
mqtt::connect_options make_connect_options(const BrokerOptions& options,
                                           const ConnectRequest& request);

// MQTT 5 DISCONNECT with reason code 0x04 (§3.14.2.1): the broker publishes the will.
mqtt::disconnect_options make_disconnect_with_will_options();

// `return_code` is the Paho C code of the failed connect token (for MQTT 3.1.1 a CONNACK refusal
// arrives as its return code 1..5), `reason_code` the MQTT 5 CONNACK reason code (0 when none).
ConnectFailure classify_connect_failure(int mqtt_version, int return_code, int reason_code);

// A short human-readable reason for a failed token, for the `reason` fields of events.
std::string describe_failure(const mqtt::token& token);

}  // namespace mqtt_bridge::detail
