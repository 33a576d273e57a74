// The streaming state machine. Input bytes collect in pending_; each pass
// takes what can be decided now (text up to a possible marker, a complete
// marker) and leaves the rest for the next chunk. Because a decision never
// depends on where a chunk ended, only on the bytes themselves, any chunking
// gives the same events.
#include "src/text/output_parser.hpp"

#include <array>

namespace gemma4::text {

namespace {

constexpr std::string_view kChannelStart = "<|channel>";
constexpr std::string_view kChannelEnd = "<channel|>";
constexpr std::string_view kCallStart = "<|tool_call>";
constexpr std::string_view kCallEnd = "<tool_call|>";
constexpr std::string_view kThoughtHeader = "thought\n";
// Any of these ends the model's output.
constexpr std::array<std::string_view, 4> kStops = {"<turn|>", "<|tool_response>", "<eos>", "<|turn>"};

bool is_stop(std::string_view m) {
  for (auto s : kStops) {
    if (s == m) return true;
  }
  return false;
}

// Markers recognised outside a tool call.
constexpr std::array<std::string_view, 8> kTextMarkers = {kChannelStart, kChannelEnd, kCallStart, kCallEnd,
                                                          kStops[0],     kStops[1],   kStops[2],  kStops[3]};
// Markers recognised inside a tool call: its end, a new call (the previous one
// was left open), or the end of output.
constexpr std::array<std::string_view, 6> kCallMarkers = {kCallEnd,  kCallStart, kStops[0],
                                                          kStops[1], kStops[2],  kStops[3]};

enum class Match : std::uint8_t { kNone, kPartial, kFull };

// Whether `s` (starting at a '<') begins with one of `markers`, or could,
// once more bytes arrive.
template <std::size_t N>
Match match_marker(std::string_view s, const std::array<std::string_view, N>& markers, std::string_view& which) {
  Match best = Match::kNone;
  for (auto m : markers) {
    if (s.size() >= m.size()) {
      if (s.substr(0, m.size()) == m) {
        which = m;
        return Match::kFull;
      }
    } else if (m.substr(0, s.size()) == s) {
      best = Match::kPartial;
    }
  }
  return best;
}

void append_text(std::vector<OutputEvent>& out, OutputEvent::Kind kind, std::string_view text) {
  if (text.empty()) return;
  if (!out.empty() && out.back().kind == kind) {
    out.back().text += text;
    return;
  }
  OutputEvent e;
  e.kind = kind;
  e.text = std::string(text);
  out.push_back(std::move(e));
}

// The UTF-8 sequence starting at s[i]: its length when valid (else 0), how
// many of its bytes are a valid start (the maximal subpart replaced by one
// U+FFFD), and whether it was valid so far but cut by the end of `s`.
struct Utf8Seq {
  std::size_t len = 0;
  std::size_t prefix = 1;
  bool truncated = false;
};

Utf8Seq utf8_sequence(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  Utf8Seq r;
  if (b0 < 0x80) {
    r.len = 1;
    return r;
  }
  std::size_t len = 0;
  unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;  // no overlong forms
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return r;  // not a lead byte
  }
  for (std::size_t k = 1; k < len; ++k) {
    if (i + k >= s.size()) {
      r.truncated = true;
      return r;
    }
    const auto b = static_cast<unsigned char>(s[i + k]);
    const unsigned l = k == 1 ? lo : 0x80u, h = k == 1 ? hi : 0xBFu;
    if (b < l || b > h) return r;
    r.prefix = k + 1;
  }
  r.len = len;
  return r;
}

}  // namespace

std::size_t sanitize_utf8(std::string_view in, bool final, std::string& out) {
  std::size_t i = 0;
  while (i < in.size()) {
    const Utf8Seq seq = utf8_sequence(in, i);
    if (seq.len > 0) {
      out.append(in.substr(i, seq.len));
      i += seq.len;
      continue;
    }
    if (seq.truncated && !final) return i;  // a character cut by the chunk boundary: wait for the rest
    out += "\xEF\xBF\xBD";                  // U+FFFD
    i += seq.prefix;
  }
  return i;
}

void OutputParser::emit_text(std::string_view bytes, bool final, std::vector<OutputEvent>& out, std::size_t& consumed) {
  std::string clean;
  consumed = sanitize_utf8(bytes, final, clean);
  append_text(out, state_ == State::kAnswer ? OutputEvent::Kind::kAnswer : OutputEvent::Kind::kThinking, clean);
}

void OutputParser::end_tool_call(std::vector<OutputEvent>& out) {
  OutputEvent e;
  try {
    e.call = parse_tool_call(call_body_);
    e.kind = OutputEvent::Kind::kToolCall;
  } catch (const std::exception& err) {
    e.kind = OutputEvent::Kind::kMalformedToolCall;
    e.error = err.what();
    sanitize_utf8(call_body_, true, e.text);
  }
  out.push_back(std::move(e));
  call_body_.clear();
}

