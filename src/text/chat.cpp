// Conversation rendering: the turn structure of the official Gemma 4 template
// (system block with thinking switch and tool declarations, user/model turns,
// tool calls followed by their responses inside the same model turn, and the
// generation prompt).
#include "src/text/chat.hpp"

#include <fmt/format.h>
#include <gemma4/error.hpp>

#include <algorithm>
#include <array>
#include <optional>

#include "src/text/chat_internal.hpp"

namespace gemma4::text {

namespace {

struct TokenInfo {
  std::string_view text;
  std::int32_t id;
};

constexpr std::array<TokenInfo, 16> kTokens = {{
    {"<bos>", 2},
    {"<|turn>", 105},
    {"<turn|>", 106},
    {"<|think|>", 98},
    {"<|channel>", 100},
    {"<channel|>", 101},
    {"<|tool>", 46},
    {"<tool|>", 47},
    {"<|tool_call>", 48},
    {"<tool_call|>", 49},
    {"<|tool_response>", 50},
    {"<tool_response|>", 51},
    {"<|\"|>", 52},
    {"<|image|>", 258880},
    {"<|audio|>", 258881},
    {"<|video|>", 258884},
}};

}  // namespace

std::string_view chat_token_text(ChatToken token) {
  return kTokens.at(static_cast<std::size_t>(token)).text;
}
std::int32_t chat_token_id(ChatToken token) {
  return kTokens.at(static_cast<std::size_t>(token)).id;
}

std::string RenderedPrompt::text() const {
  std::string out;
  for (const auto& s : segments) out += s.text;
  return out;
}

namespace chat_detail {

void PromptBuilder::text(std::string_view s) {
  if (s.empty()) return;
  auto& segs = prompt_.segments;
  if (!segs.empty() && !segs.back().special) {
    segs.back().text += s;
  } else {
    segs.push_back(PromptSegment{false, std::string(s), -1});
  }
}

void PromptBuilder::special(ChatToken token) {
  prompt_.segments.push_back(PromptSegment{true, std::string(chat_token_text(token)), chat_token_id(token)});
}

const json* get(const json& value, std::string_view key) {
  if (!value.is_object()) return nullptr;
  auto it = value.find(key);
  return it == value.end() ? nullptr : &*it;
}

bool truthy(const json* value) {
  if (value == nullptr) return false;
  switch (value->type()) {
    case json::value_t::null:
      return false;
    case json::value_t::boolean:
      return value->get<bool>();
    case json::value_t::number_integer:
      return value->get<std::int64_t>() != 0;
    case json::value_t::number_unsigned:
      return value->get<std::uint64_t>() != 0;
    case json::value_t::number_float:
      return value->get<double>() != 0.0;
    case json::value_t::string:
      return !value->get_ref<const std::string&>().empty();
    default:
      return !value->empty();
  }
}

namespace {

// Length of the Python whitespace character starting at s[i], or 0.
std::size_t whitespace_at(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if ((c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20)) return 1;
  auto byte = [&](std::size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
  if (c == 0xC2 && (byte(1) == 0x85 || byte(1) == 0xA0)) return 2;  // U+0085, U+00A0
  if (c == 0xE1 && byte(1) == 0x9A && byte(2) == 0x80) return 3;    // U+1680
  if (c == 0xE2 && byte(1) == 0x80) {
    const unsigned b = byte(2);
    if ((b >= 0x80 && b <= 0x8A) || b == 0xA8 || b == 0xA9 || b == 0xAF) return 3;  // U+2000-200A, 2028, 2029, 202F
  }
  if (c == 0xE2 && byte(1) == 0x81 && byte(2) == 0x9F) return 3;  // U+205F
  if (c == 0xE3 && byte(1) == 0x80 && byte(2) == 0x80) return 3;  // U+3000
  return 0;
}

}  // namespace

std::string py_strip(std::string_view s) {
  std::size_t begin = 0;
  while (begin < s.size()) {
    const std::size_t n = whitespace_at(s, begin);
    if (n == 0) break;
    begin += n;
  }
  // From the end: step back over one UTF-8 character at a time.
  std::size_t end = s.size();
  while (end > begin) {
    std::size_t start = end - 1;
    while (start > begin && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80 && end - start < 3) --start;
    const std::size_t n = whitespace_at(s, start);
    if (n == 0 || start + n != end) break;
    end = start;
  }
  return std::string(s.substr(begin, end - begin));
}

std::string ascii_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

std::vector<std::pair<std::string, const json*>> dictsort(const json& object) {
  std::vector<std::pair<std::string, const json*>> items;
  for (auto it = object.begin(); it != object.end(); ++it) items.emplace_back(it.key(), &it.value());
  auto lower = [](const std::string& s) {
    std::string out = s;
    for (char& c : out) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
  };
  std::stable_sort(items.begin(), items.end(),
                   [&](const auto& a, const auto& b) { return lower(a.first) < lower(b.first); });
  return items;
}

}  // namespace chat_detail

namespace {

using chat_detail::get;
using chat_detail::json;
using chat_detail::PromptBuilder;
using chat_detail::truthy;

// What the last rendered message ended with; decides the closing tokens and
// whether a generation prompt follows (after a tool call or tool response the
// model continues its own turn).
enum class Last { kNone, kToolCall, kToolResponse, kOther };

// strip_thinking: drops every "<|channel>...<channel|>" block from an earlier
// model answer, then trims. Works on the text, as the template does.
std::string strip_thinking(std::string_view text) {
  std::string result;
  std::size_t pos = 0;
  constexpr std::string_view kEnd = "<channel|>";
  constexpr std::string_view kStart = "<|channel>";
  while (true) {
    const std::size_t end = text.find(kEnd, pos);
    const std::string_view part = text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    const std::size_t start = part.find(kStart);
    result += part.substr(0, start);
    if (end == std::string_view::npos) break;
    pos = end + kEnd.size();
  }
  return chat_detail::py_strip(result);
}

const std::string& string_field(const json& object, std::string_view key, const std::string& where) {
  const json* v = get(object, key);
  if (v == nullptr || !v->is_string()) throw Error(fmt::format("{}.{} must be a string", where, key));
  return v->get_ref<const std::string&>();
}

// The content of a system/user/assistant message: a string, or a list of
// parts {type: text|image|audio|video}. Model text goes through
// strip_thinking; other roles' text is trimmed.
// Returns whether it rendered a media placeholder.
bool render_content(PromptBuilder& out, const json* content, bool model, const std::string& where) {
  bool media = false;
  if (content == nullptr || content->is_null()) return media;
  auto render_text = [&](const std::string& text) {
    out.text(model ? strip_thinking(text) : chat_detail::py_strip(text));
  };
  if (content->is_string()) {
    render_text(content->get_ref<const std::string&>());
    return media;
  }
  if (!content->is_array()) {
    throw Error(fmt::format("{}.content must be a string or a list of parts, not {}", where, content->type_name()));
  }
  for (std::size_t i = 0; i < content->size(); ++i) {
    const json& part = (*content)[i];
    const std::string part_where = fmt::format("{}.content[{}]", where, i);
    if (!part.is_object()) throw Error(fmt::format("{} must be an object with a \"type\"", part_where));
    const std::string& type = string_field(part, "type", part_where);
    if (type == "text") {
      render_text(string_field(part, "text", part_where));
    } else if (type == "image" || type == "image_url") {
      out.special(ChatToken::kImage);
      media = true;
    } else if (type == "audio" || type == "input_audio") {
      out.special(ChatToken::kAudio);
      media = true;
    } else if (type == "video") {
      out.special(ChatToken::kVideo);
      media = true;
    } else {
      throw Error(fmt::format("{} has unknown type '{}' (expected text, image, audio or video)", part_where, type));
    }
  }
  return media;
}

// <|tool_response>response:NAME{...}<tool_response|>; a non-object result is
// wrapped as {value:...}.
void render_tool_response(PromptBuilder& out, const std::string& name, const json& response) {
  out.special(ChatToken::kToolRespStart);
  out.text("response:" + name + "{");
  if (response.is_object()) {
    bool first = true;
    for (const auto& [key, value] : chat_detail::dictsort(response)) {
      if (!first) out.text(",");
      first = false;
      out.text(key + ":");
      chat_detail::format_argument(out, *value, false);
    }
  } else {
    out.text("value:");
    chat_detail::format_argument(out, response, false);
  }
  out.text("}");
  out.special(ChatToken::kToolRespEnd);
}

void render_tool_calls(PromptBuilder& out, const json& calls, const std::string& where) {
  if (!calls.is_array()) throw Error(fmt::format("{}.tool_calls must be an array", where));
  for (std::size_t i = 0; i < calls.size(); ++i) {
    const std::string call_where = fmt::format("{}.tool_calls[{}]", where, i);
    const json* fn = get(calls[i], "function");
    if (fn == nullptr || !fn->is_object()) throw Error(fmt::format("{} has no \"function\" object", call_where));
    const std::string& name = string_field(*fn, "name", call_where + ".function");
    out.special(ChatToken::kToolCallStart);
    out.text("call:" + name + "{");
    const json* args = get(*fn, "arguments");
    if (args != nullptr && args->is_object()) {
      bool first = true;
      for (const auto& [key, value] : chat_detail::dictsort(*args)) {
        if (!first) out.text(",");
        first = false;
        out.text(key + ":");
        chat_detail::format_argument(out, *value, false);
      }
    } else if (args != nullptr && args->is_string()) {
      // The template inserts string arguments verbatim (an OpenAI client's
      // JSON text); pass an object to get the native syntax.
      out.text(args->get_ref<const std::string&>());
    }
    out.text("}");
    out.special(ChatToken::kToolCallEnd);
  }
}

// The function name a role:tool message answers: the call whose "id" equals
// its "tool_call_id" (the last such call; two missing values count as equal,
// as in the template), else the message's own "name".
std::string tool_response_name(const json& calls, const json& tool_msg, const std::string& where) {
  const json* own = get(tool_msg, "name");
  std::optional<std::string> name;
  if (own != nullptr && own->is_string()) name = own->get<std::string>();
  const json* want = get(tool_msg, "tool_call_id");
  static const json kNull;
  for (const auto& call : calls) {
    const json* id = get(call, "id");
    if (*(id ? id : &kNull) == *(want ? want : &kNull)) {
      if (const json* fn = get(call, "function")) {
        if (const json* n = get(*fn, "name"); n != nullptr && n->is_string()) name = n->get<std::string>();
      }
    }
  }
  if (!name) {
    throw Error(
        fmt::format("{}: no tool call has its tool_call_id and it has no \"name\", so the function it "
                    "answers is unknown",
                    where));
  }
  return *name;
}

}  // namespace

RenderedPrompt render_chat(const json& messages, const json& tools, const ChatOptions& options) {
  if (!messages.is_array() || messages.empty()) throw Error("chat: messages must be a non-empty array");
  if (!tools.is_null() && !tools.is_array()) throw Error("chat: tools must be an array of function definitions");
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const std::string where = fmt::format("messages[{}]", i);
    if (!messages[i].is_object()) throw Error(where + " must be an object");
    const std::string& role = string_field(messages[i], "role", where);
    static constexpr std::array<std::string_view, 5> kRoles = {"system", "developer", "user", "assistant", "tool"};
    if (std::find(kRoles.begin(), kRoles.end(), role) == kRoles.end()) {
      throw Error(
          fmt::format("{} has unknown role '{}' (expected system, developer, user, assistant or tool)", where, role));
    }
  }

