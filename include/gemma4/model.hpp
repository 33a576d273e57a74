// Loading a Gemma 4 model and generating text with it.
//
//   auto model = gemma4::Model::load("gemma-4-E2B-it-Q4_0.gguf");
//   gemma4::Context ctx(model);
//   auto prompt = model->chat_prompt(R"([{"role":"user","content":"Hello!"}])");
//   ctx.generate(prompt, {}, [](std::string_view piece) {
//     std::fwrite(piece.data(), 1, piece.size(), stdout);
//     return true;  // false stops the generation
//   });
//
// A Model is immutable once loaded and may be shared by many Contexts (one
// per conversation); a Context is used by one thread at a time. Every error a
// user can cause (a missing or corrupt file, a prompt that does not fit)
// throws gemma4::Error with a message that names the problem.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gemma4 {

struct LoadOptions {
  // CPU kernel path: "" picks the widest the CPU supports; "scalar", "avx2",
  // "avx512" or "neon" force one (an unsupported one is an error).
  std::string isa;
  // Called with the fraction of the model checked so far (0..1) while loading.
  std::function<void(float)> progress;
};

// How the next token is chosen. Model::default_sampling() gives the model's
// own settings (generation_config.json; Gemma 4: temperature 1.0, top-k 64,
// top-p 0.95).
struct SamplingOptions {
  bool greedy = false;             // always the most likely token
  float temperature = 1.0f;        // <= 0 also means greedy
  int top_k = 64;                  // 0: off
  float top_p = 0.95f;             // 1: off
  float min_p = 0.0f;              // 0: off
  float repeat_penalty = 1.0f;     // 1: off
  float presence_penalty = 0.0f;   // 0: off
  float frequency_penalty = 0.0f;  // 0: off
  int repeat_last_n = 64;          // penalties look at this many recent tokens; 0: all
  std::optional<uint64_t> seed;    // none: a random seed; set: reproducible
};

struct GenerateOptions {
  std::optional<SamplingOptions> sampling;  // none: the model's defaults
  std::optional<size_t> max_tokens;         // none: until a stop token or a full context
  std::vector<int32_t> extra_stop_ids;      // besides the model's own (<eos>, <turn|>, <|tool_response>)
};

enum class StopReason { stop_token, max_tokens, context_full, cancelled };

struct Timings {
  size_t prompt_tokens = 0;
  double prompt_ms = 0.0;
  size_t generated_tokens = 0;
  double generate_ms = 0.0;
  double prompt_tokens_per_second() const { return prompt_ms > 0 ? 1000.0 * prompt_tokens / prompt_ms : 0.0; }
  double generated_tokens_per_second() const { return generate_ms > 0 ? 1000.0 * generated_tokens / generate_ms : 0.0; }
};

struct GenerateResult {
  std::string text;             // the generated text (stop token excluded)
  std::vector<int32_t> tokens;  // the generated ids (stop token excluded)
  StopReason reason = StopReason::stop_token;
  Timings timings;
};

// Receives the generated text piece by piece, always whole UTF-8 characters.
// Returning false stops the generation (StopReason::cancelled).
using TextCallback = std::function<bool(std::string_view piece)>;

struct ChatOptions {
  bool thinking = false;              // let the model think first (<|think|>)
  bool add_generation_prompt = true;  // end with the model's turn opening
};

class Model {
 public:
  // Opens a GGUF file or a Hugging Face checkpoint folder (config.json,
  // model.safetensors or shards, tokenizer.json or tokenizer.model,
  // generation_config.json). Weights are memory-mapped, not copied.
  static std::shared_ptr<const Model> load(const std::filesystem::path& path, const LoadOptions& options = {});
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // "E2B", "E4B", "26B-A4B", "31B" or "custom", and a one-line description.
  std::string variant() const;
  std::string description() const;
  size_t max_context() const;     // the longest context the model was trained for
  uint64_t weight_bytes() const;  // bytes of the text decoder's weights as stored
  uint64_t n_params() const;      // parameters of the text decoder
  double load_ms() const;

  // Text <-> token ids. Special-token text in `text` stays plain text unless
  // parse_special is set, so user input cannot forge a turn or a tool call.
  std::vector<int32_t> tokenize(std::string_view text, bool parse_special = false) const;
  std::string detokenize(std::span<const int32_t> ids) const;
  std::string token_text(int32_t id) const;  // the vocabulary entry as stored
  int32_t vocab_size() const;
  std::optional<int32_t> bos_id() const;

  // A conversation in the OpenAI message format (a JSON array of
  // {"role": "system"|"developer"|"user"|"assistant"|"tool", "content": ...},
  // assistant messages may carry "tool_calls") and optional tool definitions
  // (a JSON array of OpenAI function definitions), rendered in Gemma 4's chat
  // format as token ids, <bos> first.
  std::vector<int32_t> chat_prompt(std::string_view messages_json, std::string_view tools_json = "",
                                   const ChatOptions& options = {}) const;
  // The same prompt as text, special tokens written out (for display).
  std::string chat_prompt_text(std::string_view messages_json, std::string_view tools_json = "",
                               const ChatOptions& options = {}) const;

  SamplingOptions default_sampling() const;
  std::vector<int32_t> stop_ids() const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Element type of the KV cache. F16 (llama.cpp's default too) halves the
// cache's memory and the bytes attention reads per token; F32 keeps every bit.
enum class KvCacheType { f16, f32 };

struct ContextOptions {
  size_t n_ctx = 4096;   // tokens the context holds (capped at the model's maximum)
  size_t n_batch = 256;  // prompt tokens processed per step
  int threads = 0;       // 0: every core
  KvCacheType kv_cache = KvCacheType::f16;
};

// One conversation: the KV caches and the tokens seen so far.
class Context {
 public:
  explicit Context(std::shared_ptr<const Model> model, const ContextOptions& options = {});
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  const Model& model() const { return *model_; }
  size_t n_ctx() const;
  size_t n_past() const;
  const std::vector<int32_t>& tokens() const;  // every token in the context, in order
  void reset();

  // Appends `tokens` and returns the logits after the last one (valid until
  // the next call). Throws gemma4::Error when they do not fit.
  std::span<const float> eval(std::span<const int32_t> tokens);
  // Like eval, but returns the logits after every one of `tokens`:
  // [tokens.size()][vocab_size] row-major (perplexity, scoring).
  std::vector<float> eval_all(std::span<const int32_t> tokens);

  // Appends `prompt`, then generates until a stop token, max_tokens, a full
  // context, or the callback returns false. The generated tokens (but not a
  // final stop token) stay in the context, so a conversation continues with
  // the next call.
  GenerateResult generate(std::span<const int32_t> prompt, const GenerateOptions& options = {},
                          const TextCallback& on_text = {});

  // Saves the context (tokens and KV caches) to a file, and restores it into
  // a context of the same model. Errors name the file and the mismatch.
  void save(const std::filesystem::path& path) const;
  void load(const std::filesystem::path& path);

  // Memory this context holds now, besides the model's mapped weights: its
  // KV caches, and its work buffers (activations of one step, the prepared
  // inputs of the matrix products, logits). gemma4::estimate_memory predicts
  // both before a model is loaded.
  struct Memory {
    size_t kv_cache_bytes = 0;
    size_t buffer_bytes = 0;
  };
  Memory memory() const;

  struct Impl;

 private:
  std::shared_ptr<const Model> model_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gemma4
