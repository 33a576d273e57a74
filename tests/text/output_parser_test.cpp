// The output parser: each case is checked fed whole, split in two at every
// byte, fed one byte at a time and in random pieces; the events (with
// neighbouring text pieces joined) must be identical every time. Tool-call
// arguments round-trip through the chat renderer's syntax.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <gemma4/error.hpp>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "src/text/chat.hpp"
#include "src/text/output_parser.hpp"

namespace gemma4::text {
namespace {

using nlohmann::json;
using Kind = OutputEvent::Kind;

// Joins neighbouring text events of the same kind: the only way chunkings may
// legitimately differ.
std::vector<OutputEvent> normalise(const std::vector<OutputEvent>& events) {
  std::vector<OutputEvent> out;
  for (const auto& e : events) {
    const bool text = e.kind == Kind::kThinking || e.kind == Kind::kAnswer;
    if (text && !out.empty() && out.back().kind == e.kind) {
      out.back().text += e.text;
    } else if (!(text && e.text.empty())) {
      out.push_back(e);
    }
  }
  return out;
}

std::vector<OutputEvent> run_chunks(const std::vector<std::string_view>& chunks) {
  OutputParser p;
  std::vector<OutputEvent> all;
  for (auto c : chunks) {
    for (auto& e : p.feed(c)) all.push_back(std::move(e));
  }
  for (auto& e : p.finish()) all.push_back(std::move(e));
  return normalise(all);
}

std::string describe(const std::vector<OutputEvent>& events) {
  std::string s;
  for (const auto& e : events) {
    s += fmt::format("[{} {} {} {} {}]", static_cast<int>(e.kind), e.text, e.call.name, e.call.arguments.dump(),
                     e.error);
  }
  return s;
}

// Feeds `text` every which way and checks that all agree; returns the events.
std::vector<OutputEvent> parse_all_ways(std::string_view text) {
  const auto whole = run_chunks({text});
  for (std::size_t cut = 0; cut <= text.size(); ++cut) {
    const auto split = run_chunks({text.substr(0, cut), text.substr(cut)});
    EXPECT_EQ(split, whole) << "split at " << cut << ": " << describe(split) << " vs " << describe(whole);
  }
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < text.size(); ++i) bytes.push_back(text.substr(i, 1));
  EXPECT_EQ(run_chunks(bytes), whole) << "byte by byte";
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<std::string_view> pieces;
    std::size_t at = 0;
    while (at < text.size()) {
      const std::size_t n = std::min<std::size_t>(text.size() - at, 1 + rng() % 9);
      pieces.push_back(text.substr(at, n));
      at += n;
    }
    EXPECT_EQ(run_chunks(pieces), whole) << "random pieces, trial " << trial;
  }
  return whole;
}

OutputEvent text_event(Kind kind, std::string text) {
  OutputEvent e;
  e.kind = kind;
  e.text = std::move(text);
  return e;
}

OutputEvent call_event(std::string name, json args) {
  OutputEvent e;
  e.kind = Kind::kToolCall;
  e.call.name = std::move(name);
  e.call.arguments = std::move(args);
  return e;
}

TEST(OutputParser, PlainAnswer) {
  EXPECT_EQ(parse_all_ways("Hello, world! a < b <html> <|unknown|> é 世界 😀"),
            std::vector<OutputEvent>{text_event(Kind::kAnswer, "Hello, world! a < b <html> <|unknown|> é 世界 😀")});
}

TEST(OutputParser, ThinkingThenAnswer) {
  EXPECT_EQ(parse_all_ways("<|channel>thought\nLet me think: 2+2=4.<channel|>The answer is 4.<turn|>"),
            (std::vector<OutputEvent>{text_event(Kind::kThinking, "Let me think: 2+2=4."),
                                      text_event(Kind::kAnswer, "The answer is 4.")}));
  // Without the channel name, and the empty thought block of the 26B/31B models.
  EXPECT_EQ(parse_all_ways("<|channel>thinking<channel|>ok"),
            (std::vector<OutputEvent>{text_event(Kind::kThinking, "thinking"), text_event(Kind::kAnswer, "ok")}));
  EXPECT_EQ(parse_all_ways("<|channel>thought\n<channel|>ok"),
            (std::vector<OutputEvent>{text_event(Kind::kAnswer, "ok")}));
  // Output cut off inside the header or the thinking.
  EXPECT_EQ(parse_all_ways("<|channel>thou"), (std::vector<OutputEvent>{text_event(Kind::kThinking, "thou")}));
}

