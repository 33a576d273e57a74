#include "src/text/json_schema.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace gemma4::text {

namespace {

using nlohmann::json;

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// The JSON-Schema type name of a value.
std::string type_of(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "integer";
    case json::value_t::number_float:
      return "number";
    case json::value_t::string:
      return "string";
    case json::value_t::array:
      return "array";
    default:
      return "object";
  }
}

bool matches(const json& v, const std::string& type) {
  if (type == "number") return v.is_number();
  if (type == "integer") {
    if (v.is_number_integer()) return true;
    return v.is_number_float() && std::trunc(v.get<double>()) == v.get<double>();
  }
  return type_of(v) == type;
}

class Checker {
 public:
  explicit Checker(std::string function) : function_(std::move(function)) {}

  void check(const json& value, const json& schema, const std::string& path, int depth) {
    if (!schema.is_object() || depth > 64) return;  // no constraints we understand
    std::vector<std::string> types;
    if (auto t = schema.find("type"); t != schema.end()) {
      if (t->is_string()) types.push_back(lower(t->get<std::string>()));
      if (t->is_array()) {
        for (const auto& x : *t) {
          if (x.is_string()) types.push_back(lower(x.get<std::string>()));
        }
      }
    }
    const bool nullable =
        schema.value("nullable", false) || std::find(types.begin(), types.end(), "null") != types.end();
    if (value.is_null() && nullable) return;
    if (!types.empty() &&
        std::none_of(types.begin(), types.end(), [&](const std::string& t) { return matches(value, t); })) {
      problem(path, fmt::format("expected {}, got {}", fmt::join(types, " or "), type_of(value)));
      return;
    }
    if (auto e = schema.find("enum"); e != schema.end() && e->is_array()) {
      if (std::find(e->begin(), e->end(), value) == e->end()) {
        problem(path, fmt::format("{} is not one of {}", value.dump(), e->dump()));
      }
    }
    if (value.is_object()) check_object(value, schema, path, depth);
    if (value.is_array()) {
      if (auto items = schema.find("items"); items != schema.end()) {
        for (std::size_t i = 0; i < value.size(); ++i)
          check(value[i], *items, fmt::format("{}[{}]", path, i), depth + 1);
      }
    }
  }

  void check_object(const json& value, const json& schema, const std::string& path, int depth) {
    const auto props = schema.find("properties");
    const bool has_props = props != schema.end() && props->is_object();
    if (auto req = schema.find("required"); req != schema.end() && req->is_array()) {
      for (const auto& name : *req) {
        if (name.is_string() && !value.contains(name.get<std::string>())) {
          problem(path, fmt::format("missing required '{}'", name.get<std::string>()));
        }
      }
    }
    const bool closed = schema.value("additionalProperties", true) == false;
    for (const auto& [key, v] : value.items()) {
      if (has_props && props->contains(key)) {
        check(v, (*props)[key], path + "." + key, depth + 1);
      } else if (closed) {
        problem(path, fmt::format("unexpected property '{}'", key));
      }
    }
  }

  std::vector<std::string> take() { return std::move(problems_); }

 private:
  void problem(const std::string& path, const std::string& what) {
    problems_.push_back(fmt::format("{}: {}: {}", function_, path, what));
  }

  std::string function_;
  std::vector<std::string> problems_;
};

}  // namespace

std::vector<std::string> check_tool_call(const ToolCall& call, const json& tools) {
  std::vector<std::string> names;
  if (tools.is_array()) {
    for (const auto& tool : tools) {
      const auto fn = tool.find("function");
      if (fn == tool.end() || !fn->is_object()) continue;
      const auto name = fn->find("name");
      if (name == fn->end() || !name->is_string()) continue;
      if (*name != call.name) {
        names.push_back(name->get<std::string>());
        continue;
      }
      Checker checker(call.name);
      const auto params = fn->find("parameters");
      if (params != fn->end() && params->is_object()) {
        checker.check(call.arguments, *params, "arguments", 0);
      } else if (!call.arguments.empty()) {
        return {fmt::format("{}: takes no arguments, got {}", call.name, call.arguments.dump())};
      }
      return checker.take();
    }
  }
  return {fmt::format("unknown function '{}' (declared: {})", call.name,
                      names.empty() ? std::string("none") : fmt::format("{}", fmt::join(names, ", ")))};
}

}  // namespace gemma4::text
