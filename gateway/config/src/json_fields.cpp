#include "json_fields.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include <utility>

#include "gateway/config/config.hpp"

namespace gateway::config::detail {

void fail(const std::string& json_path, std::string problem) {
  throw ConfigError(json_path, std::move(problem));
}

std::string member_path(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  std::string path(parent);
  path += '.';
  path += key;
  return path;
}

std::string element_path(std::string_view parent, std::size_t index) {
  return std::string(parent) + "[" + std::to_string(index) + "]";
}

std::string json_quoted(const std::string& text) {
  // replace: a message must never throw over a byte that slipped past the parser.
  return Json(text).dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::int64_t require_integer(const Json& value, const std::string& json_path, std::int64_t lo,
                             std::int64_t hi) {
  // One message for wrong type and wrong range: either way the user needs to know both bounds.
  const auto problem =
      "expected an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
  if (!value.is_number_integer()) fail(json_path, problem);
  if (value.is_number_unsigned()) {
    const auto unsigned_value = value.get<std::uint64_t>();
    if (unsigned_value > static_cast<std::uint64_t>(hi) ||
        static_cast<std::int64_t>(unsigned_value) < lo) {
      fail(json_path, problem);
    }
    return static_cast<std::int64_t>(unsigned_value);
  }
  const auto signed_value = value.get<std::int64_t>();
  if (signed_value < lo || signed_value > hi) fail(json_path, problem);
  return signed_value;
}

const Json* ObjectReader::find(std::string_view key) const {
  const auto it = value_.find(key);
  return it == value_.end() ? nullptr : &*it;
}

// A file the gateway must read at start: named with its JSON path when it is not there. A
// relative path is taken from `base` (the config file's directory): certificates sit next to the
// file that names them, wherever the gateway was started.
std::string read_file_path(const ObjectReader& section, std::string_view key, bool directory,
                           const std::filesystem::path& base) {
  auto path = section.get<std::string>(key, {});
  if (path.empty()) return path;
  if (std::filesystem::path(path).is_relative() && !base.empty()) path = (base / path).string();
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (error || !std::filesystem::exists(status)) {
    fail(section.path(key), json_quoted(path) + " does not exist");
  }
  if (directory != std::filesystem::is_directory(status)) {
    fail(section.path(key), json_quoted(path) + (directory ? " is not a directory" : " is a directory"));
  }
  if (::access(path.c_str(), R_OK) != 0) {
    fail(section.path(key), json_quoted(path) + " is not readable: " + std::strerror(errno));
  }
  return path;
}

}  // namespace gateway::config::detail
