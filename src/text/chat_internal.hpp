// Internal pieces of the chat renderer shared by chat.cpp (turns) and
// chat_format.cpp (tool declarations and argument values). The official
// templates are Jinja run by Python, so a byte-exact rendering needs Python's
// notions of truth, str(), strip() and Jinja's dictsort; they live here.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/text/chat.hpp"

namespace gemma4::text::chat_detail {

using json = nlohmann::json;

// Appends segments, merging neighbouring text.
class PromptBuilder {
 public:
  void text(std::string_view s);
  void special(ChatToken token);
  // <|"|>s<|"|>: how the format quotes strings.
  void quoted(std::string_view s) {
    special(ChatToken::kQuote);
    text(s);
    special(ChatToken::kQuote);
  }
  RenderedPrompt finish() { return std::move(prompt_); }

 private:
  RenderedPrompt prompt_;
};

// A key of an object, or nullptr when `value` is not an object or lacks the
// key (Jinja's undefined, which the templates treat like a missing value).
const json* get(const json& value, std::string_view key);

// Python truthiness: null, false, 0, "", [] and {} are false.
bool truthy(const json* value);

// Python's str() of a scalar as Jinja prints it: strings as they are, True and
// False capitalised, None for null, floats in repr form (1.0, 1e+20). `what`
// names the value for the error thrown on arrays and objects.
std::string py_str(const json& value, std::string_view what);

// Python's str.strip(): removes Unicode whitespace at both ends.
std::string py_strip(std::string_view s);

// ASCII upper-casing (schema type names are ASCII).
std::string ascii_upper(std::string_view s);

// Jinja's dictsort: keys compared case-insensitively (ASCII), ties kept in the
// object's own order (nlohmann::json keeps keys sorted bytewise).
std::vector<std::pair<std::string, const json*>> dictsort(const json& object);

// format_argument: a JSON value in the Gemma 4 tool syntax. Keys are bare
// (tool calls, tool responses) or <|"|>-quoted (inside declarations).
void format_argument(PromptBuilder& out, const json& value, bool quote_keys, int depth = 0);

// "declaration:NAME{description:...,parameters:{...}}" for one tool.
void format_declaration(PromptBuilder& out, const json& tool, std::size_t index);

}  // namespace gemma4::text::chat_detail
