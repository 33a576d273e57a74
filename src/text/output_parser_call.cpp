// The tool-call syntax: `call:NAME{key:value,...}` with Gemma's <|"|> string
// quotes. A small recursive-descent reader that is strict about structure
// (balanced braces, a value after every key) and lenient about what models
// are seen to vary: JSON-style "quoted" keys and strings, Python literals
// (True, False, None), trailing commas, whitespace, unquoted scalar strings.
#include <fmt/format.h>
#include <gemma4/error.hpp>

#include <charconv>
#include <cmath>

#include "src/text/output_parser.hpp"

namespace gemma4::text {

namespace {

using nlohmann::json;

constexpr std::string_view kQuote = "<|\"|>";
constexpr int kMaxDepth = 128;

class CallReader {
 public:
  explicit CallReader(std::string_view body) : s_(body) {}

  ToolCall read() {
    skip_ws();
    if (peek() == '{') return read_json_form();
    // "call:" (or a bare ":"); "call" alone may begin a name such as call_log.
    std::size_t after_call = pos_;
    if (s_.substr(pos_, 4) == "call") {
      after_call += 4;
      while (after_call < s_.size() && is_ws(s_[after_call])) ++after_call;
    }
    if (after_call < s_.size() && s_[after_call] == ':') pos_ = after_call + 1;
    skip_ws();
    ToolCall call;
    const std::size_t name_start = pos_;
    while (pos_ < s_.size() && !is_ws(s_[pos_]) && s_[pos_] != '{') {
      const char c = s_[pos_];
      if (c == '}' || c == '<' || c == '"' || c == ',' || c == ':' || c == '[' || c == ']') {
        fail(fmt::format("unexpected '{}' in the function name", c));
      }
      ++pos_;
    }
    call.name = clean(s_.substr(name_start, pos_ - name_start));
    if (call.name.empty()) fail("missing function name (expected call:NAME{...})");
    skip_ws();
    if (peek() != '{') fail(fmt::format("expected '{{' after the function name '{}'", call.name));
    name_ = call.name;
    call.arguments = read_object(0);
    skip_ws();
    if (pos_ != s_.size()) fail("unexpected text after the arguments");
    return call;
  }

 private:
  // {"name": ..., "arguments": {...}}: the JSON form some fine-tunes emit
  // inside the call markers ("parameters" for "arguments", which may also be
  // a JSON string holding the object).
  ToolCall read_json_form() {
    const json obj = read_object(0);
    skip_ws();
    if (pos_ != s_.size()) fail("unexpected text after the call object");
    ToolCall call;
    const auto name = obj.find("name");
    if (name == obj.end() || !name->is_string() || name->get<std::string>().empty()) {
      fail("the call object has no \"name\"");
    }
    call.name = name->get<std::string>();
    auto args = obj.find("arguments");
    if (args == obj.end()) args = obj.find("parameters");
    if (args == obj.end() || args->is_null()) return call;
    if (args->is_string()) {
      const std::string text = args->get<std::string>();
      CallReader inner(text);
      inner.skip_ws();
      if (inner.peek() != '{') fail("the call's \"arguments\" string does not hold an object");
      inner.name_ = call.name;
      call.arguments = inner.read_object(0);
      inner.skip_ws();
      if (inner.pos_ != text.size()) fail("unexpected text after the arguments object in \"arguments\"");
      return call;
    }
    if (!args->is_object()) fail("the call's \"arguments\" is not an object");
    call.arguments = *args;
    return call;
  }

  static bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool at_quote() const { return s_.substr(pos_, kQuote.size()) == kQuote; }
  void skip_ws() {
    while (pos_ < s_.size() && is_ws(s_[pos_])) ++pos_;
  }

  [[noreturn]] void fail(const std::string& what) const {
    const std::string who = name_.empty() ? std::string("tool call") : fmt::format("tool call '{}'", name_);
    throw Error(fmt::format("{}: {} at byte {}", who, what, pos_));
  }

  static std::string clean(std::string_view bytes) {
    std::string out;
    sanitize_utf8(bytes, true, out);
    return out;
  }

  json read_value(int depth) {
    if (depth > kMaxDepth) fail(fmt::format("arguments nested deeper than {} levels", kMaxDepth));
    skip_ws();
    if (at_quote()) return read_gemma_string();
    switch (peek()) {
      case '{':
        return read_object(depth + 1);
      case '[':
        return read_array(depth + 1);
      case '"':
        return read_json_string();
      default:
        return read_scalar();
    }
  }

  // <|"|>raw text<|"|>: no escapes, anything but the closing quote inside.
  std::string read_gemma_string() {
    const std::size_t start = pos_;
    pos_ += kQuote.size();
    const std::size_t end = s_.find(kQuote, pos_);
    if (end == std::string_view::npos) {
      pos_ = start;
      fail("unterminated <|\"|> string");
    }
    std::string out = clean(s_.substr(pos_, end - pos_));
    pos_ = end + kQuote.size();
    return out;
  }

  // "JSON string" with backslash escapes; an unknown escape keeps its
  // character.
  std::string read_json_string() {
    const std::size_t start = pos_;
    ++pos_;
    std::string raw;
    while (true) {
      if (pos_ >= s_.size()) {
        pos_ = start;
        fail("unterminated \"...\" string");
      }
      const char c = s_[pos_++];
      if (c == '"') break;
      if (c != '\\' || pos_ >= s_.size()) {
        raw += c;
        continue;
      }
      const char e = s_[pos_++];
      switch (e) {
        case 'n':
          raw += '\n';
          break;
        case 't':
          raw += '\t';
          break;
        case 'r':
          raw += '\r';
          break;
        case 'b':
          raw += '\b';
          break;
        case 'f':
          raw += '\f';
          break;
        case 'u':
          append_unicode_escape(raw);
          break;
        default:
          raw += e;
          break;  // \" \\ \/ and unknown escapes
      }
    }
    return clean(raw);
  }