  PromptBuilder out;
  out.special(ChatToken::kBos);

  // System block: thinking switch, the first message if it is a system or
  // developer message, and the tool declarations.
  const std::string& first_role = messages[0]["role"].get_ref<const std::string&>();
  const bool leading_system = first_role == "system" || first_role == "developer";
  const bool has_tools = tools.is_array() && !tools.empty();
  std::size_t begin = 0;
  if (options.enable_thinking || has_tools || leading_system) {
    out.special(ChatToken::kTurnStart);
    out.text("system\n");
    if (options.enable_thinking) {
      out.special(ChatToken::kThink);
      out.text("\n");
    }
    if (leading_system) {
      const json* content = get(messages[0], "content");
      if (content != nullptr && !content->is_string()) throw Error("messages[0].content (system) must be a string");
      if (content != nullptr) out.text(chat_detail::py_strip(content->get_ref<const std::string&>()));
      begin = 1;
    }
    if (has_tools) {
      for (std::size_t i = 0; i < tools.size(); ++i) {
        out.special(ChatToken::kToolStart);
        chat_detail::format_declaration(out, tools[i], i);
        out.special(ChatToken::kToolEnd);
      }
    }
    out.special(ChatToken::kTurnEnd);
    out.text("\n");
  }

  // Reasoning is replayed only for tool-calling turns after the last user
  // message (the agent loop still in progress).
  std::size_t last_user = std::string::npos;
  for (std::size_t i = begin; i < messages.size(); ++i) {
    if (messages[i]["role"] == "user") last_user = i;
  }

