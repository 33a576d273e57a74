// Fuzz target: the streaming output parser on arbitrary bytes. It must never
// crash, every emitted string must be valid UTF-8 (the arguments are dumped as
// JSON, which throws otherwise), and feeding the input in pieces (sizes drawn
// from the input's own bytes) must give the same events as feeding it whole.
#include <gemma4/error.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "src/text/output_parser.hpp"

namespace {

using gemma4::text::OutputEvent;
using gemma4::text::OutputParser;

std::vector<OutputEvent> joined(const std::vector<OutputEvent>& events) {
  std::vector<OutputEvent> out;
  for (const auto& e : events) {
    const bool text = e.kind == OutputEvent::Kind::kThinking || e.kind == OutputEvent::Kind::kAnswer;
    if (text && !out.empty() && out.back().kind == e.kind) {
      out.back().text += e.text;
    } else if (!(text && e.text.empty())) {
      out.push_back(e);
    }
  }
  return out;
}

std::vector<OutputEvent> run(std::string_view text, std::size_t seed) {
  OutputParser parser;
  std::vector<OutputEvent> all;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t n = seed == 0 ? text.size() : 1 + (seed + at * 7) % 13;
    for (auto& e : parser.feed(text.substr(at, n))) all.push_back(std::move(e));
    at += n;
  }
  for (auto& e : parser.finish()) all.push_back(std::move(e));
  return joined(all);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto whole = run(text, 0);
  for (const auto& e : whole) {
    // dump() throws on invalid UTF-8: the parser promises clean strings.
    (void)nlohmann::json(e.text).dump();
    (void)e.call.arguments.dump();
    (void)nlohmann::json(e.call.name).dump();
  }
  const std::size_t seed = size == 0 ? 1 : 1 + data[0];
  if (run(text, seed) != whole) std::abort();
  try {
    (void)gemma4::text::parse_tool_call(text);
  } catch (const gemma4::Error&) {
  }
  return 0;
}
