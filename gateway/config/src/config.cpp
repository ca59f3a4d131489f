#include "gateway/config/config.hpp"

#include <utility>

namespace gateway::config {
namespace {

std::string describe(const std::string& file, const std::string& json_path,
                     const std::string& problem) {
  std::string text;
  for (const auto* part : {&file, &json_path}) {
    if (!part->empty()) text += *part + ": ";
  }
  return text + problem;
}

}  // namespace

ConfigError::ConfigError(std::string json_path, std::string problem, std::string file)
    : std::runtime_error(describe(file, json_path, problem)),
      json_path_(std::move(json_path)),
      problem_(std::move(problem)),
      file_(std::move(file)) {}

std::string_view to_string(GatewayMode mode) {
  switch (mode) {
    case GatewayMode::transparent: return "transparent";
    case GatewayMode::aggregating: return "aggregating";
  }
  return "?";
}

std::string_view to_string(LogLevel level) {
  switch (level) {
    case LogLevel::trace: return "trace";
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
  }
  return "?";
}

std::string_view to_string(UpstreamScheme scheme) {
  switch (scheme) {
    case UpstreamScheme::tcp: return "tcp";
    case UpstreamScheme::ssl: return "ssl";
    case UpstreamScheme::mqtt: return "mqtt";
    case UpstreamScheme::mqtts: return "mqtts";
  }
  return "?";
}

}  // namespace gateway::config
