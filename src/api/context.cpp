// gemma4::Context: one conversation's KV caches and tokens, and the
// generation loop (prefill, sample, stream text, stop).
#include <gemma4/error.hpp>
#include <gemma4/model.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>

#include "src/api/model_impl.hpp"
#include "src/text/output_parser.hpp"

namespace gemma4 {

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

text::SamplingParams to_params(const SamplingOptions& s) {
  text::SamplingParams p;
  p.greedy = s.greedy;
  p.temperature = s.temperature;
  p.top_k = s.top_k;
  p.top_p = s.top_p;
  p.min_p = s.min_p;
  p.repetition_penalty = s.repeat_penalty;
  p.presence_penalty = s.presence_penalty;
  p.frequency_penalty = s.frequency_penalty;
  p.penalty_last_n = s.repeat_last_n;
  p.seed = s.seed;
  return p;
}

// Holds back bytes until they form whole UTF-8 characters, so a callback
// never sees half a character (byte-fallback tokens split them).
class Utf8Stream {
 public:
  std::string push(const std::string& bytes, bool final) {
    pending_ += bytes;
    std::string out;
    const size_t used = text::sanitize_utf8(pending_, final, out);
    pending_.erase(0, used);
    return out;
  }

 private:
  std::string pending_;
};

constexpr char kStateMagic[8] = {'G', '4', 'C', 'T', 'X', 'v', '1', '\n'};

}  // namespace

struct Context::Impl {
  std::unique_ptr<model::Context> ctx;
  std::vector<int32_t> tokens;
  std::vector<float> logits;
};

Context::Context(std::shared_ptr<const Model> model, const ContextOptions& options)
    : model_(std::move(model)), impl_(std::make_unique<Impl>()) {
  if (!model_) throw Error("Context: no model");
  const size_t max_ctx = model_->max_context() > 0 ? model_->max_context() : options.n_ctx;
  const size_t n_ctx = std::min(options.n_ctx, max_ctx);
  if (options.threads < 0) throw Error("Context: threads must be 0 (every core) or more");
  const auto kv = options.kv_cache == KvCacheType::f32 ? kernels::DType::F32 : kernels::DType::F16;
  impl_->ctx = std::make_unique<model::Context>(*model_->impl().loaded->decoder, n_ctx,
                                                std::clamp<size_t>(options.n_batch, 1, std::max<size_t>(n_ctx, 1)),
                                                static_cast<size_t>(options.threads), kv);
}

Context::~Context() = default;

Context::Memory Context::memory() const {
  return {impl_->ctx->kv_bytes(), impl_->ctx->buffer_bytes() + impl_->logits.capacity() * sizeof(float)};
}

size_t Context::n_ctx() const {
  return impl_->ctx->n_ctx();
}
size_t Context::n_past() const {
  return impl_->ctx->n_past();
}
const std::vector<int32_t>& Context::tokens() const {
  return impl_->tokens;
}

void Context::reset() {
  impl_->ctx->reset();
  impl_->tokens.clear();
  impl_->logits.clear();
}

std::span<const float> Context::eval(std::span<const int32_t> tokens) {
  const model::Decoder& decoder = *model_->impl().loaded->decoder;
  impl_->logits = decoder.forward(*impl_->ctx, tokens, model::Logits::last);
  impl_->tokens.insert(impl_->tokens.end(), tokens.begin(), tokens.end());
  return impl_->logits;
}

std::vector<float> Context::eval_all(std::span<const int32_t> tokens) {
  const model::Decoder& decoder = *model_->impl().loaded->decoder;
  std::vector<float> all = decoder.forward(*impl_->ctx, tokens, model::Logits::all);
  impl_->tokens.insert(impl_->tokens.end(), tokens.begin(), tokens.end());
  const size_t vocab = static_cast<size_t>(model_->vocab_size());
  impl_->logits.assign(all.end() - static_cast<std::ptrdiff_t>(vocab), all.end());
  return all;
}