TEST(OutputParser, StopMarkersEndTheOutput) {
  for (const char* stop : {"<turn|>", "<|tool_response>", "<eos>", "<|turn>"}) {
    EXPECT_EQ(parse_all_ways(std::string("Done.") + stop + "ignored <|tool_call>call:f{}<tool_call|>"),
              (std::vector<OutputEvent>{text_event(Kind::kAnswer, "Done.")}))
        << stop;
  }
}

TEST(OutputParser, PartialMarkersAtTheEndAreText) {
  EXPECT_EQ(parse_all_ways("x <|tool_ca"), (std::vector<OutputEvent>{text_event(Kind::kAnswer, "x <|tool_ca")}));
  EXPECT_EQ(parse_all_ways("<"), (std::vector<OutputEvent>{text_event(Kind::kAnswer, "<")}));
  EXPECT_EQ(parse_all_ways("<<turn|"), (std::vector<OutputEvent>{text_event(Kind::kAnswer, "<<turn|")}));
}

TEST(OutputParser, InvalidUtf8BecomesReplacementCharacters) {
  // A lone lead byte before a marker, a stray continuation byte, an overlong
  // form, a surrogate, and a character cut off by the end of output.
  EXPECT_EQ(parse_all_ways("a\xC3<turn|>"), (std::vector<OutputEvent>{text_event(Kind::kAnswer, "a\uFFFD")}));
  EXPECT_EQ(parse_all_ways("\x80x\xC0\xAF\xED\xA0\x80\xF0\x9F\x98"),
            (std::vector<OutputEvent>{text_event(Kind::kAnswer, "\uFFFDx\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD")}));
}

TEST(OutputParser, OneToolCall) {
  EXPECT_EQ(parse_all_ways("<|tool_call>call:get_weather{city:<|\"|>London<|\"|>}<tool_call|><|tool_response>"),
            (std::vector<OutputEvent>{call_event("get_weather", {{"city", "London"}})}));
}

TEST(OutputParser, SeveralCallsAfterThinking) {
  const auto events = parse_all_ways(
      "<|channel>thought\nNeed two lookups.<channel|>Checking.<|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>}"
      "<tool_call|><|tool_call>call:get_weather{city:<|\"|>Rome<|\"|>,unit:<|\"|>celsius<|\"|>}<tool_call|>"
      "<|tool_call>call:get_time{}<tool_call|>");
  EXPECT_EQ(events, (std::vector<OutputEvent>{text_event(Kind::kThinking, "Need two lookups."),
                                              text_event(Kind::kAnswer, "Checking."),
                                              call_event("get_weather", {{"city", "Paris"}}),
                                              call_event("get_weather", {{"city", "Rome"}, {"unit", "celsius"}}),
                                              call_event("get_time", json::object())}));
}

TEST(OutputParser, NestedArgumentsOfEveryType) {
  const std::string text =
      "<|tool_call>call:search{pattern:<|\"|>say \"hi\" {not: a, dict} [x], y:z<|\"|>,"
      "filters:{size:10.5,kinds:[<|\"|>file<|\"|>],nested:{deep:[1,[2,3],{k:true}],none:None,nil:null}},"
      "flags:[true,false,True,False],count:-7,big:123456789012345678,exp:1e+20,tiny:1e-07,"
      "empty:<|\"|><|\"|>,empty_list:[],empty_obj:{},unicode:<|\"|>héllo 世界 😀<|\"|>}<tool_call|>";
  const json expected = {{"pattern", "say \"hi\" {not: a, dict} [x], y:z"},
                         {"filters",
                          {{"size", 10.5},
                           {"kinds", {"file"}},
                           {"nested", {{"deep", {1, {2, 3}, {{"k", true}}}}, {"none", nullptr}, {"nil", nullptr}}}}},
                         {"flags", {true, false, true, false}},
                         {"count", -7},
                         {"big", 123456789012345678LL},
                         {"exp", 1e20},
                         {"tiny", 1e-07},
                         {"empty", ""},
                         {"empty_list", json::array()},
                         {"empty_obj", json::object()},
                         {"unicode", "héllo 世界 😀"}};
  EXPECT_EQ(parse_all_ways(text), (std::vector<OutputEvent>{call_event("search", expected)}));
}

