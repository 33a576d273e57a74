#include "tools/gemma4/cli_common.hpp"

#include <gemma4/error.hpp>

#include <fmt/format.h>

#include <unistd.h>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>

#ifndef GEMMA4_DEFAULT_MODEL
#define GEMMA4_DEFAULT_MODEL ""
#endif

namespace {
std::atomic<int> g_interrupts{0};

void on_sigint(int) {
  if (g_interrupts.fetch_add(1) >= 1) _exit(130);
}
}  // namespace

std::string default_model_path() {
  if (const char* env = std::getenv("GEMMA4_MODEL"); env != nullptr && *env != '\0') return env;
  return GEMMA4_DEFAULT_MODEL;
}

void add_model_flag(CLI::App& cmd, std::string& model) {
  cmd.add_option("-m,--model", model,
                 "Model: a .gguf file or a Hugging Face checkpoint folder (default: "
                 "$GEMMA4_MODEL, else the small model shipped in models/)");
}

gemma4::SamplingOptions SamplingFlags::to_options(const gemma4::Model& model) const {
  gemma4::SamplingOptions s = model.default_sampling();
  if (temperature) {
    s.temperature = *temperature;
    s.greedy = *temperature <= 0.0f;
  }
  if (top_k) s.top_k = *top_k;
  if (top_p) s.top_p = *top_p;
  if (min_p) s.min_p = *min_p;
  if (repeat_penalty) s.repeat_penalty = *repeat_penalty;
  if (presence_penalty) s.presence_penalty = *presence_penalty;
  if (frequency_penalty) s.frequency_penalty = *frequency_penalty;
  if (repeat_last_n) s.repeat_last_n = *repeat_last_n;
  if (seed) s.seed = *seed;
  return s;
}

void add_sampling_flags(CLI::App& cmd, SamplingFlags& f) {
  cmd.add_option("--temp", f.temperature, "Temperature (0: greedy)")->check(CLI::Range(0.0f, 100.0f));
  cmd.add_option("--top-k", f.top_k, "Keep the k most likely tokens (0: off)")->check(CLI::Range(0, 1 << 30));
  cmd.add_option("--top-p", f.top_p, "Nucleus sampling threshold (1: off)")->check(CLI::Range(0.0f, 1.0f));
  cmd.add_option("--min-p", f.min_p, "Drop tokens below min-p times the top probability (0: off)")
      ->check(CLI::Range(0.0f, 1.0f));
  cmd.add_option("--repeat-penalty", f.repeat_penalty, "Penalty for repeated tokens (1: off)")
      ->check(CLI::Range(0.0f, 100.0f));
  cmd.add_option("--repeat-last-n", f.repeat_last_n, "Tokens the penalties look back over (0: all)")
      ->check(CLI::Range(0, 1 << 30));
  cmd.add_option("--presence-penalty", f.presence_penalty, "Presence penalty (0: off)");
  cmd.add_option("--frequency-penalty", f.frequency_penalty, "Frequency penalty (0: off)");
  cmd.add_option("-s,--seed", f.seed, "Random seed (same seed, same output)");
}

gemma4::ContextOptions ContextFlags::to_options() const {
  gemma4::ContextOptions o;
  o.n_ctx = n_ctx;
  o.n_batch = n_batch;
  o.threads = threads;
  o.kv_cache = kv_cache_type(kv_type);
  return o;
}

void add_kv_type_flag(CLI::App& cmd, std::string& kv_type) {
  cmd.add_option("--kv-type,--cache-type-k", kv_type, "KV cache element type: f16 (half the memory) or f32")
      ->check(CLI::IsMember({"f16", "f32"}));
}

gemma4::KvCacheType kv_cache_type(const std::string& name) {
  return name == "f32" ? gemma4::KvCacheType::f32 : gemma4::KvCacheType::f16;
}

void add_context_flags(CLI::App& cmd, ContextFlags& f) {
  cmd.add_option("-c,--ctx-size", f.n_ctx, "Context size in tokens")->check(CLI::Range(size_t{1}, size_t{1} << 24));
  cmd.add_option("-b,--batch-size", f.n_batch, "Prompt tokens processed per step")
      ->check(CLI::Range(size_t{1}, size_t{1} << 16));
  cmd.add_option("-t,--threads", f.threads, "CPU threads (0: every core)")->check(CLI::Range(0, 1024));
  add_kv_type_flag(cmd, f.kv_type);
}

std::shared_ptr<const gemma4::Model> load_model_with_progress(const std::string& path) {
  std::string p = path.empty() ? default_model_path() : path;
  if (p.empty() || !std::filesystem::exists(p)) {
    if (path.empty()) {
      throw gemma4::Error(fmt::format("no model given: use -m MODEL (the default model '{}' is not there)", p));
    }
    throw gemma4::Error(fmt::format("model '{}' not found", p));
  }
  gemma4::LoadOptions options;
  if (isatty(STDERR_FILENO)) {
    options.progress = [](float f) {
      const int width = 30, done = static_cast<int>(f * width);
      fmt::print(stderr, "\rloading [{}{}] {:3.0f}%", std::string(done, '#'), std::string(width - done, ' '), f * 100);
      if (f >= 1.0f) fmt::print(stderr, "\r\033[K");
    };
  }
  return gemma4::Model::load(p, options);
}

void print_timings(const gemma4::Model& model, const gemma4::GenerateResult& r) {
  fmt::print(stderr, "load {:.0f} ms | prompt {} tokens, {:.1f} tok/s | generation {} tokens, {:.1f} tok/s\n",
             model.load_ms(), r.timings.prompt_tokens, r.timings.prompt_tokens_per_second(), r.timings.generated_tokens,
             r.timings.generated_tokens_per_second());
}

bool interrupted() {
  return g_interrupts.load() > 0;
}
void clear_interrupt() {
  g_interrupts.store(0);
}
void install_interrupt_handler() {
  std::signal(SIGINT, on_sigint);
}
