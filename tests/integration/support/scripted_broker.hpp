#pragma once
// A minimal MQTT server on a free loopback port that answers from a script, for the broker answers
// mosquitto will not give on demand: a CONNACK refusal with a chosen code, a SUBACK failure
// (mosquitto 2.0's ACL file never refuses a SUBSCRIBE). MQTT 3.1.1 and 5, one client at a time;
// it answers CONNECT, SUBSCRIBE, UNSUBSCRIBE and PINGREQ and ignores everything else.

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

namespace test_support {

class ScriptedBroker {
 public:
  struct Script {
    std::uint8_t connack_code = 0x00;  // 3.1.1 return code or 5 reason code
    std::uint8_t suback_code = 0x00;   // granted QoS, or a failure code (0x80, 0x87, ...)
    bool answer_connect = true;        // false: accept TCP, then stay silent (connect timeout)
  };

  explicit ScriptedBroker(Script script);
  ScriptedBroker(const ScriptedBroker&) = delete;
  ScriptedBroker& operator=(const ScriptedBroker&) = delete;
  ~ScriptedBroker();

  std::string uri() const;

 private:
  void run();
  void serve(int client);

  Script script_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace test_support
