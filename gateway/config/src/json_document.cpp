#include "json_document.hpp"

#include <set>
#include <string>
#include <vector>

#include "gateway/config/config.hpp"

namespace gateway::config::detail {
namespace {

// One open object or array while the parser walks the document.
struct Frame {
  bool is_array = false;
  std::set<std::string> keys;  // keys seen so far in this object
  std::string current_key;     // the member being parsed
  std::size_t elements = 0;    // elements begun so far in this array
};

std::string path_of(const std::vector<Frame>& stack) {
  std::string path;
  for (const auto& frame : stack) {
    path = frame.is_array ? element_path(path, frame.elements - 1)
                          : member_path(path, frame.current_key);
  }
  return path;
}

// A value or container starting inside an array is that array's next element.
void begin_element(std::vector<Frame>& stack) {
  if (!stack.empty() && stack.back().is_array) ++stack.back().elements;
}

// The "[json.exception.parse_error.101] " prefix helps nobody reading a config error.
std::string without_exception_id(const std::string& what) {
  const auto end_of_id = what.find("] ");
  return end_of_id == std::string::npos ? what : what.substr(end_of_id + 2);
}

}  // namespace

Json parse_json_document(std::string_view text) {
  std::vector<Frame> stack;
  const Json::parser_callback_t on_event = [&stack](int /*depth*/, Json::parse_event_t event,
                                                    Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        begin_element(stack);
        stack.push_back(Frame{event == Json::parse_event_t::array_start, {}, {}, 0});
        break;
      case Json::parse_event_t::object_end:
      case Json::parse_event_t::array_end: stack.pop_back(); break;
      case Json::parse_event_t::key: {
        auto& object = stack.back();
        object.current_key = parsed.get<std::string>();
        if (!object.keys.insert(object.current_key).second) fail(path_of(stack), "duplicate key");
        break;
      }
      case Json::parse_event_t::value: begin_element(stack); break;
    }
    return true;
  };
  try {
    return Json::parse(text.begin(), text.end(), on_event);
  } catch (const Json::parse_error& error) {
    throw ConfigError({}, without_exception_id(error.what()));
  }
}

}  // namespace gateway::config::detail
