#pragma once
// Topic rules shared by MQTT and MQTT-SN: UTF-8 validity, topic names vs filters, wildcard
// matching (MQTT 3.1.1 §4.7, which MQTT-SN v1.2 §6 defers to), and the two-character short topic
// names of MQTT-SN (§3, §6.7). Pure functions; any thread may call them.

#include <cstdint>
#include <string>
#include <string_view>

namespace sn {

// Well-formed UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF) without U+0000.
bool is_valid_utf8(std::string_view text);

// A topic a message can be published to: non-empty, valid UTF-8, at most 65535 octets, no '+'
// or '#'.
bool is_valid_topic_name(std::string_view topic);

// A subscription filter: non-empty, valid UTF-8, at most 65535 octets; '+' only as a whole level,
// '#' only as the whole last level.
bool is_valid_topic_filter(std::string_view filter);

// True when the filter has '+' or '#'.
bool has_wildcards(std::string_view filter);

// Does `topic` (a valid name) match `filter` (a valid filter)? "a/#" matches "a" (the parent
// level); a filter starting with '+' or '#' does not match topics starting with '$'.
bool matches(std::string_view filter, std::string_view topic);

// Short topic names (TopicIdType short_name) travel in the 2-octet TopicId field, the first
// character in the high octet.
constexpr std::uint16_t short_topic_id(char first, char second) {
  return static_cast<std::uint16_t>((static_cast<unsigned char>(first) << 8) |
                                    static_cast<unsigned char>(second));
}
std::string short_topic_name(std::uint16_t topic_id);

}  // namespace sn