TEST(OutputParser, LenientVariants) {
  // JSON-style keys and strings with escapes, whitespace, trailing commas,
  // a bare opener without "call", an unquoted string value.
  const std::string text =
      "<|tool_call> call : f { \"a b\" : \"q\\\"\\n\\u00e9\\ud83d\\ude00\" , <|\"|>k<|\"|>: [ 1 , 2 , ] , "
      "c : New York , } <tool_call|><|tool_call>:g{}<tool_call|>";
  EXPECT_EQ(parse_all_ways(text),
            (std::vector<OutputEvent>{call_event("f", {{"a b", "q\"\né😀"}, {"k", {1, 2}}, {"c", "New York"}}),
                                      call_event("g", json::object())}));
}

TEST(OutputParser, NamesStartingWithCallAndTheJsonForm) {
  EXPECT_EQ(parse_all_ways("<|tool_call>call_log{a:1}<tool_call|><|tool_call>call:call_me{}<tool_call|>"),
            (std::vector<OutputEvent>{call_event("call_log", {{"a", 1}}), call_event("call_me", json::object())}));
  EXPECT_EQ(parse_all_ways("<|tool_call>{\"name\": \"f\", \"arguments\": {\"x\": [1, {\"y\": null}]}}<tool_call|>"
                           "<|tool_call>{\"name\": \"g\", \"parameters\": \"{\\\"z\\\": true}\"}<tool_call|>"
                           "<|tool_call>{\"name\": \"h\"}<tool_call|>"),
            (std::vector<OutputEvent>{call_event("f", {{"x", {1, {{"y", nullptr}}}}}), call_event("g", {{"z", true}}),
                                      call_event("h", json::object())}));
  for (const char* bad : {"{\"arguments\": {}}", "{\"name\": \"f\", \"arguments\": 5}",
                          "{\"name\": \"f\", \"arguments\": \"[1]\"}", "{\"name\": \"f\"} x"}) {
    EXPECT_THROW(parse_tool_call(bad), Error) << bad;
  }
}

TEST(OutputParser, CallLeftOpenAtTheEndIsStillParsed) {
  EXPECT_EQ(parse_all_ways("<|tool_call>call:f{a:1}"), (std::vector<OutputEvent>{call_event("f", {{"a", 1}})}));
  EXPECT_EQ(parse_all_ways("<|tool_call>call:f{a:1}<|tool_response>"),
            (std::vector<OutputEvent>{call_event("f", {{"a", 1}})}));
}

TEST(OutputParser, MalformedCallsAreReportedNotThrown) {
  struct Case {
    const char* body;
    const char* error;
  };
  const Case cases[] = {
      {"call:f{a:<|\"|>open}", "unterminated <|\"|> string"},
      {"call:f{a:1", "unterminated object"},
      {"call:f{a:[1,2}", "expected ',' or ']' in array"},
      {"call:f{a 1}", "expected ':' after key 'a 1'"},
      {"call:f{a:}", "missing value"},
      {"call:f{:1}", "missing key"},
      {"call:{a:1}", "missing function name"},
      {"call:f", "expected '{' after the function name 'f'"},
      {"call:f{a:1} trailing", "unexpected text after the arguments"},
      {"call:f{a:\"x}", "unterminated \"...\" string"},
      {"", "missing function name"},
  };
  for (const auto& c : cases) {
    const std::string text = std::string("Before.<|tool_call>") + c.body + "<tool_call|>After.";
    const auto events = parse_all_ways(text);
    ASSERT_EQ(events.size(), 3u) << c.body;
    EXPECT_EQ(events[0], text_event(Kind::kAnswer, "Before."));
    EXPECT_EQ(events[1].kind, Kind::kMalformedToolCall);
    EXPECT_EQ(events[1].text, c.body);
    EXPECT_NE(events[1].error.find(c.error), std::string::npos) << c.body << ": " << events[1].error;
    EXPECT_EQ(events[2], text_event(Kind::kAnswer, "After."));
  }
  // A new call while one is open: the open one is reported, the new one parsed.
  const auto events = parse_all_ways("<|tool_call>call:f{a:<|tool_call>call:g{b:2}<tool_call|>");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, Kind::kMalformedToolCall);
  EXPECT_EQ(events[1], call_event("g", {{"b", 2}}));
}

TEST(OutputParser, DeepNestingIsAnErrorNotACrash) {
  const std::string body = "call:f{a:" + std::string(10000, '[') + std::string(10000, ']') + "}";
  EXPECT_THROW(parse_tool_call(body), Error);
  const ParsedOutput out = parse_output("<|tool_call>" + body + "<tool_call|>");
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_NE(out.errors[0].find("nested deeper"), std::string::npos);
}

