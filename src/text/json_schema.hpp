// Checking a parsed tool call against the tools the prompt declared, so an
// application can answer a wrong call with a precise message (as the tool
// response) instead of running it. Covers the JSON-Schema subset that tool
// definitions use: type (a name or a list, any case), nullable, enum,
// properties, required, additionalProperties: false, items.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "src/text/output_parser.hpp"

namespace gemma4::text {

// One message per problem, each naming the function and the argument's path
// (e.g. "get_weather: arguments.city: expected string, got number"); empty
// when the call is valid. `tools` is the array given to render_chat.
std::vector<std::string> check_tool_call(const ToolCall& call, const nlohmann::json& tools);

}  // namespace gemma4::text
