// Flags and helpers shared by the gemma4 subcommands.
#pragma once

#include <gemma4/model.hpp>

#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

// -m/--model; when not given, the default model shipped in models/.
void add_model_flag(CLI::App& cmd, std::string& model);
std::string default_model_path();

// The sampling flags users know from llama.cpp. Unset flags keep the model's
// own defaults (generation_config.json).
struct SamplingFlags {
  std::optional<float> temperature, top_p, min_p, repeat_penalty, presence_penalty, frequency_penalty;
  std::optional<int> top_k, repeat_last_n;
  std::optional<uint64_t> seed;
  gemma4::SamplingOptions to_options(const gemma4::Model& model) const;
};
void add_sampling_flags(CLI::App& cmd, SamplingFlags& flags);

struct ContextFlags {
  size_t n_ctx = 4096;
  size_t n_batch = 256;
  int threads = 0;
  std::string kv_type = "f16";
  gemma4::ContextOptions to_options() const;
};
void add_context_flags(CLI::App& cmd, ContextFlags& flags);

// --kv-type: the KV cache's element type, "f16" or "f32".
void add_kv_type_flag(CLI::App& cmd, std::string& kv_type);
gemma4::KvCacheType kv_cache_type(const std::string& name);

// Loads a model, drawing a progress line on standard error when it is a terminal.
std::shared_ptr<const gemma4::Model> load_model_with_progress(const std::string& path);

// "load 120 ms | prompt 12 tokens, 350.2 tok/s | generation 64 tokens, 41.0 tok/s" on standard error.
void print_timings(const gemma4::Model& model, const gemma4::GenerateResult& result);

// Ctrl-C during a generation sets this instead of killing the process; a
// second Ctrl-C before the flag is read exits.
bool interrupted();
void clear_interrupt();
void install_interrupt_handler();
