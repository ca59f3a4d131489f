#pragma once
// TLS towards the broker (ssl:// and mqtts:// URIs): one type for the configuration
// (`upstream.tls`, gateway/config) and both upstream clients. Plain values, no OpenSSL or Paho
// header, so the config library can hold it without depending on either.

#include <cstdint>
#include <string>
#include <vector>

namespace mqtt_bridge {

enum class TlsVersion : std::uint8_t { v1_2, v1_3 };

struct TlsOptions {
  // Trust anchors for the broker's certificate: a PEM file and/or a directory of hashed PEM
  // files (c_rehash). Both empty: the system's default store (/etc/ssl/certs).
  std::string ca_file;
  std::string ca_path;
  // Our client certificate (PEM, chain allowed) and its private key; the key may also sit in
  // cert_file, then key_file stays empty.
  std::string cert_file;
  std::string key_file;
  // false: the broker's certificate chain and host name are not checked (logged as a warning at
  // start). Never the default.
  bool verify = true;
  // The name sent as SNI and checked against the certificate; empty: the URI's host.
  std::string server_name;
  TlsVersion min_version = TlsVersion::v1_2;
  // ALPN protocols offered, in order (AWS IoT Core on port 443 wants "x-amzn-mqtt-ca").
  std::vector<std::string> alpn;

  bool operator==(const TlsOptions&) const = default;
};

inline const char* to_string(TlsVersion version) {
  return version == TlsVersion::v1_3 ? "1.3" : "1.2";
}

// True for the URI schemes that mean TLS ("ssl://", "mqtts://").
inline bool is_tls_uri(const std::string& uri) {
  return uri.starts_with("ssl://") || uri.starts_with("mqtts://");
}

}  // namespace mqtt_bridge
