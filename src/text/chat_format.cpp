// Tool declarations and argument values in the Gemma 4 tool syntax, following
// the official template's macros (format_parameters, format_argument,
// format_function_declaration) including their quirks, so that prompts match
// what the models were trained on.
#include <fmt/format.h>
#include <gemma4/error.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>

#include "src/text/chat_internal.hpp"

namespace gemma4::text::chat_detail {
namespace {

// Python's repr() of a float: the shortest digits that round-trip, written in
// fixed notation when the decimal exponent is in (-4, 16], else as d.ddde+XX.
std::string python_float(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  std::array<char, 64> buf{};
  auto res = std::to_chars(buf.data(), buf.data() + buf.size(), v, std::chars_format::scientific);
  std::string sci(buf.data(), res.ptr);  // e.g. "-1.2345e+04"
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  const std::size_t e_pos = sci.find('e');
  std::string digits = sci.substr(0, e_pos);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exponent = std::stoi(sci.substr(e_pos + 1));
  const int decpt = exponent + 1;  // value = 0.DIGITS * 10^decpt
  const int n = static_cast<int>(digits.size());
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) return sign + "0." + std::string(static_cast<std::size_t>(-decpt), '0') + digits;
    if (decpt >= n) return sign + digits + std::string(static_cast<std::size_t>(decpt - n), '0') + ".0";
    return sign + digits.substr(0, static_cast<std::size_t>(decpt)) + "." +
           digits.substr(static_cast<std::size_t>(decpt));
  }
  std::string out = sign + digits.substr(0, 1);
  if (n > 1) out += "." + digits.substr(1);
  const int e = decpt - 1;
  return out + fmt::format("e{}{:02d}", e < 0 ? '-' : '+', std::abs(e));
}

void quoted_list(PromptBuilder& out, const json& items, std::string_view what) {
  out.text("[");
  bool first = true;
  if (items.is_array()) {
    for (const auto& item : items) {
      if (!first) out.text(",");
      first = false;
      out.quoted(py_str(item, what));
    }
  } else {
    // Jinja iterates a string's characters and an object's keys.
    throw Error(fmt::format("{} must be an array of names", what));
  }
  out.text("]");
}

// The upper-cased "type" of a schema node; "" when absent, as Jinja prints an
// undefined value.
std::string schema_type(const json& node, std::string_view what) {
  const json* type = get(node, "type");
  if (type == nullptr) return "";
  if (!type->is_primitive()) {
    throw Error(
        fmt::format("{} has a \"type\" that is not a single name; Gemma 4 declares one type per value "
                    "(use \"nullable\": true for optional values)",
                    what));
  }
  return ascii_upper(py_str(*type, what));
}

// format_parameters: the properties of an object schema, in key order. The
// names of JSON-Schema keywords are skipped, as the template does.
void format_parameters(PromptBuilder& out, const json& properties, const std::string& where, int depth) {
  if (depth > 64) throw Error(fmt::format("{}: schema nested deeper than 64 levels", where));
  if (!properties.is_object()) throw Error(fmt::format("{}: \"properties\" must be an object", where));
  static constexpr std::array<std::string_view, 5> kStandard = {"description", "type", "properties", "required",
                                                                "nullable"};
  bool found_first = false;
  for (const auto& [key, value_ptr] : dictsort(properties)) {
    if (std::find(kStandard.begin(), kStandard.end(), key) != kStandard.end()) continue;
    const json& value = *value_ptr;
    const std::string what = fmt::format("{}.{}", where, key);
    if (found_first) out.text(",");
    found_first = true;
    out.text(key + ":{");
    bool add_comma = false;
    auto comma = [&] {
      if (add_comma) out.text(",");
      add_comma = true;
    };
    if (const json* d = get(value, "description"); truthy(d)) {
      out.text("description:");
      out.quoted(py_str(*d, what + ".description"));
      add_comma = true;
    }
    const std::string type = schema_type(value, what);
    if (type == "STRING") {
      if (const json* e = get(value, "enum"); truthy(e)) {
        comma();
        out.text("enum:");
        format_argument(out, *e, true);
      }
    } else if (type == "ARRAY") {
      const json* items = get(value, "items");
      if (items != nullptr && items->is_object() && !items->empty()) {
        comma();
        out.text("items:{");
        bool first_item = true;
        for (const auto& [item_key, item_value] : dictsort(*items)) {
          if (item_value->is_null()) continue;
          if (!first_item) out.text(",");
          first_item = false;
          if (item_key == "properties") {
            out.text("properties:{");
            if (item_value->is_object()) format_parameters(out, *item_value, what + ".items", depth + 1);
            out.text("}");
          } else if (item_key == "required") {
            out.text("required:");
            quoted_list(out, *item_value, what + ".items.required");
          } else if (item_key == "type") {
            out.text("type:");
            if (item_value->is_string()) {
              format_argument(out, json(ascii_upper(item_value->get<std::string>())), true);
            } else if (item_value->is_array()) {
              json upper = json::array();
              for (const auto& t : *item_value) upper.push_back(ascii_upper(py_str(t, what + ".items.type")));
              format_argument(out, upper, true);
            } else {
              throw Error(fmt::format("{}.items.type must be a name or a list of names", what));
            }
          } else {
            out.text(item_key + ":");
            format_argument(out, *item_value, true);
          }
        }
        out.text("}");
      }
    }
    if (truthy(get(value, "nullable"))) {
      comma();
      out.text("nullable:true");
    }
    if (type == "OBJECT") {
      const json* props = get(value, "properties");
      if (props != nullptr && props->is_object()) {
        comma();
        out.text("properties:{");
        format_parameters(out, *props, what, depth + 1);
        out.text("}");
      } else if (value.is_object()) {
        // An object schema without "properties": the template lists the
        // node's own non-keyword keys as its properties.
        comma();
        out.text("properties:{");
        format_parameters(out, value, what, depth + 1);
        out.text("}");
      }
      if (const json* req = get(value, "required"); truthy(req)) {
        comma();
        out.text("required:");
        quoted_list(out, *req, what + ".required");
      }
    }
    comma();
    out.text("type:");
    out.quoted(type);
    out.text("}");
  }
}

}  // namespace