  unsigned read_hex4() {
    if (pos_ + 4 > s_.size()) fail("truncated \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      const char h = s_[pos_++];
      v <<= 4;
      if (h >= '0' && h <= '9')
        v |= static_cast<unsigned>(h - '0');
      else if (h >= 'a' && h <= 'f')
        v |= static_cast<unsigned>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F')
        v |= static_cast<unsigned>(h - 'A' + 10);
      else
        fail("bad hex digit in \\u escape");
    }
    return v;
  }

  void append_unicode_escape(std::string& out) {
    unsigned cp = read_hex4();
    if (cp >= 0xD800 && cp <= 0xDBFF && s_.substr(pos_, 2) == "\\u") {
      const std::size_t save = pos_;
      pos_ += 2;
      const unsigned lo = read_hex4();
      if (lo >= 0xDC00 && lo <= 0xDFFF) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      } else {
        pos_ = save;
      }
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;  // a lone surrogate
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  // A JSON number, or nothing when `t` is not one.
  static bool parse_number(std::string_view t, json& out) {
    std::size_t i = 0;
    if (i < t.size() && (t[i] == '-' || t[i] == '+')) ++i;
    const std::size_t int_start = i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
    if (i == int_start) return false;
    bool integral = true;
    if (i < t.size() && t[i] == '.') {
      integral = false;
      const std::size_t frac = ++i;
      while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
      if (i == frac) return false;
    }
    if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
      integral = false;
      ++i;
      if (i < t.size() && (t[i] == '-' || t[i] == '+')) ++i;
      const std::size_t exp = i;
      while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
      if (i == exp) return false;
    }
    if (i != t.size()) return false;
    std::string_view digits = t[0] == '+' ? t.substr(1) : t;
    if (integral) {
      std::int64_t v = 0;
      auto r = std::from_chars(digits.data(), digits.data() + digits.size(), v);
      if (r.ec == std::errc() && r.ptr == digits.data() + digits.size()) {
        out = v;
        return true;
      }
      std::uint64_t u = 0;
      r = std::from_chars(digits.data(), digits.data() + digits.size(), u);
      if (r.ec == std::errc() && r.ptr == digits.data() + digits.size()) {
        out = u;
        return true;
      }
    }
    double d = 0;
    auto r = std::from_chars(digits.data(), digits.data() + digits.size(), d);
    if (r.ec != std::errc() || !std::isfinite(d)) return false;  // out of range: kept as text
    out = d;
    return true;
  }

  // An unquoted value up to the next ',', '}' or ']': a literal, a number, or
  // (leniently) a bare string.
  json read_scalar() {
    const std::size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] != ',' && s_[pos_] != '}' && s_[pos_] != ']' && !at_quote()) ++pos_;
    std::string_view t = s_.substr(start, pos_ - start);
    while (!t.empty() && is_ws(t.back())) t.remove_suffix(1);
    if (t.empty()) {
      pos_ = start;
      fail("missing value");
    }
    if (t == "true" || t == "True") return true;
    if (t == "false" || t == "False") return false;
    if (t == "null" || t == "None") return nullptr;
    json number;
    if (parse_number(t, number)) return number;
    return clean(t);
  }

  std::string read_key() {
    skip_ws();
    if (at_quote()) return read_gemma_string();
    if (peek() == '"') return read_json_string();
    const std::size_t start = pos_;
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c == ':' || c == ',' || c == '{' || c == '}' || c == '[' || c == ']' || at_quote()) break;
      ++pos_;
    }
    std::string_view key = s_.substr(start, pos_ - start);
    while (!key.empty() && is_ws(key.back())) key.remove_suffix(1);
    if (key.empty()) fail("missing key");
    return clean(key);
  }

  json read_object(int depth) {
    if (depth > kMaxDepth) fail(fmt::format("arguments nested deeper than {} levels", kMaxDepth));
    ++pos_;  // '{'
    json obj = json::object();
    skip_ws();
    if (peek() == '}') {
      ++pos_;
      return obj;
    }
    while (true) {
      const std::string key = read_key();
      skip_ws();
      if (peek() != ':') fail(fmt::format("expected ':' after key '{}'", key));
      ++pos_;
      obj[key] = read_value(depth);
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        skip_ws();
        if (peek() == '}') {  // trailing comma
          ++pos_;
          return obj;
        }
        continue;
      }
      if (peek() == '}') {
        ++pos_;
        return obj;
      }
      fail(pos_ >= s_.size() ? "unterminated object (missing '}')" : "expected ',' or '}' in object");
    }
  }

  json read_array(int depth) {
    ++pos_;  // '['
    json arr = json::array();
    skip_ws();
    if (peek() == ']') {
      ++pos_;
      return arr;
    }
    while (true) {
      arr.push_back(read_value(depth));
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        skip_ws();
        if (peek() == ']') {
          ++pos_;
          return arr;
        }
        continue;
      }
      if (peek() == ']') {
        ++pos_;
        return arr;
      }
      fail(pos_ >= s_.size() ? "unterminated array (missing ']')" : "expected ',' or ']' in array");
    }
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  std::string name_;
};

}  // namespace

ToolCall parse_tool_call(std::string_view body) {
  return CallReader(body).read();
}

}  // namespace gemma4::text
