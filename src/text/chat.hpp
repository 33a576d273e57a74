// Gemma 4 chat rendering: an OpenAI-style conversation (nlohmann::json
// messages and tool definitions) turned into the prompt the model was trained
// on, written natively (no Jinja interpreter) and checked byte for byte against
// Google's official templates (tests/text/chat_test.cpp).
//
// The result is a list of segments, not one string: plain text that the
// tokenizer encodes as text, and special tokens that it emits by id. User or
// tool text that happens to contain "<|turn>" therefore stays text and can
// never forge a turn, a tool call or a thinking block.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gemma4::text {

// The special tokens the chat format uses, with their ids in the Gemma 4
// vocabulary (reference spec §8).
enum class ChatToken : std::uint8_t {
  kBos,            // <bos>             2
  kTurnStart,      // <|turn>           105
  kTurnEnd,        // <turn|>           106
  kThink,          // <|think|>         98
  kChannelStart,   // <|channel>        100
  kChannelEnd,     // <channel|>        101
  kToolStart,      // <|tool>           46
  kToolEnd,        // <tool|>           47
  kToolCallStart,  // <|tool_call>      48
  kToolCallEnd,    // <tool_call|>      49
  kToolRespStart,  // <|tool_response>  50
  kToolRespEnd,    // <tool_response|>  51
  kQuote,          // <|"|>             52
  kImage,          // <|image|>         258880 (expanded to N soft tokens by the image processor)
  kAudio,          // <|audio|>         258881
  kVideo,          // <|video|>         258884
};

std::string_view chat_token_text(ChatToken token);
std::int32_t chat_token_id(ChatToken token);

struct PromptSegment {
  bool special = false;        // true: one special token; false: plain text to tokenize
  std::string text;            // the token's text, or the plain text
  std::int32_t token_id = -1;  // the special token's id; -1 for text
};

struct RenderedPrompt {
  std::vector<PromptSegment> segments;  // adjacent text segments are merged

  // The prompt as one string, special tokens written as their text: what the
  // Jinja template would have produced.
  std::string text() const;
};

// The two template families differ in one place: with thinking off, the
// 26B/31B template ends the generation prompt with an empty thought block
// ("<|channel>thought\n<channel|>"); the E2B/E4B template does not.
enum class TemplateFamily : std::uint8_t { kLarge, kSmall };

struct ChatOptions {
  TemplateFamily family = TemplateFamily::kLarge;
  bool enable_thinking = false;       // puts <|think|> at the top of the system turn
  bool add_generation_prompt = true;  // ends with "<|turn>model\n" unless a tool call awaits its response
};

// Renders `messages` (an array of {role, content, tool_calls, reasoning, ...}
// objects; roles system, developer, user, assistant, tool) and `tools` (an
// array of {"type": "function", "function": {name, description, parameters}},
// or null for none). Throws gemma4::Error naming the message and field when
// the input is not a conversation the format can express.
RenderedPrompt render_chat(const nlohmann::json& messages, const nlohmann::json& tools, const ChatOptions& options);

}  // namespace gemma4::text
