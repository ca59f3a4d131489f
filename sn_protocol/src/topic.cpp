#include "sn_protocol/topic.hpp"

#include <cstddef>
#include <string_view>

namespace sn {
namespace {

constexpr std::size_t kMaxTopicSize = 65535;

bool in(unsigned char c, unsigned lo, unsigned hi) { return c >= lo && c <= hi; }

// Length of the level starting at `from` (up to the next '/' or the end).
std::size_t level_end(std::string_view s, std::size_t from) {
  const std::size_t slash = s.find('/', from);
  return slash == std::string_view::npos ? s.size() : slash;
}

}  // namespace

// RFC 3629 §4 syntax, with U+0000 refused as MQTT 3.1.1 §1.5.3 requires.
bool is_valid_utf8(std::string_view text) {
  std::size_t i = 0;
  const std::size_t n = text.size();
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  while (i < n) {
    const unsigned char c = at(i);
    if (c == 0x00) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t extra = 0;
    unsigned lo = 0x80;
    unsigned hi = 0xBF;  // allowed range of the second octet
    if (in(c, 0xC2, 0xDF)) {
      extra = 1;
    } else if (c == 0xE0) {
      extra = 2, lo = 0xA0;  // no overlong 3-octet forms
    } else if (in(c, 0xE1, 0xEC) || in(c, 0xEE, 0xEF)) {
      extra = 2;
    } else if (c == 0xED) {
      extra = 2, hi = 0x9F;  // no UTF-16 surrogates
    } else if (c == 0xF0) {
      extra = 3, lo = 0x90;  // no overlong 4-octet forms
    } else if (in(c, 0xF1, 0xF3)) {
      extra = 3;
    } else if (c == 0xF4) {
      extra = 3, hi = 0x8F;  // nothing above U+10FFFF
    } else {
      return false;  // continuation octet, C0/C1 overlong lead, or F5..FF
    }
    if (n - i <= extra) return false;
    if (!in(at(i + 1), lo, hi)) return false;
    for (std::size_t k = 2; k <= extra; ++k) {
      if (!in(at(i + k), 0x80, 0xBF)) return false;
    }
    i += extra + 1;
  }
  return true;
}

bool has_wildcards(std::string_view filter) {
  return filter.find_first_of("+#") != std::string_view::npos;
}

bool is_valid_topic_name(std::string_view topic) {
  return !topic.empty() && topic.size() <= kMaxTopicSize && !has_wildcards(topic) &&
         is_valid_utf8(topic);
}

bool is_valid_topic_filter(std::string_view filter) {
  if (filter.empty() || filter.size() > kMaxTopicSize || !is_valid_utf8(filter)) return false;
  std::size_t from = 0;
  for (;;) {
    const std::size_t end = level_end(filter, from);
    const std::string_view level = filter.substr(from, end - from);
    const bool last = end == filter.size();
    if (level.find('#') != std::string_view::npos && (level != "#" || !last)) return false;
    if (level.find('+') != std::string_view::npos && level != "+") return false;
    if (last) return true;
    from = end + 1;
  }
}

bool matches(std::string_view filter, std::string_view topic) {
  // MQTT 3.1.1 §4.7.2: wildcards at the first level never match topics starting with '$'.
  if (!topic.empty() && topic.front() == '$' && !filter.empty() &&
      (filter.front() == '+' || filter.front() == '#')) {
    return false;
  }
  std::size_t f = 0;
  std::size_t t = 0;
  for (;;) {
    const std::size_t f_end = level_end(filter, f);
    const std::string_view f_level = filter.substr(f, f_end - f);
    if (f_level == "#") return true;
    const std::size_t t_end = level_end(topic, t);
    if (f_level != "+" && f_level != topic.substr(t, t_end - t)) return false;
    const bool f_last = f_end == filter.size();
    const bool t_last = t_end == topic.size();
    if (f_last || t_last) {
      // "a/#" also matches its parent "a" (MQTT 3.1.1 §4.7.1.2).
      return f_last == t_last || (t_last && filter.substr(f_end + 1) == "#");
    }
    f = f_end + 1;
    t = t_end + 1;
  }
}

std::string short_topic_name(std::uint16_t topic_id) {
  return {static_cast<char>(topic_id >> 8), static_cast<char>(topic_id & 0xFFU)};
}

}  // namespace sn
