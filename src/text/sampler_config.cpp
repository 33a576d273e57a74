// generation_config.json and the limits of one generation.
#include <fmt/format.h>
#include <gemma4/error.hpp>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "src/text/sampler.hpp"

namespace gemma4::text {

namespace {

using nlohmann::json;

// A field's value when present and not null.
const json* field(const json& config, const char* key) {
  auto it = config.find(key);
  return it == config.end() || it->is_null() ? nullptr : &*it;
}

[[noreturn]] void bad_field(std::string_view source, const char* key, std::string_view expected) {
  throw Error(fmt::format("{}: \"{}\" must be {}", source, key, expected));
}

float number_field(const json& v, std::string_view source, const char* key) {
  if (!v.is_number()) bad_field(source, key, "a number");
  return v.get<float>();
}

std::int32_t token_id(const json& v, std::string_view source, const char* key) {
  if (!v.is_number_integer() || v.get<std::int64_t>() < 0 || v.get<std::int64_t>() > INT32_MAX) {
    bad_field(source, key, "a token id (a non-negative integer) or a list of them");
  }
  return static_cast<std::int32_t>(v.get<std::int64_t>());
}

std::vector<std::int32_t> token_ids(const json& v, std::string_view source, const char* key) {
  std::vector<std::int32_t> ids;
  if (v.is_array()) {
    for (const auto& x : v) ids.push_back(token_id(x, source, key));
  } else {
    ids.push_back(token_id(v, source, key));
  }
  return ids;
}

}  // namespace

GenerationConfig default_generation_config() {
  return GenerationConfig{};
}

GenerationConfig parse_generation_config(std::string_view json_text, std::string_view source) {
  json config;
  try {
    config = json::parse(json_text);
  } catch (const json::parse_error& e) {
    throw Error(fmt::format("{}: invalid JSON: {}", source, e.what()));
  }
  if (!config.is_object()) throw Error(fmt::format("{}: expected a JSON object", source));

  GenerationConfig g = default_generation_config();
  SamplingParams& s = g.sampling;
  if (const json* v = field(config, "do_sample")) {
    if (!v->is_boolean()) bad_field(source, "do_sample", "true or false");
    s.greedy = !v->get<bool>();
  }
  if (const json* v = field(config, "temperature")) {
    s.temperature = number_field(*v, source, "temperature");
    if (!(s.temperature >= 0.0f)) bad_field(source, "temperature", "a number >= 0");
  }
  if (const json* v = field(config, "top_k")) {
    if (!v->is_number_integer() || v->get<std::int64_t>() < 0 || v->get<std::int64_t>() > INT32_MAX) {
      bad_field(source, "top_k", "a non-negative integer");
    }
    s.top_k = static_cast<int>(v->get<std::int64_t>());
  }
  if (const json* v = field(config, "top_p")) {
    s.top_p = number_field(*v, source, "top_p");
    if (!(s.top_p > 0.0f && s.top_p <= 1.0f)) bad_field(source, "top_p", "a number in (0, 1]");
  }
  if (const json* v = field(config, "min_p")) {
    s.min_p = number_field(*v, source, "min_p");
    if (!(s.min_p >= 0.0f && s.min_p <= 1.0f)) bad_field(source, "min_p", "a number in [0, 1]");
  }
  if (const json* v = field(config, "repetition_penalty")) {
    s.repetition_penalty = number_field(*v, source, "repetition_penalty");
    if (!(s.repetition_penalty > 0.0f)) bad_field(source, "repetition_penalty", "a number > 0");
  }
  if (const json* v = field(config, "eos_token_id")) g.stop_ids = token_ids(*v, source, "eos_token_id");
  if (const json* v = field(config, "suppress_tokens")) g.suppress_ids = token_ids(*v, source, "suppress_tokens");
  if (const json* v = field(config, "bos_token_id")) g.bos_id = token_id(*v, source, "bos_token_id");
  if (const json* v = field(config, "pad_token_id")) g.pad_id = token_id(*v, source, "pad_token_id");
  if (const json* v = field(config, "max_new_tokens")) {
    if (!v->is_number_integer() || v->get<std::int64_t>() < 0)
      bad_field(source, "max_new_tokens", "a non-negative integer");
    g.max_new_tokens = static_cast<std::size_t>(v->get<std::int64_t>());
  }
  return g;
}

GenerationConfig load_generation_config(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("cannot open {}", path.string()));
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_generation_config(ss.str(), path.string());
}

std::vector<std::int32_t> multimodal_token_ids() {
  // <|image> <|audio> <|image|> <|audio|> <image|> <audio|> <|video|> (spec §7-8)
  return {255999, 256000, 258880, 258881, 258882, 258883, 258884};
}

std::vector<std::int32_t> suppressed_token_ids(const GenerationConfig& config, bool text_only) {
  std::vector<std::int32_t> ids = config.suppress_ids;
  if (text_only) {
    for (std::int32_t id : multimodal_token_ids()) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

GenerationLimits::GenerationLimits(std::size_t prompt_tokens, std::optional<std::size_t> max_new_tokens,
                                   std::size_t context_length, std::vector<std::int32_t> stop_ids)
    : stop_ids_(std::move(stop_ids)) {
  if (prompt_tokens == 0) throw Error("generation: the prompt is empty (it needs at least the <bos> token)");
  if (prompt_tokens >= context_length) {
    throw Error(
        fmt::format("generation: the prompt has {} tokens but the context holds {}, leaving no room to "
                    "generate; shorten the prompt or use a larger context size",
                    prompt_tokens, context_length));
  }
  const std::size_t room = context_length - prompt_tokens;
  budget_ = room;
  limited_by_context_ = true;
  if (max_new_tokens && *max_new_tokens <= room) {
    budget_ = *max_new_tokens;
    limited_by_context_ = false;
  }
}

std::optional<FinishReason> GenerationLimits::on_token(std::int32_t id) {
  ++generated_;
  if (std::find(stop_ids_.begin(), stop_ids_.end(), id) != stop_ids_.end()) return FinishReason::kStopToken;
  if (generated_ >= budget_) return limited_by_context_ ? FinishReason::kContextFull : FinishReason::kMaxTokens;
  return std::nullopt;
}

}  // namespace gemma4::text
