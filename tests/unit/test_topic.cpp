// Topic rules: UTF-8 validity (MQTT 3.1.1 §1.5.3), topic names vs filters and wildcard matching
// (MQTT 3.1.1 §4.7, which MQTT-SN v1.2 §6 defers to), and MQTT-SN short topic names (§3, §6.7).

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "sn_protocol/topic.hpp"

using namespace std::string_view_literals;

// ---- UTF-8 --------------------------------------------------------------------------------------

TEST_CASE("§5.3.12 UTF-8 well-formed strings are valid") {
  CHECK(sn::is_valid_utf8(""));
  CHECK(sn::is_valid_utf8("sensors/room-1/temp"));
  CHECK(sn::is_valid_utf8("\x01"));              // control characters are well-formed
  CHECK(sn::is_valid_utf8("caf\xC3\xA9"));       // U+00E9, 2 octets
  CHECK(sn::is_valid_utf8("\xC2\x80"));          // U+0080, smallest 2-octet form
  CHECK(sn::is_valid_utf8("\xDF\xBF"));          // U+07FF, largest 2-octet form
  CHECK(sn::is_valid_utf8("\xE0\xA0\x80"));      // U+0800, smallest 3-octet form
  CHECK(sn::is_valid_utf8("\xE2\x82\xAC"));      // U+20AC euro sign
  CHECK(sn::is_valid_utf8("\xED\x9F\xBF"));      // U+D7FF, just below the surrogates
  CHECK(sn::is_valid_utf8("\xEE\x80\x80"));      // U+E000, just above the surrogates
  CHECK(sn::is_valid_utf8("\xEF\xBF\xBF"));      // U+FFFF, largest 3-octet form
  CHECK(sn::is_valid_utf8("\xF0\x90\x80\x80"));  // U+10000, smallest 4-octet form
  CHECK(sn::is_valid_utf8("\xF0\x9D\x84\x9E"));  // U+1D11E musical symbol G clef
  CHECK(sn::is_valid_utf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF, the last code point
}

TEST_CASE("§5.3.12 UTF-8 overlong encodings are invalid") {
  CHECK_FALSE(sn::is_valid_utf8("\xC0\xAF"));          // '/' in 2 octets
  CHECK_FALSE(sn::is_valid_utf8("\xC0\x80"));          // U+0000 in 2 octets (modified UTF-8)
  CHECK_FALSE(sn::is_valid_utf8("\xC1\xBF"));          // U+007F in 2 octets
  CHECK_FALSE(sn::is_valid_utf8("\xE0\x80\xAF"));      // '/' in 3 octets
  CHECK_FALSE(sn::is_valid_utf8("\xE0\x9F\xBF"));      // U+07FF in 3 octets
  CHECK_FALSE(sn::is_valid_utf8("\xF0\x80\x80\xAF"));  // '/' in 4 octets
  CHECK_FALSE(sn::is_valid_utf8("\xF0\x8F\xBF\xBF"));  // U+FFFF in 4 octets
}

TEST_CASE("§5.3.12 UTF-8 lone and missing continuation octets are invalid") {
  CHECK_FALSE(sn::is_valid_utf8("\x80"));
  CHECK_FALSE(sn::is_valid_utf8("a\xBF\x62"));         // "a", continuation, "b"
  CHECK_FALSE(sn::is_valid_utf8("\xC3"));              // 2-octet sequence cut short
  CHECK_FALSE(sn::is_valid_utf8("\xC3\x61"));          // lead octet followed by "a"
  CHECK_FALSE(sn::is_valid_utf8("\xE2\x82"));          // 3-octet sequence cut short
  CHECK_FALSE(sn::is_valid_utf8("\xF0\x9D\x84"));      // 4-octet sequence cut short
  CHECK_FALSE(sn::is_valid_utf8("\xE2\x82\xAC\xAC"));  // one continuation octet too many
}

TEST_CASE("§5.3.12 UTF-8 surrogates are invalid") {
  CHECK_FALSE(sn::is_valid_utf8("\xED\xA0\x80"));              // U+D800
  CHECK_FALSE(sn::is_valid_utf8("\xED\xBF\xBF"));              // U+DFFF
  CHECK_FALSE(sn::is_valid_utf8("\xED\xA0\xBD\xED\xB2\xA9"));  // CESU-8 surrogate pair
}

TEST_CASE("§5.3.12 UTF-8 beyond U+10FFFF and never-used octets are invalid") {
  CHECK_FALSE(sn::is_valid_utf8("\xF4\x90\x80\x80"));  // U+110000
  CHECK_FALSE(sn::is_valid_utf8("\xF5\x80\x80\x80"));
  CHECK_FALSE(sn::is_valid_utf8("\xF8\x88\x80\x80\x80"));
  CHECK_FALSE(sn::is_valid_utf8("\xFE"));
  CHECK_FALSE(sn::is_valid_utf8("\xFF"));
}

TEST_CASE("§5.3.12 UTF-8 with U+0000 is invalid") {
  CHECK_FALSE(sn::is_valid_utf8("\0"sv));
  CHECK_FALSE(sn::is_valid_utf8("a\0b"sv));
  CHECK_FALSE(sn::is_valid_utf8("a/b\0"sv));
}

// ---- Topic names and filters --------------------------------------------------------------------

TEST_CASE("MQTT 3.1.1 §4.7 valid topic names") {
  CHECK(sn::is_valid_topic_name("a"));
  CHECK(sn::is_valid_topic_name("a/b/c"));
  CHECK(sn::is_valid_topic_name("/"));
  CHECK(sn::is_valid_topic_name("/finance"));
  CHECK(sn::is_valid_topic_name("a//c"));
  CHECK(sn::is_valid_topic_name("$SYS/broker/load"));
  CHECK(sn::is_valid_topic_name("caf\xC3\xA9/temp"));
  CHECK(sn::is_valid_topic_name(" "));
}

TEST_CASE("MQTT 3.1.1 §4.7 topic names with wildcards are invalid") {
  CHECK_FALSE(sn::is_valid_topic_name("+"));
  CHECK_FALSE(sn::is_valid_topic_name("#"));
  CHECK_FALSE(sn::is_valid_topic_name("a/+"));
  CHECK_FALSE(sn::is_valid_topic_name("a/+/b"));
  CHECK_FALSE(sn::is_valid_topic_name("a/#"));
  CHECK_FALSE(sn::is_valid_topic_name("a+b"));
  CHECK_FALSE(sn::is_valid_topic_name("a#"));
}

TEST_CASE("MQTT 3.1.1 §4.7.3 empty and malformed topic names are invalid") {
  CHECK_FALSE(sn::is_valid_topic_name(""));
  CHECK_FALSE(sn::is_valid_topic_name("a\0b"sv));
  CHECK_FALSE(sn::is_valid_topic_name("a/\xC0\xAF"));
  CHECK_FALSE(sn::is_valid_topic_name("\xED\xA0\x80"));
}

TEST_CASE("MQTT 3.1.1 §4.7 valid topic filters") {
  CHECK(sn::is_valid_topic_filter("a/b"));
  CHECK(sn::is_valid_topic_filter("a/+/b"));
  CHECK(sn::is_valid_topic_filter("a/#"));
  CHECK(sn::is_valid_topic_filter("#"));
  CHECK(sn::is_valid_topic_filter("+"));
  CHECK(sn::is_valid_topic_filter("+/+"));
  CHECK(sn::is_valid_topic_filter("/+"));
  CHECK(sn::is_valid_topic_filter("+/#"));
  CHECK(sn::is_valid_topic_filter("/"));
  CHECK(sn::is_valid_topic_filter("a//b"));
  CHECK(sn::is_valid_topic_filter("$SYS/#"));
}

TEST_CASE("MQTT 3.1.1 §4.7.1 misplaced wildcards make invalid filters") {
  CHECK_FALSE(sn::is_valid_topic_filter("a+"));
  CHECK_FALSE(sn::is_valid_topic_filter("+a"));
  CHECK_FALSE(sn::is_valid_topic_filter("a/b+/c"));
  CHECK_FALSE(sn::is_valid_topic_filter("a/#/b"));
  CHECK_FALSE(sn::is_valid_topic_filter("#/a"));
  CHECK_FALSE(sn::is_valid_topic_filter("a#"));
  CHECK_FALSE(sn::is_valid_topic_filter("a/b#"));
  CHECK_FALSE(sn::is_valid_topic_filter("##"));
  CHECK_FALSE(sn::is_valid_topic_filter("++"));
}

TEST_CASE("MQTT 3.1.1 §4.7.3 empty and malformed filters are invalid") {
  CHECK_FALSE(sn::is_valid_topic_filter(""));
  CHECK_FALSE(sn::is_valid_topic_filter("a/\0"sv));
  CHECK_FALSE(sn::is_valid_topic_filter("\x80/#"));
}

TEST_CASE("MQTT 3.1.1 §4.7.3 topics may be 65535 octets but no longer") {
  const std::string longest(65535, 'a');
  const std::string too_long(65536, 'a');
  CHECK(sn::is_valid_topic_name(longest));
  CHECK(sn::is_valid_topic_filter(longest));
  CHECK_FALSE(sn::is_valid_topic_name(too_long));
  CHECK_FALSE(sn::is_valid_topic_filter(too_long));
}

TEST_CASE("MQTT 3.1.1 §4.7.1 has_wildcards") {
  CHECK(sn::has_wildcards("a/+"));
  CHECK(sn::has_wildcards("a/#"));
  CHECK(sn::has_wildcards("#"));
  CHECK(sn::has_wildcards("+/b"));
  CHECK_FALSE(sn::has_wildcards("a/b"));
  CHECK_FALSE(sn::has_wildcards("$SYS/x"));
}

// ---- Matching -----------------------------------------------------------------------------------

TEST_CASE("MQTT 3.1.1 §4.7 a filter without wildcards matches only the same topic") {
  CHECK(sn::matches("a/b", "a/b"));
  CHECK_FALSE(sn::matches("a/b", "a/b/"));
  CHECK_FALSE(sn::matches("a/b", "a"));
  CHECK_FALSE(sn::matches("a/b", "/a/b"));
  CHECK_FALSE(sn::matches("ACCOUNTS", "Accounts"));  // §4.7.3: case-sensitive
}

TEST_CASE("MQTT 3.1.1 §4.7.1.2 multi-level wildcard") {
  CHECK(sn::matches("sport/tennis/player1/#", "sport/tennis/player1"));
  CHECK(sn::matches("sport/tennis/player1/#", "sport/tennis/player1/ranking"));
  CHECK(sn::matches("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon"));
  CHECK_FALSE(sn::matches("sport/tennis/player1/#", "sport/tennis/player2"));
  CHECK_FALSE(sn::matches("sport/tennis/#", "sport/tennisplayer"));
  CHECK(sn::matches("#", "a/b/c"));
  CHECK(sn::matches("#", "/"));
  CHECK(sn::matches("/#", "/x"));
}

TEST_CASE("MQTT 3.1.1 §4.7.1.2 a/# matches the parent level a") {
  CHECK(sn::matches("a/#", "a"));
  CHECK(sn::matches("a/#", "a/"));
  CHECK(sn::matches("a/#", "a/b"));
  CHECK_FALSE(sn::matches("a/#", "ab"));
  CHECK_FALSE(sn::matches("a/#", "b"));
}

TEST_CASE("MQTT 3.1.1 §4.7.1.3 single-level wildcard") {
  CHECK(sn::matches("sport/tennis/+", "sport/tennis/player1"));
  CHECK(sn::matches("sport/tennis/+", "sport/tennis/player2"));
  CHECK_FALSE(sn::matches("sport/tennis/+", "sport/tennis/player1/ranking"));
  CHECK_FALSE(sn::matches("sport/+", "sport"));
  CHECK(sn::matches("sport/+", "sport/"));
  CHECK(sn::matches("+", "a"));
  CHECK(sn::matches("+/tennis/#", "sport/tennis/player1"));
}

TEST_CASE("MQTT 3.1.1 §4.7.1.3 a/+ does not match a/b/c") {
  CHECK_FALSE(sn::matches("a/+", "a/b/c"));
  CHECK(sn::matches("a/+", "a/b"));
}

TEST_CASE("MQTT 3.1.1 §4.7.1.3 plus matches an empty level") {
  CHECK(sn::matches("+/+", "/finance"));
  CHECK(sn::matches("/+", "/finance"));
  CHECK_FALSE(sn::matches("+", "/finance"));
  CHECK(sn::matches("a/+/c", "a//c"));
  CHECK(sn::matches("+/+", "/"));
}

TEST_CASE("MQTT 3.1.1 §4.7.2 wildcards at the start do not match topics starting with dollar") {
  CHECK_FALSE(sn::matches("#", "$SYS/x"));
  CHECK_FALSE(sn::matches("#", "$SYS"));
  CHECK_FALSE(sn::matches("+/x", "$SYS/x"));
  CHECK_FALSE(sn::matches("+/monitor/Clients", "$SYS/monitor/Clients"));
  CHECK_FALSE(sn::matches("+", "$SYS"));
  CHECK(sn::matches("#", "SYS/x"));
}

TEST_CASE("MQTT 3.1.1 §4.7.2 filters naming the dollar level match it") {
  CHECK(sn::matches("$SYS/#", "$SYS/x"));
  CHECK(sn::matches("$SYS/#", "$SYS"));
  CHECK(sn::matches("$SYS/monitor/+", "$SYS/monitor/Clients"));
  CHECK(sn::matches("$SYS/x", "$SYS/x"));
  CHECK_FALSE(sn::matches("$SYS/#", "SYS/x"));
  CHECK(sn::matches("a/+", "a/$b"));  // only the first level is special
}

// ---- Short topic names --------------------------------------------------------------------------

TEST_CASE("§3 §6.7 short topic name travels first character in the high octet") {
  static_assert(sn::short_topic_id('a', 'b') == 0x6162);
  static_assert(sn::short_topic_id('\xFF', '\x80') == 0xFF80);  // no sign extension of char
  CHECK(sn::short_topic_name(0x6162) == "ab");
  CHECK(sn::short_topic_name(sn::short_topic_id('t', '1')) == "t1");
  CHECK(sn::short_topic_name(0x3030) == "00");
}

TEST_CASE("§3 §6.7 short_topic_name and short_topic_id round-trip every 16-bit value") {
  int mismatches = 0;
  for (std::uint32_t id = 0; id <= 0xFFFF; ++id) {
    const auto topic_id = static_cast<std::uint16_t>(id);
    const std::string name = sn::short_topic_name(topic_id);
    if (name.size() != 2 || sn::short_topic_id(name[0], name[1]) != topic_id) {
      ++mismatches;
    }
  }
  CHECK(mismatches == 0);
}
