#pragma once
// Reading a parsed JSON document into config values while tracking the JSON path, so every
// problem is reported as "path: what is wrong". Internal to gateway_config.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

namespace gateway::config::detail {

using Json = nlohmann::json;

[[noreturn]] void fail(const std::string& json_path, std::string problem);

// "gateway" + "id" -> "gateway.id"; "" + "gateway" -> "gateway".
std::string member_path(std::string_view parent, std::string_view key);
// "transports" + 0 -> "transports[0]".
std::string element_path(std::string_view parent, std::size_t index);

// A value quoted as JSON ("serial", "a\"b"), for messages that echo what the user wrote.
std::string json_quoted(const std::string& text);

std::int64_t require_integer(const Json& value, const std::string& json_path, std::int64_t lo,
                             std::int64_t hi);

// One JSON object of a document the schema has accepted (schema.hpp): its keys, their types and
// ranges are as the schema says, so reading is taking values; the JSON path is kept for the
// checks a schema cannot state.
class ObjectReader {
 public:
  ObjectReader(const Json& value, std::string json_path)
      : value_(value), path_(std::move(json_path)) {}

  const Json& value() const { return value_; }
  const std::string& path() const { return path_; }
  std::string path(std::string_view key) const { return member_path(path_, key); }

  // nullptr when the key is absent.
  const Json* find(std::string_view key) const;

  // The value of `key`, or `fallback` when it is absent.
  template <typename T>
  T get(std::string_view key, T fallback) const {
    const auto* member = find(key);
    return member == nullptr ? fallback : member->get<T>();
  }
  // A duration written as a count of its unit (`interval_ms`, `idle_timeout_s`).
  template <typename Duration>
  Duration duration(std::string_view key, Duration fallback) const {
    return Duration(get<typename Duration::rep>(key, fallback.count()));
  }

 private:
  const Json& value_;
  std::string path_;
};

// A file the gateway must read at start, named with its JSON path when it is not there, is a
// directory (or is not one, with `directory`) or is not readable. A relative path is taken from
// `base` (the config file's directory). Empty when the key is absent.
std::string read_file_path(const ObjectReader& section, std::string_view key, bool directory,
                           const std::filesystem::path& base);

}  // namespace gateway::config::detail