  Last last = Last::kNone;
  std::string prev_role;          // role of the previous non-tool message
  bool tools_may_follow = false;  // the previous non-tool message made calls that role:tool messages answer
  for (std::size_t i = begin; i < messages.size(); ++i) {
    const json& msg = messages[i];
    const std::string where = fmt::format("messages[{}]", i);
    const std::string& role = msg["role"].get_ref<const std::string&>();
    if (role == "tool") {
      // Rendered together with the assistant message that made the calls.
      if (!tools_may_follow) {
        throw Error(fmt::format("{} (role tool) does not follow an assistant message with tool_calls", where));
      }
      continue;
    }
    last = Last::kOther;
    const bool model = role == "assistant";
    // Consecutive assistant messages (e.g. an answer after tool responses)
    // continue the same model turn.
    if (!(model && prev_role == "assistant")) {
      out.special(ChatToken::kTurnStart);
      out.text((model ? std::string("model") : role) + "\n");
    }
    prev_role = role;

    const json* reasoning = get(msg, "reasoning");
    if (!truthy(reasoning)) reasoning = get(msg, "reasoning_content");
    const json* calls = get(msg, "tool_calls");
    if (truthy(reasoning) && (last_user == std::string::npos || i > last_user) && truthy(calls)) {
      out.special(ChatToken::kChannelStart);
      out.text("thought\n" + chat_detail::py_str(*reasoning, where + ".reasoning") + "\n");
      out.special(ChatToken::kChannelEnd);
    }
    if (truthy(calls)) {
      render_tool_calls(out, *calls, where);
      last = Last::kToolCall;
    }

    bool responded = false;
    if (const json* legacy = get(msg, "tool_responses"); truthy(legacy)) {
      // Google's native form: responses attached to the assistant message.
      if (!legacy->is_array()) throw Error(where + ".tool_responses must be an array");
      for (std::size_t k = 0; k < legacy->size(); ++k) {
        const std::string rwhere = fmt::format("{}.tool_responses[{}]", where, k);
        const json& r = (*legacy)[k];
        const json* name = get(r, "name");
        if (name != nullptr && !name->is_string()) throw Error(rwhere + ".name must be a string");
        const json* response = get(r, "response");
        if (response == nullptr) throw Error(rwhere + " has no \"response\"");
        render_tool_response(out, name ? name->get<std::string>() : "unknown", *response);
        responded = true;
        last = Last::kToolResponse;
      }
    } else if (truthy(calls)) {
      // OpenAI form: the role:tool messages that follow.
      for (std::size_t k = i + 1; k < messages.size() && messages[k]["role"] == "tool"; ++k) {
        const json& tool_msg = messages[k];
        const std::string twhere = fmt::format("messages[{}]", k);
        const std::string name = tool_response_name(*calls, tool_msg, twhere);
        const json* body = get(tool_msg, "content");
        if (body == nullptr || body->is_null()) {
          render_tool_response(out, name, json());
        } else if (body->is_string() || body->is_number() || body->is_boolean()) {
          render_tool_response(out, name, *body);
        } else if (body->is_array()) {
          std::string joined;  // text parts only, as the template does
          for (std::size_t p = 0; p < body->size(); ++p) {
            const json& part = (*body)[p];
            if (!part.is_object()) throw Error(fmt::format("{}.content[{}] must be an object", twhere, p));
            if (const json* type = get(part, "type"); type != nullptr && *type == "text") {
              if (const json* t = get(part, "text"); t != nullptr) {
                if (!t->is_string()) throw Error(fmt::format("{}.content[{}].text must be a string", twhere, p));
                joined += t->get_ref<const std::string&>();
              }
            }
          }
          render_tool_response(out, name, json(joined));
        } else {
          throw Error(twhere + ".content must be a string or a list of parts (serialise structured results to text)");
        }
        responded = true;
        last = Last::kToolResponse;
      }
    }

    tools_may_follow = truthy(calls) && !truthy(get(msg, "tool_responses"));
    const json* content = get(msg, "content");
    // A media part resets what the message "ended with", as in the template.
    if (render_content(out, content, model, where)) last = Last::kOther;

    if (last == Last::kToolCall && !responded) {
      // A call awaiting its response: the model's turn stays open.
      out.special(ChatToken::kToolRespStart);
    } else if (!(responded && !truthy(content))) {
      out.special(ChatToken::kTurnEnd);
      out.text("\n");
    }
  }

  if (options.add_generation_prompt && last != Last::kToolCall && last != Last::kToolResponse) {
    out.special(ChatToken::kTurnStart);
    out.text("model\n");
    if (options.family == TemplateFamily::kLarge && !options.enable_thinking) {
      out.special(ChatToken::kChannelStart);
      out.text("thought\n");
      out.special(ChatToken::kChannelEnd);
    }
  }
  return out.finish();
}

}  // namespace gemma4::text
