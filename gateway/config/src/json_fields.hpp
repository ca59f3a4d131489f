#pragma once
// Reading a parsed JSON document into config values while tracking the JSON path, so every
// problem is reported as "path: what is wrong". Internal to gateway_config.

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <filesystem>
#include <string>
#include <string_view>

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

void require_object(const Json& value, const std::string& json_path);
void require_array(const Json& value, const std::string& json_path);
const std::string& require_string(const Json& value, const std::string& json_path);
std::int64_t require_integer(const Json& value, const std::string& json_path, std::int64_t lo,
                             std::int64_t hi);

// One JSON object of the config. Construction checks that it is an object and that it has no key
// outside `known_keys` (a misspelt key must not silently become a default).
class ObjectReader {
 public:
  ObjectReader(const Json& value, std::string json_path,
               std::initializer_list<std::string_view> known_keys);

  const std::string& path() const { return path_; }
  std::string path(std::string_view key) const { return member_path(path_, key); }

  // nullptr when the key is absent.
  const Json* find(std::string_view key) const;
  // Fails with "required key is missing" when absent.
  const Json& require(std::string_view key) const;

  // Each returns `fallback` when the key is absent and fails when it has the wrong type or range.
  std::int64_t integer(std::string_view key, std::int64_t lo, std::int64_t hi,
                       std::int64_t fallback) const;
  bool boolean(std::string_view key, bool fallback) const;
  std::string string(std::string_view key, std::string fallback) const;

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