void OutputParser::process(bool final, std::vector<OutputEvent>& out) {
  std::size_t pos = 0;  // bytes of pending_ dealt with
  const std::string_view buf = pending_;
  while (pos < buf.size() && state_ != State::kDone) {
    const std::string_view rest = buf.substr(pos);
    if (state_ == State::kChannelHeader) {
      // "<|channel>" is normally followed by the channel name "thought\n".
      if (rest.substr(0, kThoughtHeader.size()) == kThoughtHeader) {
        pos += kThoughtHeader.size();
      } else if (!final && rest.size() < kThoughtHeader.size() && kThoughtHeader.substr(0, rest.size()) == rest) {
        break;
      }
      state_ = State::kThinking;
      continue;
    }

    const std::size_t lt = rest.find('<');
    if (state_ == State::kToolCall) {
      if (lt == std::string_view::npos) {
        call_body_ += rest;
        pos = buf.size();
        break;
      }
      call_body_ += rest.substr(0, lt);
      pos += lt;
      std::string_view marker;
      const Match m = match_marker(buf.substr(pos), kCallMarkers, marker);
      if (m == Match::kPartial && !final) break;
      if (m != Match::kFull) {
        call_body_ += '<';
        pos += 1;
        continue;
      }
      pos += marker.size();
      end_tool_call(out);
      if (marker == kCallEnd) {
        state_ = State::kAnswer;
      } else if (marker == kCallStart) {
        state_ = State::kToolCall;  // the previous call was left open; a new one starts
      } else {
        state_ = State::kDone;
      }
      continue;
    }

    // Answer or thinking text.
    std::size_t used = 0;
    if (lt == std::string_view::npos) {
      emit_text(rest, final, out, used);
      pos += used;
      break;
    }
    emit_text(rest.substr(0, lt), true, out, used);
    pos += lt;
    std::string_view marker;
    const Match m = match_marker(buf.substr(pos), kTextMarkers, marker);
    if (m == Match::kPartial && !final) break;
    if (m != Match::kFull) {
      emit_text("<", true, out, used);
      pos += 1;
      continue;
    }
    pos += marker.size();
    if (marker == kChannelStart) {
      // A nested "<|channel>" inside thinking is dropped.
      if (state_ == State::kAnswer) state_ = State::kChannelHeader;
    } else if (marker == kChannelEnd) {
      state_ = State::kAnswer;  // a stray one in the answer is dropped
    } else if (marker == kCallStart) {
      state_ = State::kToolCall;
    } else if (is_stop(marker)) {
      state_ = State::kDone;
    }
    // A stray "<tool_call|>" is dropped.
  }
  pending_.erase(0, pos);
  if (state_ == State::kDone) pending_.clear();
}

std::vector<OutputEvent> OutputParser::feed(std::string_view chunk) {
  std::vector<OutputEvent> out;
  if (state_ == State::kDone) return out;
  pending_ += chunk;
  process(false, out);
  return out;
}

std::vector<OutputEvent> OutputParser::finish() {
  std::vector<OutputEvent> out;
  process(true, out);
  if (state_ == State::kToolCall) end_tool_call(out);  // the output ended inside a call
  pending_.clear();
  state_ = State::kDone;
  return out;
}

ParsedOutput parse_output(std::string_view text) {
  OutputParser parser;
  std::vector<OutputEvent> events = parser.feed(text);
  for (auto& e : parser.finish()) events.push_back(std::move(e));
  ParsedOutput result;
  for (auto& e : events) {
    switch (e.kind) {
      case OutputEvent::Kind::kThinking:
        result.thinking += e.text;
        break;
      case OutputEvent::Kind::kAnswer:
        result.answer += e.text;
        break;
      case OutputEvent::Kind::kToolCall:
        result.tool_calls.push_back(std::move(e.call));
        break;
      case OutputEvent::Kind::kMalformedToolCall:
        result.errors.push_back(std::move(e.error));
        break;
    }
  }
  return result;
}

nlohmann::json to_assistant_message(const ParsedOutput& output, std::string_view id_prefix) {
  nlohmann::json message = {{"role", "assistant"}};
  message["content"] = output.answer.empty() ? nlohmann::json() : nlohmann::json(output.answer);
  if (!output.thinking.empty()) message["reasoning"] = output.thinking;
  if (!output.tool_calls.empty()) {
    nlohmann::json calls = nlohmann::json::array();
    for (std::size_t i = 0; i < output.tool_calls.size(); ++i) {
      calls.push_back(
          {{"id", std::string(id_prefix) + std::to_string(i)},
           {"type", "function"},
           {"function", {{"name", output.tool_calls[i].name}, {"arguments", output.tool_calls[i].arguments}}}});
    }
    message["tool_calls"] = std::move(calls);
  }
  return message;
}

}  // namespace gemma4::text