void format_argument(PromptBuilder& out, const json& value, bool quote_keys, int depth) {
  if (depth > 256) throw Error("chat: a tool argument or response is nested deeper than 256 levels");
  if (value.is_string()) {
    out.quoted(value.get_ref<const std::string&>());
  } else if (value.is_boolean()) {
    out.text(value.get<bool>() ? "true" : "false");
  } else if (value.is_object()) {
    out.text("{");
    bool first = true;
    for (const auto& [key, v] : dictsort(value)) {
      if (!first) out.text(",");
      first = false;
      if (quote_keys) {
        out.quoted(key);
      } else {
        out.text(key);
      }
      out.text(":");
      format_argument(out, *v, quote_keys, depth + 1);
    }
    out.text("}");
  } else if (value.is_array()) {
    out.text("[");
    bool first = true;
    for (const auto& v : value) {
      if (!first) out.text(",");
      first = false;
      format_argument(out, v, quote_keys, depth + 1);
    }
    out.text("]");
  } else {
    out.text(py_str(value, "value"));
  }
}

std::string py_str(const json& value, std::string_view what) {
  switch (value.type()) {
    case json::value_t::string:
      return value.get<std::string>();
    case json::value_t::boolean:
      return value.get<bool>() ? "True" : "False";
    case json::value_t::null:
      return "None";
    case json::value_t::number_integer:
      return std::to_string(value.get<std::int64_t>());
    case json::value_t::number_unsigned:
      return std::to_string(value.get<std::uint64_t>());
    case json::value_t::number_float:
      return python_float(value.get<double>());
    default:
      throw Error(fmt::format("{} must be a string or a number, not {}", what, value.type_name()));
  }
}

void format_declaration(PromptBuilder& out, const json& tool, std::size_t index) {
  const std::string where = fmt::format("tools[{}]", index);
  const json* fn = get(tool, "function");
  if (fn == nullptr || !fn->is_object()) {
    throw Error(
        fmt::format("{} has no \"function\" object (expected {{\"type\": \"function\", \"function\": "
                    "{{\"name\": ..., \"parameters\": ...}}}})",
                    where));
  }
  const json* name = get(*fn, "name");
  if (name == nullptr || !name->is_string() || name->get_ref<const std::string&>().empty()) {
    throw Error(fmt::format("{}.function.name must be a non-empty string", where));
  }
  const std::string tool_where = fmt::format("tool '{}'", name->get_ref<const std::string&>());
  out.text("declaration:" + name->get<std::string>() + "{description:");
  const json* description = get(*fn, "description");
  out.quoted(description == nullptr ? std::string() : py_str(*description, tool_where + " description"));
  const json* params = get(*fn, "parameters");
  if (truthy(params)) {
    out.text(",parameters:{");
    if (const json* props = get(*params, "properties"); truthy(props)) {
      out.text("properties:{");
      format_parameters(out, *props, tool_where, 0);
      out.text("},");
    }
    if (const json* req = get(*params, "required"); truthy(req)) {
      out.text("required:");
      quoted_list(out, *req, tool_where + " parameters.required");
      out.text(",");
    }
    if (const json* type = get(*params, "type"); truthy(type)) {
      out.text("type:");
      out.quoted(schema_type(*params, tool_where + " parameters"));
      out.text("}");
    }
  }
  if (const json* response = get(*fn, "response"); response != nullptr) {
    out.text(",response:{");
    if (const json* d = get(*response, "description"); truthy(d)) {
      out.text("description:");
      out.quoted(py_str(*d, tool_where + " response.description"));
      out.text(",");
    }
    if (schema_type(*response, tool_where + " response") == "OBJECT") {
      out.text("type:");
      out.quoted("OBJECT");
      out.text("}");
    }
  }
  out.text("}");
}

}  // namespace gemma4::text::chat_detail
