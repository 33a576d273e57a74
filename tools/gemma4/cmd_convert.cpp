// `gemma4 convert <hf-folder|gguf> -o out.gguf --type T`: writes a gemma4
// GGUF that llama.cpp and this engine load. The work is in gemma4::convert_model.
#include <gemma4/convert.hpp>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

namespace {

gemma4::ConvertRequest request;
bool quiet = false;

}  // namespace

CLI::App* add_convert_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("convert", "Convert a Hugging Face checkpoint folder or a GGUF to a gemma4 GGUF");
  cmd->add_option("input", request.input, "Checkpoint folder (config.json + safetensors) or .gguf file")->required();
  cmd->add_option("-o,--output", request.output, "GGUF file to write")->required();
  cmd->add_option("--type", request.type, "Weight type of the output")
      ->check(CLI::IsMember({"f32", "f16", "bf16", "q8_0", "q4_0", "q4_k_m", "q5_k_m", "q6_k"}));
  cmd->add_flag("-q,--quiet", quiet, "Do not print progress");
  return cmd;
}

int run_convert_command() {
  if (!quiet) {
    request.progress = [](size_t done, size_t total, const std::string& tensor) {
      fmt::print(stderr, "\r[{}/{}] {:<48}", done, total, tensor);
      if (done == total) fmt::print(stderr, "\n");
    };
  }
  const auto summary = gemma4::convert_model(request);
  fmt::print("wrote {} ({} tensors, {} bytes, {})\n", request.output, summary.tensors, summary.bytes, request.type);
  return 0;
}
