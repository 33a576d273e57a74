// check_tool_call: parsed calls against the declared tools.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "src/text/json_schema.hpp"

namespace gemma4::text {
namespace {

using nlohmann::json;

const json kTools = json::parse(R"([
  {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "OBJECT",
    "properties": {
      "city": {"type": "string"},
      "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
      "days": {"type": "integer", "nullable": true},
      "coords": {"type": "array", "items": {"type": "number"}},
      "opts": {"type": "object", "properties": {"metric": {"type": "boolean"}}, "required": ["metric"],
               "additionalProperties": false},
      "either": {"type": ["string", "null"]}
    },
    "required": ["city"]}}},
  {"type": "function", "function": {"name": "get_time"}}
])");

std::vector<std::string> check(const char* name, const char* args) {
  return check_tool_call(ToolCall{name, json::parse(args)}, kTools);
}

TEST(ToolCheck, ValidCallsPass) {
  EXPECT_TRUE(check("get_weather", R"({"city": "Paris"})").empty());
  EXPECT_TRUE(check("get_weather", R"({"city": "Paris", "unit": "celsius", "days": null, "coords": [1, 2.5],
                                       "opts": {"metric": true}, "either": null})")
                  .empty());
  EXPECT_TRUE(check("get_weather", R"({"city": "Paris", "days": 3.0})").empty());  // integral float
  EXPECT_TRUE(check("get_time", "{}").empty());
}

TEST(ToolCheck, ProblemsAreNamed) {
  EXPECT_EQ(check("get_wether", "{}"),
            std::vector<std::string>{"unknown function 'get_wether' (declared: get_weather, get_time)"});
  EXPECT_EQ(check("get_weather", "{}"), std::vector<std::string>{"get_weather: arguments: missing required 'city'"});
  EXPECT_EQ(check("get_weather", R"({"city": 5})"),
            std::vector<std::string>{"get_weather: arguments.city: expected string, got integer"});
  EXPECT_EQ(
      check("get_weather", R"({"city": "x", "unit": "kelvin"})"),
      std::vector<std::string>{"get_weather: arguments.unit: \"kelvin\" is not one of [\"celsius\",\"fahrenheit\"]"});
  EXPECT_EQ(check("get_weather", R"({"city": "x", "days": 1.5})"),
            std::vector<std::string>{"get_weather: arguments.days: expected integer, got number"});
  EXPECT_EQ(check("get_weather", R"({"city": "x", "coords": [1, "2"]})"),
            std::vector<std::string>{"get_weather: arguments.coords[1]: expected number, got string"});
  EXPECT_EQ(check("get_weather", R"({"city": "x", "opts": {"fast": 1}})"),
            (std::vector<std::string>{"get_weather: arguments.opts: missing required 'metric'",
                                      "get_weather: arguments.opts: unexpected property 'fast'"}));
  EXPECT_EQ(check("get_weather", R"({"city": "x", "either": 1})"),
            std::vector<std::string>{"get_weather: arguments.either: expected string or null, got integer"});
  EXPECT_EQ(check("get_time", R"({"x": 1})"), std::vector<std::string>{"get_time: takes no arguments, got {\"x\":1}"});
  EXPECT_EQ(check_tool_call(ToolCall{"f", json::object()}, json()),
            std::vector<std::string>{"unknown function 'f' (declared: none)"});
}

}  // namespace
}  // namespace gemma4::text