GenerateResult Context::generate(std::span<const int32_t> prompt, const GenerateOptions& options,
                                 const TextCallback& on_text) {
  const Model::Impl& m = model_->impl();
  if (prompt.empty() && impl_->logits.empty()) throw Error("generate: empty prompt and nothing evaluated yet");
  std::vector<int32_t> stops = m.generation.stop_ids;
  stops.insert(stops.end(), options.extra_stop_ids.begin(), options.extra_stop_ids.end());
  // Checks that the prompt fits and sets the token budget.
  text::GenerationLimits limits(n_past() + prompt.size(), options.max_tokens, n_ctx(), stops);

  GenerateResult result;
  const auto t_prompt = Clock::now();
  if (!prompt.empty()) eval(prompt);
  result.timings.prompt_tokens = prompt.size();
  result.timings.prompt_ms = ms_since(t_prompt);

  text::Sampler sampler(to_params(options.sampling.value_or(model_->default_sampling())), m.suppressed);
  Utf8Stream stream;
  const auto t_gen = Clock::now();
  bool stopping = false;
  while (!stopping) {
    if (limits.max_new_tokens() == 0) {
      result.reason = n_past() >= n_ctx() ? StopReason::context_full : StopReason::max_tokens;
      break;
    }
    const int32_t id = sampler.sample(impl_->logits, impl_->tokens);
    const std::optional<text::FinishReason> finish = limits.on_token(id);
    if (finish == text::FinishReason::kStopToken) {
      result.reason = StopReason::stop_token;
      break;
    }
    result.tokens.push_back(id);
    const std::string piece = stream.push(m.tokenizer->token_bytes(id), false);
    result.text += piece;
    if (finish) {
      result.reason = *finish == text::FinishReason::kMaxTokens ? StopReason::max_tokens : StopReason::context_full;
      stopping = true;
    }
    if (!piece.empty() && on_text && !on_text(piece)) {
      result.reason = StopReason::cancelled;
      stopping = true;
    }
    // Keep the context consistent with the text: the last token goes in too
    // when there is room for it.
    if (n_past() < n_ctx()) eval(std::span<const int32_t>(&id, 1));
  }
  // Bytes held back for an unfinished character (U+FFFD if it stays
  // unfinished); a cancelled callback is not called again.
  const std::string rest = stream.push("", true);
  if (!rest.empty()) {
    result.text += rest;
    if (on_text && result.reason != StopReason::cancelled) on_text(rest);
  }
  result.timings.generated_tokens = result.tokens.size();
  result.timings.generate_ms = ms_since(t_gen);
  return result;
}

void Context::save(const std::filesystem::path& path) const {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw Error(fmt::format("{}: cannot write", path.string()));
  out.write(kStateMagic, sizeof kStateMagic);
  const uint64_t vocab = static_cast<uint64_t>(model_->vocab_size()), n = impl_->tokens.size();
  out.write(reinterpret_cast<const char*>(&vocab), sizeof vocab);
  out.write(reinterpret_cast<const char*>(&n), sizeof n);
  out.write(reinterpret_cast<const char*>(impl_->tokens.data()), static_cast<std::streamsize>(n * sizeof(int32_t)));
  const uint64_t nl = impl_->logits.size();
  out.write(reinterpret_cast<const char*>(&nl), sizeof nl);
  out.write(reinterpret_cast<const char*>(impl_->logits.data()), static_cast<std::streamsize>(nl * sizeof(float)));
  impl_->ctx->write_state(out);
  if (!out) throw Error(fmt::format("{}: write failed", path.string()));
}

void Context::load(const std::filesystem::path& path) {
  const std::string label = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("{}: cannot open", label));
  char magic[sizeof kStateMagic] = {};
  in.read(magic, sizeof magic);
  if (!in || std::memcmp(magic, kStateMagic, sizeof magic) != 0) {
    throw Error(fmt::format("{}: not a gemma4 context state file", label));
  }
  uint64_t vocab = 0, n = 0, nl = 0;
  in.read(reinterpret_cast<char*>(&vocab), sizeof vocab);
  in.read(reinterpret_cast<char*>(&n), sizeof n);
  if (!in || vocab != static_cast<uint64_t>(model_->vocab_size()) || n > n_ctx()) {
    throw Error(fmt::format("{}: saved from another model or a larger context", label));
  }
  std::vector<int32_t> tokens(n);
  in.read(reinterpret_cast<char*>(tokens.data()), static_cast<std::streamsize>(n * sizeof(int32_t)));
  in.read(reinterpret_cast<char*>(&nl), sizeof nl);
  if (!in || (nl != 0 && nl != vocab)) throw Error(fmt::format("{}: truncated or corrupt", label));
  std::vector<float> logits(nl);
  in.read(reinterpret_cast<char*>(logits.data()), static_cast<std::streamsize>(nl * sizeof(float)));
  if (!in) throw Error(fmt::format("{}: truncated", label));
  impl_->ctx->read_state(in, label);
  if (impl_->ctx->n_past() != n) throw Error(fmt::format("{}: token count and cache position disagree", label));
  impl_->tokens = std::move(tokens);
  impl_->logits = std::move(logits);
}

}  // namespace gemma4