TEST(OutputParser, ParseOutputCollectsEverything) {
  const ParsedOutput out = parse_output(
      "<|channel>thought\nhmm<channel|>A<|tool_call>call:f{x:1}<tool_call|>B<|tool_call>call:{}<tool_call|>C<turn|>");
  EXPECT_EQ(out.thinking, "hmm");
  EXPECT_EQ(out.answer, "ABC");
  ASSERT_EQ(out.tool_calls.size(), 1u);
  EXPECT_EQ(out.tool_calls[0], (ToolCall{"f", {{"x", 1}}}));
  ASSERT_EQ(out.errors.size(), 1u);
}

// Every tool call the chat renderer wrote into the golden prompts parses back
// to the arguments it was given.
TEST(OutputParser, RoundTripsTheChatRenderersToolCalls) {
  std::ifstream in(std::string(GEMMA4_TEST_DATA_DIR) + "/text/chat/goldens.json");
  ASSERT_TRUE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  const json goldens = json::parse(ss.str());
  int checked = 0;
  for (const auto& c : goldens["cases"]) {
    std::vector<json> calls;
    for (const auto& m : c["messages"]) {
      if (!m.contains("tool_calls")) continue;
      for (const auto& tc : m["tool_calls"]) calls.push_back(tc["function"]);
    }
    const std::string prompt = c["expected"]["large"].get<std::string>();
    std::size_t at = 0;
    for (const auto& fn : calls) {
      const std::size_t start = prompt.find("<|tool_call>", at);
      ASSERT_NE(start, std::string::npos);
      const std::size_t end = prompt.find("<tool_call|>", start);
      at = end;
      if (!fn["arguments"].is_object()) continue;  // string arguments are inserted verbatim
      const ParsedOutput out = parse_output(prompt.substr(start, end + 12 - start));
      ASSERT_EQ(out.tool_calls.size(), 1u) << c["name"];
      EXPECT_EQ(out.tool_calls[0].name, fn["name"]);
      EXPECT_EQ(out.tool_calls[0].arguments, fn["arguments"]) << c["name"];
      ++checked;
    }
  }
  EXPECT_GE(checked, 20);
}

// The agent loop: model output -> assistant message -> next prompt. The
// model's turn in the new prompt carries its reasoning and calls exactly as
// it wrote them, followed by the tool's response.
TEST(OutputParser, AssistantMessageClosesTheAgentLoop) {
  const std::string output =
      "<|channel>thought\nNeed the weather.<channel|><|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>,"
      "days:[1,2],opts:{metric:true}}<tool_call|><|tool_call>call:get_time{}<tool_call|>";
  const json message = to_assistant_message(parse_output(output));
  EXPECT_EQ(message["role"], "assistant");
  EXPECT_TRUE(message["content"].is_null());
  EXPECT_EQ(message["reasoning"], "Need the weather.");
  ASSERT_EQ(message["tool_calls"].size(), 2u);
  EXPECT_EQ(message["tool_calls"][1]["id"], "call_1");

  json messages = json::array({{{"role", "user"}, {"content", "Weather?"}}, message});
  messages.push_back({{"role", "tool"}, {"tool_call_id", "call_0"}, {"content", "sunny"}});
  messages.push_back({{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "noon"}});
  const std::string prompt = render_chat(messages, json(), ChatOptions{}).text();
  const std::string turn = "<|turn>model\n" + output.substr(0, output.find("Need")) + "Need the weather.\n" +
                           output.substr(output.find("<channel|>"));
  EXPECT_NE(prompt.find(turn + "<|tool_response>response:get_weather{value:<|\"|>sunny<|\"|>}<tool_response|>"
                               "<|tool_response>response:get_time{value:<|\"|>noon<|\"|>}<tool_response|>"),
            std::string::npos)
      << prompt;

  const json plain = to_assistant_message(parse_output("Just text."));
  EXPECT_EQ(plain, json({{"role", "assistant"}, {"content", "Just text."}}));
}

TEST(Utf8, SanitizeHoldsBackOnlyIncompleteCharacters) {
  std::string out;
  EXPECT_EQ(sanitize_utf8("ab\xE4\xB8", false, out), 2u);
  EXPECT_EQ(out, "ab");
  out.clear();
  EXPECT_EQ(sanitize_utf8("ab\xFF", false, out), 3u);  // never valid: replaced at once
  EXPECT_EQ(out, "ab\uFFFD");
  out.clear();
  EXPECT_EQ(sanitize_utf8("\xE4\xB8", true, out), 2u);
  EXPECT_EQ(out, "\uFFFD");
}

}  // namespace
}  // namespace gemma4::text
