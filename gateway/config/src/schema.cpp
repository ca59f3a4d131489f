// configs/schema.json at work: validation through valijson, its failures said in the gateway's
// words, the key table of configs/README.md, and the keys a reload applies.

#include "schema.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <string_view>
#include <utility>
#include <vector>

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "gateway/config/config.hpp"

namespace gateway::config {
namespace detail {

extern const std::string_view kSchemaText;  // schema_text.cpp, made from configs/schema.json

namespace {

using Schema = nlohmann::ordered_json;

// The compiled schema valijson validates with. Its parse of the schema is plain nlohmann::json
// (the adapter's type); the ordered copy above keeps the written order for people.
class CompiledSchema {
 public:
  CompiledSchema() : document_(Json::parse(kSchemaText)) {
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    const valijson::adapters::NlohmannJsonAdapter adapter(document_);
    parser.populateSchema(adapter, schema_);
  }
  const valijson::Schema& schema() const { return schema_; }

 private:
  Json document_;
  valijson::Schema schema_;
};

const CompiledSchema& compiled() {
  static const CompiledSchema compiled_schema;
  return compiled_schema;
}

// --- Explaining a failure ---------------------------------------------------------------------

// The `then` of an `if` that holds for `value`. The schema's conditions are of one shape: `const`
// values of properties, and `required` (the transport type decides which keys an entry may have).
bool condition_holds(const Schema& condition, const Json& value) {
  if (!value.is_object()) return false;
  if (const auto required = condition.find("required"); required != condition.end()) {
    for (const auto& key : *required) {
      if (!value.contains(key.get<std::string>())) return false;
    }
  }
  if (const auto properties = condition.find("properties"); properties != condition.end()) {
    for (const auto& [key, property] : properties->items()) {
      const auto member = value.find(key);
      const auto constant = property.find("const");
      if (member != value.end() && constant != property.end() && *member != Json(*constant)) {
        return false;
      }
    }
  }
  return true;
}

// Every schema that applies to `value`: the node's own and the `then` of each `if` it meets.
std::vector<const Schema*> applicable(const Schema& node, const Json& value) {
  std::vector<const Schema*> schemas{&node};
  if (const auto all_of = node.find("allOf"); all_of != node.end()) {
    for (const auto& branch : *all_of) {
      const auto condition = branch.find("if");
      const auto then = branch.find("then");
      if (condition != branch.end() && then != branch.end() && condition_holds(*condition, value)) {
        schemas.push_back(&*then);
      }
    }
  }
  return schemas;
}

bool is_type(const Json& value, std::string_view type) {
  if (type == "integer") return value.is_number_integer();
  if (type == "number") return value.is_number();
  if (type == "string") return value.is_string();
  if (type == "boolean") return value.is_boolean();
  if (type == "object") return value.is_object();
  if (type == "array") return value.is_array();
  if (type == "null") return value.is_null();
  return false;
}

bool has_type(const Json& value, const Schema& type) {
  if (type.is_string()) return is_type(value, type.get<std::string>());
  return std::any_of(type.begin(), type.end(),
                     [&](const Schema& one) { return is_type(value, one.get<std::string>()); });
}

std::string text_of(const Schema& node, const char* key) {
  const auto found = node.find(key);
  return found != node.end() && found->is_string() ? found->get<std::string>() : std::string();
}

// A value listed for the reader: quoted when it would read as a number ("1.2", "5").
std::string listed(const Schema& value) {
  if (!value.is_string()) return value.dump();
  const auto& text = value.get_ref<const std::string&>();
  return !text.empty() && text[0] >= '0' && text[0] <= '9' ? value.dump() : text;
}

std::string enum_list(const Schema& values) {
  std::string list;
  for (const auto& value : values) list += (list.empty() ? "" : ", ") + listed(value);
  return list;
}

// What the node expects, as the message for a value of the wrong type or out of range.
std::string expectation(const Schema& node, const std::string& path) {
  if (auto message = text_of(node, "x-message"); !message.empty()) return message;
  const auto values = node.find("enum");
  const auto what = text_of(node, "x-what");
  if (values != node.end() && text_of(node, "type") == "integer") {
    return "expected a " + (what.empty() ? std::string("value") : what) + " (" +
           enum_list(*values) + ")";
  }
  if (values != node.end()) return "expected a string (one of " + enum_list(*values) + ")";
  const auto type = text_of(node, "type");
  if (type == "integer" && node.contains("minimum") && node.contains("maximum")) {
    return "expected an integer from " + node["minimum"].dump() + " to " + node["maximum"].dump();
  }
  if (type == "integer") return "expected an integer";
  if (type == "boolean") return "expected true or false";
  if (type == "string") return "expected a string";
  if (type == "array") return "expected an array";
  if (type == "object") {
    return path.empty() ? "expected an object at the top level" : "expected an object";
  }
  return {};
}

struct Problem {
  std::string path;
  std::string message;
};

// What is wrong with `value` itself under `schemas` (not with its members or elements), if the
// schema says it in a way we can put in words.
std::optional<Problem> explain(const std::vector<const Schema*>& schemas, const Json& value,
                               const std::string& path) {
  const Schema& own = *schemas.front();
  const auto fail_with = [&](std::string message) {
    return std::optional<Problem>(Problem{path, std::move(message)});
  };
  if (const auto type = own.find("type"); type != own.end() && !has_type(value, *type)) {
    return fail_with(expectation(own, path));
  }
  if (const auto values = own.find("enum"); values != own.end()) {
    const bool listed_value = std::any_of(values->begin(), values->end(),
                                          [&](const Schema& one) { return Json(one) == value; });
    if (!listed_value) {
      if (!value.is_string()) return fail_with(expectation(own, path));
      const auto what = text_of(own, "x-what");
      const auto verb = text_of(own, "x-verb");
      return fail_with((verb.empty() ? "unsupported" : verb) + " " +
                       (what.empty() ? std::string("value") : what) + " " + json_quoted(value.get<std::string>()) +
                       " (supported: " + enum_list(*values) + ")");
    }
  }
  if (value.is_number_integer()) {
    const auto number = value.get<std::int64_t>();
    const auto below = own.find("minimum");
    const auto above = own.find("maximum");
    const bool unsigned_huge = value.is_number_unsigned() && value.get<std::uint64_t>() > INT64_MAX;
    if ((below != own.end() && !unsigned_huge && number < below->get<std::int64_t>()) ||
        (above != own.end() && (unsigned_huge || number > above->get<std::int64_t>()))) {
      return fail_with(expectation(own, path));
    }
  }
  if (value.is_string()) {
    // JSON Schema counts characters (code points), as valijson does.
    const auto& text = value.get_ref<const std::string&>();
    const auto characters = static_cast<std::size_t>(std::count_if(
        text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
    const auto shortest = own.value("minLength", std::size_t{0});
    const auto longest = own.value("maxLength", std::size_t{SIZE_MAX});
    if (characters < shortest || characters > longest) {
      if (auto message = text_of(own, "x-message"); !message.empty()) return fail_with(message);
      if (characters == 0) return fail_with("must not be empty");
      return fail_with("expected " + std::to_string(shortest) + " to " + std::to_string(longest) +
                       " characters");
    }
  }
  if (value.is_array()) {
    const auto what = text_of(own, "x-what");
    if (value.size() < own.value("minItems", std::size_t{0})) {
      return fail_with("expected at least " +
                       (own["minItems"] == 1 ? std::string("one") : own["minItems"].dump()) + " " +
                       (what.empty() ? std::string("entry") : what));
    }
    if (value.size() > own.value("maxItems", std::size_t{SIZE_MAX})) {
      return fail_with("expected at most " + own["maxItems"].dump() + " " +
                       (what.empty() ? std::string("entries") : what + "s"));
    }
  }
  if (value.is_object()) {
    for (const Schema* schema : schemas) {
      if (const auto required = schema->find("required"); required != schema->end()) {
        for (const auto& key : *required) {
          if (!value.contains(key.get<std::string>())) {
            return Problem{member_path(path, key.get<std::string>()), "required key is missing"};
          }
        }
      }
    }
    for (const auto& [key, member] : value.items()) {
      for (const Schema* schema : schemas) {
        const auto properties = schema->find("properties");
        const bool known = properties != schema->end() && properties->contains(key);
        if (!known && schema->value("additionalProperties", true) == false) {
          return Problem{member_path(path, key), "unknown key"};
        }
      }
    }
  }
  return std::nullopt;
}

// The schema of a member or an element: the first applicable schema that describes it (a variant
// may redeclare a common key as `{}` only to allow it).
std::vector<const Schema*> child_schemas(const std::vector<const Schema*>& schemas,
                                         const Json& child, const std::string* key) {
  static const Schema kAnything = Schema::object();
  const Schema* found = nullptr;
  for (const Schema* schema : schemas) {
    const Schema* candidate = nullptr;
    if (key != nullptr) {
      const auto properties = schema->find("properties");
      if (properties != schema->end() && properties->contains(*key)) {
        candidate = &(*properties)[*key];
      }
    } else if (const auto items = schema->find("items"); items != schema->end()) {
      candidate = &*items;
    }
    if (candidate != nullptr && (found == nullptr || (found->empty() && !candidate->empty()))) {
      found = candidate;
    }
  }
  return applicable(found != nullptr ? *found : kAnything, child);
}

// valijson's context ("<root>", "[gateway]", "[id]") walked through the document and the schema;
// the explanation of the value it ends at.
std::optional<Problem> explain_at(const Json& document, const std::vector<std::string>& context) {
  const Json* value = &document;
  std::string path;
  auto schemas = applicable(schema(), document);
  for (std::size_t i = 1; i < context.size(); ++i) {
    const auto& step = context[i];
    if (step.size() < 2 || step.front() != '[' || step.back() != ']') return std::nullopt;
    const auto name = step.substr(1, step.size() - 2);
    if (value->is_array()) {
      std::size_t index = 0;
      const auto [end, error] = std::from_chars(name.data(), name.data() + name.size(), index);
      if (error != std::errc() || end != name.data() + name.size() || index >= value->size()) {
        return std::nullopt;
      }
      value = &(*value)[index];
      path = element_path(path, index);
      schemas = child_schemas(schemas, *value, nullptr);
    } else if (value->is_object() && value->contains(name)) {
      value = &(*value)[name];
      path = member_path(path, name);
      schemas = child_schemas(schemas, *value, &name);
    } else {
      return std::nullopt;
    }
  }
  return explain(schemas, *value, path);
}

std::string context_path(const std::vector<std::string>& context) {
  std::string path;
  for (std::size_t i = 1; i < context.size(); ++i) path += context[i];
  return path;
}

}  // namespace

const nlohmann::ordered_json& schema() {
  static const Schema document = Schema::parse(kSchemaText);
  return document;
}

void validate_against_schema(const Json& document) {
  valijson::Validator validator(valijson::Validator::kStrongTypes);
  valijson::ValidationResults results;
  const valijson::adapters::NlohmannJsonAdapter target(document);
  if (validator.validate(compiled().schema(), target, &results)) return;
  // Errors come innermost first; the first one we can say in words is the message. valijson's
  // own description stands when none can (a schema construct explain() does not know).
  std::optional<valijson::ValidationResults::Error> first;
  valijson::ValidationResults::Error error;
  while (results.popError(error)) {
    if (auto problem = explain_at(document, error.context)) fail(problem->path, problem->message);
    if (!first) first = error;
  }
  if (first) fail(context_path(first->context), first->description);
  fail({}, "refused by the schema");
}

namespace {

Schema ordered(const Json& value, const std::vector<const Schema*>& schemas) {
  if (value.is_array()) {
    Schema out = Schema::array();
    for (const auto& element : value) {
      out.push_back(ordered(element, child_schemas(schemas, element, nullptr)));
    }
    return out;
  }
  if (!value.is_object()) return Schema(value);
  Schema out = Schema::object();
  for (const Schema* schema : schemas) {
    const auto properties = schema->find("properties");
    if (properties == schema->end()) continue;
    for (const auto& [key, property] : properties->items()) {
      if (value.contains(key) && !out.contains(key)) {
        out[key] = ordered(value[key], child_schemas(schemas, value[key], &key));
      }
    }
  }
  for (const auto& [key, member] : value.items()) {
    if (!out.contains(key)) out[key] = Schema(member);
  }
  return out;
}

}  // namespace

nlohmann::ordered_json in_schema_order(const Json& document) {
  return ordered(document, applicable(schema(), document));
}

const std::vector<std::string>& reloadable_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> found;
    const auto walk = [&found](const auto& self, const Schema& node, const std::string& path) -> void {
      if (node.value("x-reload", false)) found.push_back(path);
      if (const auto properties = node.find("properties"); properties != node.end()) {
        for (const auto& [key, property] : properties->items()) {
          self(self, property, member_path(path, key));
        }
      }
    };
    walk(walk, schema(), {});
    return found;
  }();
  return keys;
}

}  // namespace detail

// --- The key table of configs/README.md -----------------------------------------------------

namespace {

using Schema = nlohmann::ordered_json;

// JSON on one line with a space after ',' and ':', as people write it in prose.
std::string inline_json(const Schema& value) {
  if (value.is_array()) {
    std::string text = "[";
    for (std::size_t i = 0; i < value.size(); ++i) text += (i ? ", " : "") + inline_json(value[i]);
    return text + "]";
  }
  if (value.is_object()) {
    std::string text = "{";
    bool first = true;
    for (const auto& [key, member] : value.items()) {
      text += (first ? "" : ", ") + Schema(key).dump() + ": " + inline_json(member);
      first = false;
    }
    return text + "}";
  }
  return value.dump();
}

std::string type_cell(const Schema& node) {
  if (const auto text = node.find("x-type"); text != node.end()) return text->get<std::string>();
  if (const auto values = node.find("enum"); values != node.end()) {
    std::string cell;
    for (const auto& value : *values) {
      if (value.is_string()) {
        cell += (cell.empty() ? "`" : " \\| `") + value.dump() + "`";
      } else {
        cell += (cell.empty() ? "" : ", ") + value.dump();
      }
    }
    return cell;
  }
  const auto type = node.value("type", std::string());
  if (type == "integer" && node.contains("minimum") && node.contains("maximum")) {
    return "integer " + node["minimum"].dump() + ".." + node["maximum"].dump();
  }
  if (type == "array") {
    const auto items = node.find("items");
    if (items != node.end() && items->value("type", Schema()) == "string") return "array of strings";
    if (items != node.end() && items->value("type", Schema()) == "object") return "array of objects";
  }
  return type;
}

std::string default_cell(const Schema& node, bool required) {
  if (const auto value = node.find("default"); value != node.end()) {
    return "`" + inline_json(*value) + "`";
  }
  if (const auto text = node.find("x-default"); text != node.end()) return text->get<std::string>();
  return required ? "required" : "";
}

void add_rows(const Schema& object, const std::string& path, const std::string& variant,
              std::string& table) {
  const auto required = object.value("required", Schema::array());
  if (const auto properties = object.find("properties"); properties != object.end()) {
    for (const auto& [key, node] : properties->items()) {
      if (node.empty()) continue;  // allowed here, described by the entry's common keys
      const auto child = path.empty() ? key : path + "." + key;
      if (node.contains("description")) {
        const auto applies = node.value("x-applies", variant);
        const bool is_required = std::find(required.begin(), required.end(), key) != required.end();
        table += "| `" + child + "`" + (applies.empty() ? "" : " (" + applies + ")") + " | " +
                 type_cell(node) + " | " + default_cell(node, is_required) + " | " +
                 node["description"].get<std::string>() + " |\n";
      }
      const auto type = node.value("type", Schema());
      if (type == "object") add_rows(node, child, {}, table);
      if (type == "array" && node.contains("items") && node["items"].is_object()) {
        add_rows(node["items"], child + "[i]", {}, table);
      }
    }
  }
  if (const auto all_of = object.find("allOf"); all_of != object.end()) {
    for (const auto& branch : *all_of) {
      if (const auto then = branch.find("then"); then != branch.end()) {
        add_rows(*then, path, then->value("title", std::string()), table);
      }
    }
  }
}

}  // namespace

std::string_view schema_text() { return detail::kSchemaText; }

std::string key_table_markdown() {
  std::string text = "SIGHUP applies ";
  const auto& keys = detail::reloadable_keys();
  for (std::size_t i = 0; i < keys.size(); ++i) {
    text += (i == 0 ? "" : i + 1 == keys.size() ? " and " : ", ") + ("`" + keys[i] + "`");
  }
  text += " while clients are served; any other change is logged as needing a restart (README, "
          "\"Command line\").\n\n| Key | Type | Default | Meaning |\n|---|---|---|---|\n";
  add_rows(detail::schema(), {}, {}, text);
  return text;
}

}  // namespace gateway::config
