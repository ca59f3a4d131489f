#pragma once
// Certificates and keys made by the tests themselves (OpenSSL's API, P-256 keys, SHA-256
// signatures): a certificate authority, and server or client certificates it signs with the
// names, validity and role a case needs: an expired one, one for another host, one from an
// authority the other side does not trust. PEM text; write it where a broker or the gateway
// reads it.

#include <filesystem>
#include <string>
#include <vector>

namespace test_pki {

struct Pem {
  std::string certificate;
  std::string key;
};

struct Subject {
  std::string common_name;
  std::vector<std::string> dns_names;     // subjectAltName DNS entries
  std::vector<std::string> ip_addresses;  // subjectAltName IP entries
  // Validity relative to now, in days: [not_before_days, not_after_days]. An expired
  // certificate: {-30, -1}.
  int not_before_days = -1;
  int not_after_days = 30;
};

class Authority {
 public:
  // A self-signed CA certificate (basicConstraints CA:TRUE) named `common_name`.
  explicit Authority(const std::string& common_name);
  const Pem& pem() const { return pem_; }
  // A leaf certificate for `subject`, signed by this authority, with a key of its own.
  Pem issue(const Subject& subject) const;

 private:
  Pem pem_;
};

// Writes `text` to `path` (mode 0644, readable by a broker that dropped its privileges).
void write_file(const std::filesystem::path& path, const std::string& text);

}  // namespace test_pki
