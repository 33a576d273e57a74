// gemma4::Model: a loaded decoder plus its tokenizer, chat format and
// generation settings.
#include <gemma4/error.hpp>
#include <gemma4/model.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>

#include "kernels/cpu/isa.hpp"
#include "src/api/model_impl.hpp"

namespace gemma4 {

namespace {

nlohmann::json parse_json_arg(std::string_view text, const char* what, nlohmann::json empty) {
  if (text.empty()) return empty;
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw Error(fmt::format("{} is not valid JSON", what));
  if (!j.is_array()) throw Error(fmt::format("{} must be a JSON array", what));
  return j;
}

void select_isa(const std::string& isa) {
  if (isa.empty()) return;
  for (kernels::Isa candidate : {kernels::Isa::scalar, kernels::Isa::avx2, kernels::Isa::avx512, kernels::Isa::neon}) {
    if (kernels::isa_name(candidate) == isa) {
      kernels::set_active_isa(candidate);
      return;
    }
  }
  throw Error(fmt::format("unknown CPU kernel path '{}' (expected scalar, avx2, avx512 or neon)", isa));
}

// The special tokens Gemma 4 stops on and the media tokens a text-only
// generation suppresses, found by their text so that any vocabulary works
// (the released models have them at fixed ids; small test models elsewhere).
std::vector<int32_t> ids_of(const text::Tokenizer& tok, std::initializer_list<std::string_view> texts) {
  std::vector<int32_t> ids;
  for (std::string_view t : texts) {
    if (auto id = tok.special_id(t)) ids.push_back(*id);
  }
  return ids;
}

}  // namespace

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

std::shared_ptr<const Model> Model::load(const std::filesystem::path& path, const LoadOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  select_isa(options.isa);
  auto impl = std::make_unique<Impl>();
  impl->loaded = model::load_model(path);
  if (options.progress) options.progress(0.5f);
  const model::LoadedModel& m = *impl->loaded;
  if (m.gguf) {
    impl->tokenizer.emplace(text::Tokenizer::from_gguf(text::gguf_tokenizer_data(*m.gguf)));
  } else {
    impl->tokenizer.emplace(text::Tokenizer::from_directory(path));
  }
  const text::Tokenizer& tok = *impl->tokenizer;
  if (tok.vocab_size() != static_cast<int32_t>(m.config.vocab_size)) {
    throw Error(fmt::format("{}: the tokenizer has {} tokens but the model's embedding has {} rows", path.string(),
                            tok.vocab_size(), m.config.vocab_size));
  }
  impl->generation = text::default_generation_config();
  const auto gen_file = path / "generation_config.json";
  std::error_code ec;
  if (!m.gguf && std::filesystem::exists(gen_file, ec)) impl->generation = text::load_generation_config(gen_file);
  // Stop ids: the model's own end tokens, found by text, plus whatever the
  // generation config lists that exists in this vocabulary.
  std::vector<int32_t> stops = ids_of(tok, {"<eos>", "<turn|>", "<|tool_response>"});
  for (int32_t id : impl->generation.stop_ids) {
    if (id >= 0 && id < tok.vocab_size() && std::find(stops.begin(), stops.end(), id) == stops.end()) {
      stops.push_back(id);
    }
  }
  impl->generation.stop_ids = stops;
  impl->suppressed =
      ids_of(tok, {"<|image>", "<image|>", "<|image|>", "<|audio>", "<audio|>", "<|audio|>", "<|video|>"});
  for (int32_t id : impl->generation.suppress_ids) {
    if (id >= 0 && id < tok.vocab_size()) impl->suppressed.push_back(id);
  }
  // The small-model chat template belongs to the Per-Layer-Embedding models
  // (E2B, E4B); the large one to 26B-A4B and 31B.
  impl->family = m.config.has_ple() ? text::TemplateFamily::kSmall : text::TemplateFamily::kLarge;
  if (options.progress) options.progress(1.0f);
  impl->load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return std::shared_ptr<const Model>(new Model(std::move(impl)));
}

std::string Model::variant() const {
  return impl_->loaded->config.variant;
}

std::string Model::description() const {
  const formats::ModelConfig& c = impl_->loaded->config;
  return fmt::format("Gemma 4 {} ({} layers, hidden {}, vocabulary {}{}{}) from {}", c.variant, c.num_layers,
                     c.hidden_size, c.vocab_size, c.has_ple() ? ", per-layer embeddings" : "",
                     c.is_moe() ? fmt::format(", {} experts", c.num_experts) : "", impl_->loaded->path.string());
}

size_t Model::max_context() const {
  return impl_->loaded->config.max_position;
}

uint64_t Model::weight_bytes() const {
  uint64_t n = 0;
  for (const auto& [name, t] : impl_->loaded->tensors) n += t.data.size();
  return n;
}

uint64_t Model::n_params() const {
  uint64_t n = 0;
  for (const auto& [name, t] : impl_->loaded->tensors) n += t.elements();
  return n;
}
double Model::load_ms() const {
  return impl_->load_ms;
}

std::vector<int32_t> Model::tokenize(std::string_view text, bool parse_special) const {
  return impl_->tokenizer->encode(text, text::EncodeOptions{parse_special});
}

std::string Model::detokenize(std::span<const int32_t> ids) const {
  return impl_->tokenizer->decode(ids);
}
std::string Model::token_text(int32_t id) const {
  return impl_->tokenizer->piece(id);
}
int32_t Model::vocab_size() const {
  return impl_->tokenizer->vocab_size();
}
std::optional<int32_t> Model::bos_id() const {
  return impl_->tokenizer->bos_id();
}

text::RenderedPrompt Model::Impl::render(std::string_view messages_json, std::string_view tools_json,
                                         const ChatOptions& options) const {
  const nlohmann::json messages = parse_json_arg(messages_json, "the messages", nlohmann::json::array());
  const nlohmann::json tools = parse_json_arg(tools_json, "the tool definitions", nlohmann::json::array());
  text::ChatOptions o;
  o.family = family;
  o.enable_thinking = options.thinking;
  o.add_generation_prompt = options.add_generation_prompt;
  return text::render_chat(messages, tools, o);
}

std::vector<int32_t> Model::chat_prompt(std::string_view messages_json, std::string_view tools_json,
                                        const ChatOptions& options) const {
  const text::RenderedPrompt prompt = impl_->render(messages_json, tools_json, options);
  std::vector<int32_t> ids;
  for (const text::PromptSegment& s : prompt.segments) {
    if (!s.special) {
      const auto piece = impl_->tokenizer->encode(s.text);
      ids.insert(ids.end(), piece.begin(), piece.end());
      continue;
    }
    const auto id = impl_->tokenizer->special_id(s.text);
    if (!id) throw Error(fmt::format("the model's vocabulary has no special token {}", s.text));
    ids.push_back(*id);
  }
  return ids;
}

std::string Model::chat_prompt_text(std::string_view messages_json, std::string_view tools_json,
                                    const ChatOptions& options) const {
  return impl_->render(messages_json, tools_json, options).text();
}

SamplingOptions Model::default_sampling() const {
  const text::SamplingParams& p = impl_->generation.sampling;
  SamplingOptions s;
  s.greedy = p.greedy;
  s.temperature = p.temperature;
  s.top_k = p.top_k;
  s.top_p = p.top_p;
  s.min_p = p.min_p;
  s.repeat_penalty = p.repetition_penalty;
  s.presence_penalty = p.presence_penalty;
  s.frequency_penalty = p.frequency_penalty;
  s.repeat_last_n = p.penalty_last_n;
  s.seed = p.seed;
  return s;
}

std::vector<int32_t> Model::stop_ids() const {
  return impl_->generation.stop_ids;
}

}  // namespace gemma4
