// `gemma4 info <model> [-c N] [--cache-type T]`: describes a model file and
// the memory a context needs. All the work is in gemma4::inspect_model.
#include <gemma4/error.hpp>
#include <gemma4/model_info.hpp>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <cstdint>
#include <map>
#include <string>

namespace {

struct InfoOptions {
  std::string model;
  uint64_t context = 0;  // 0: the model's trained context length
  std::string cache_type = "f16";
  uint64_t batch = 256;
};

InfoOptions options;

}  // namespace

CLI::App* add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("info",
                                 "Describe a model (GGUF file, Hugging Face folder or config.json): "
                                 "parameters, tensor types, and the memory a context needs");
  cmd->add_option("model", options.model, "Model: a .gguf file, a checkpoint folder or a config.json")->required();
  cmd->add_option("-c,--context", options.context, "Context length for the memory estimate (default: trained length)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--cache-type", options.cache_type, "KV cache element type for the estimate")
      ->check(CLI::IsMember({"f32", "f16", "bf16"}));
  cmd->add_option("-b,--batch-size", options.batch, "Prompt tokens per step for the estimate (as run/bench -b)")
      ->check(CLI::PositiveNumber);
  return cmd;
}

int run_info_command() {
  const gemma4::ModelInfo info = gemma4::inspect_model(options.model);
  const std::map<std::string, uint32_t> bytes = {{"f32", 4}, {"f16", 2}, {"bf16", 2}};
  const uint64_t context = options.context != 0 ? options.context : (info.max_context != 0 ? info.max_context : 4096);
  const auto memory = gemma4::estimate_memory(info, context, bytes.at(options.cache_type), options.batch);
  fmt::print("{}", gemma4::format_model_info(info, memory));
  return 0;
}
