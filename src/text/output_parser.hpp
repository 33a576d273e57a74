// Splits Gemma 4 model output into thinking text, answer text and tool calls,
// fed in chunks at any boundary (mid-marker, mid-UTF-8 character): the events
// are the same, up to how text deltas are cut, whatever the chunking.
//
// The output grammar (reference spec §8.1-8.2):
//   <|channel>thought\n ... <channel|>           thinking
//   <|tool_call>call:NAME{key:value,...}<tool_call|>   a tool call (several may follow each other)
//   <turn|>, <|tool_response>, <eos>, <|turn>     end of the model's output
// Argument values use the Gemma tool syntax: bare keys, strings quoted with
// <|"|> (raw, may contain braces, quotes and colons), numbers, true/false,
// null (also None), nested objects and arrays. JSON-style "..." strings and
// keys are accepted too, since models sometimes produce them.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gemma4::text {

struct ToolCall {
  std::string name;
  nlohmann::json arguments = nlohmann::json::object();

  bool operator==(const ToolCall&) const = default;
};

struct OutputEvent {
  enum class Kind : std::uint8_t {
    kThinking,           // text: a piece of the thinking channel
    kAnswer,             // text: a piece of the answer
    kToolCall,           // call: a complete, parsed tool call
    kMalformedToolCall,  // text: the call's raw text (UTF-8 cleaned); error: what is wrong with it
  };
  Kind kind = Kind::kAnswer;
  std::string text;
  ToolCall call;
  std::string error;

  bool operator==(const OutputEvent&) const = default;
};

class OutputParser {
 public:
  // Consumes a chunk of output text and returns the events it completes. Text
  // that might be the start of a marker or of a UTF-8 character is held back
  // until the next chunk (or finish()). Emitted text is always valid UTF-8:
  // invalid bytes become U+FFFD.
  std::vector<OutputEvent> feed(std::string_view chunk);

  // End of output: flushes held-back text and reports a tool call left open
  // (parsed if its text is complete, else as malformed).
  std::vector<OutputEvent> finish();

  // True once an end-of-output marker (<turn|>, <|tool_response>, <eos>,
  // <|turn>) was seen; later input is ignored.
  bool done() const { return state_ == State::kDone; }

 private:
  enum class State : std::uint8_t { kAnswer, kChannelHeader, kThinking, kToolCall, kDone };

  void process(bool final, std::vector<OutputEvent>& out);
  void emit_text(std::string_view bytes, bool final, std::vector<OutputEvent>& out, std::size_t& consumed);
  void end_tool_call(std::vector<OutputEvent>& out);

  State state_ = State::kAnswer;
  std::string pending_;    // bytes not yet processed
  std::string call_body_;  // raw text of the tool call being read
};

// Parses the text between <|tool_call> and <tool_call|>, e.g.
// `call:get_weather{city:<|"|>Paris<|"|>}`. Throws gemma4::Error saying what
// is malformed and where.
ToolCall parse_tool_call(std::string_view body);

// The whole output at once: all thinking, all answer text, the calls in order,
// and one message per malformed call.
struct ParsedOutput {
  std::string thinking;
  std::string answer;
  std::vector<ToolCall> tool_calls;
  std::vector<std::string> errors;

  bool operator==(const ParsedOutput&) const = default;
};
ParsedOutput parse_output(std::string_view text);

// The parsed output as an OpenAI-style assistant message for the conversation
// history: "content" (the answer, null when empty), "reasoning" (when the
// model thought), "tool_calls" with ids `<id_prefix><n>` and object
// arguments. render_chat() turns it back into the model's turn.
nlohmann::json to_assistant_message(const ParsedOutput& output, std::string_view id_prefix = "call_");

// Replaces invalid UTF-8 with U+FFFD (one per maximal invalid subpart). With
// final == false, an incomplete but so far valid sequence at the end is left
// unconsumed; returns the number of bytes consumed.
std::size_t sanitize_utf8(std::string_view in, bool final, std::string& out);

}  // namespace gemma4::text
