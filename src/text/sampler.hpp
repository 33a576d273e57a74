// Choosing the next token from the model's logits, and the limits of a
// generation: Gemma 4's defaults from generation_config.json, stop ids,
// suppressed tokens, max-token and context checks.
//
// Filter order follows Hugging Face transformers: suppression, penalties,
// temperature, top-k, top-p, min-p, then one draw from the renormalised
// distribution. The random generator is our own (xoshiro256**), so a seed
// gives the same tokens on every platform and standard library.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace gemma4::text {

struct SamplingParams {
  bool greedy = false;                // always the most likely token (generation_config do_sample == false)
  float temperature = 1.0f;           // <= 0 also means greedy
  int top_k = 64;                     // keep the k most likely tokens; 0 = off
  float top_p = 0.95f;                // keep the smallest set with this much probability; 1 = off
  float min_p = 0.0f;                 // drop tokens below min_p * (top probability); 0 = off
  float repetition_penalty = 1.0f;    // seen tokens: positive logits divided by it, negative multiplied
  float presence_penalty = 0.0f;      // subtracted once from every seen token's logit
  float frequency_penalty = 0.0f;     // subtracted per occurrence
  int penalty_last_n = 0;             // penalties look at this many most recent tokens; 0 = all given
  std::optional<std::uint64_t> seed;  // none: a random seed
};

// Gemma 4's generation settings (reference spec §9).
struct GenerationConfig {
  SamplingParams sampling;
  std::vector<std::int32_t> stop_ids = {1, 106, 50};  // <eos>, <turn|>, <|tool_response>
  std::vector<std::int32_t> suppress_ids;             // never generated (generation_config suppress_tokens)
  std::int32_t bos_id = 2;
  std::int32_t pad_id = 0;
  std::optional<std::size_t> max_new_tokens;
};

// The published defaults of the instruction-tuned models: sampling with
// temperature 1.0, top-k 64, top-p 0.95; stop on 1, 106, 50.
GenerationConfig default_generation_config();

// Reads a generation_config.json. Fields it lacks keep Gemma 4's defaults;
// unknown fields are ignored. Throws gemma4::Error naming `source` and the
// field when the JSON is invalid or a field has the wrong type or range.
GenerationConfig parse_generation_config(std::string_view json_text,
                                         std::string_view source = "generation_config.json");
GenerationConfig load_generation_config(const std::filesystem::path& path);

// Image, audio and video control and placeholder tokens. A text-only
// generation suppresses them: the model cannot use them without the media.
std::vector<std::int32_t> multimodal_token_ids();

// The ids a generation must never produce: the config's suppress_ids, plus
// multimodal_token_ids() when the prompt has no images, audio or video.
std::vector<std::int32_t> suppressed_token_ids(const GenerationConfig& config, bool text_only);

// A token that survived the filters, with its final probability.
struct SamplingCandidate {
  std::int32_t id = 0;
  float probability = 0.0f;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params, std::vector<std::int32_t> suppressed_ids = {});

  // The next token. `history` holds the tokens so far (prompt and output),
  // which the penalties read. Throws gemma4::Error when the logits contain
  // NaN or every token is suppressed.
  std::int32_t sample(std::span<const float> logits, std::span<const std::int32_t> history);

  // The tokens sample() would draw from, most likely first, with their
  // renormalised probabilities (one token with probability 1 when greedy).
  std::vector<SamplingCandidate> candidates(std::span<const float> logits, std::span<const std::int32_t> history) const;

  const SamplingParams& params() const { return params_; }

 private:
  std::uint64_t next_random();
  double uniform();  // in [0, 1)

  SamplingParams params_;
  std::vector<std::int32_t> suppressed_;
  std::uint64_t state_[4] = {};
};

// Why a generation ended.
enum class FinishReason : std::uint8_t { kStopToken, kMaxTokens, kContextFull };

// The budget of one generation. The constructor checks that the prompt fits
// the context and throws gemma4::Error with the numbers when it does not.
class GenerationLimits {
 public:
  GenerationLimits(std::size_t prompt_tokens, std::optional<std::size_t> max_new_tokens, std::size_t context_length,
                   std::vector<std::int32_t> stop_ids);

  // How many tokens may still be generated in total.
  std::size_t max_new_tokens() const { return budget_; }

  // Records one generated token; returns why generation stops after it, if
  // it does (a stop id is not part of the answer).
  std::optional<FinishReason> on_token(std::int32_t id);

 private:
  std::size_t budget_ = 0;
  std::size_t generated_ = 0;
  bool limited_by_context_ = false;
  std::vector<std::int32_t> stop_ids_;
};

}  // namespace gemma4::text
