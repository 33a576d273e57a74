// `gemma4 run`: completion from -p, -f FILE or standard input, streamed to
// standard output as it is generated, with a timing line on standard error.
#include <gemma4/error.hpp>
#include <gemma4/model.hpp>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>

#include "tools/gemma4/cli_common.hpp"

namespace {

struct RunOptions {
  std::string model;
  std::string prompt;
  std::string prompt_file;
  bool chat = false;
  bool think = false;
  int64_t n_predict = -1;
  SamplingFlags sampling;
  ContextFlags context;
};

RunOptions options;

std::string read_prompt() {
  if (!options.prompt.empty()) return options.prompt;
  if (!options.prompt_file.empty()) {
    std::ifstream in(options.prompt_file, std::ios::binary);
    if (!in) throw gemma4::Error(fmt::format("cannot read prompt file '{}'", options.prompt_file));
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (isatty(STDIN_FILENO))
    throw gemma4::Error("no prompt: give -p TEXT, -f FILE, or pipe the prompt to standard input");
  std::ostringstream s;
  s << std::cin.rdbuf();
  return s.str();
}

}  // namespace

CLI::App* add_run_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "Continue a prompt (-p, -f or standard input), streaming the output");
  add_model_flag(*cmd, options.model);
  cmd->add_option("-p,--prompt", options.prompt, "Prompt text");
  cmd->add_option("-f,--file", options.prompt_file, "Read the prompt from a file");
  cmd->add_flag("--chat", options.chat, "Send the prompt as a user message in the chat format");
  cmd->add_flag("--think", options.think, "With --chat: let the model think first");
  cmd->add_option("-n,--n-predict", options.n_predict, "Tokens to generate (-1: until a stop token or a full context)")
      ->check(CLI::Range(int64_t{-1}, int64_t{1} << 40));
  add_sampling_flags(*cmd, options.sampling);
  add_context_flags(*cmd, options.context);
  return cmd;
}

int run_run_command() {
  const std::string text = read_prompt();
  auto model = load_model_with_progress(options.model);
  gemma4::Context ctx(model, options.context.to_options());
  std::vector<int32_t> prompt;
  if (options.chat) {
    const nlohmann::json messages = nlohmann::json::array({{{"role", "user"}, {"content", text}}});
    gemma4::ChatOptions chat;
    chat.thinking = options.think;
    prompt = model->chat_prompt(messages.dump(), "", chat);
  } else {
    if (auto bos = model->bos_id()) prompt.push_back(*bos);
    const auto ids = model->tokenize(text);
    prompt.insert(prompt.end(), ids.begin(), ids.end());
  }
  gemma4::GenerateOptions gen;
  gen.sampling = options.sampling.to_options(*model);
  if (options.n_predict >= 0) gen.max_tokens = static_cast<size_t>(options.n_predict);
  const gemma4::GenerateResult result = ctx.generate(prompt, gen, [](std::string_view piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
    return !interrupted();
  });
  std::fputc('\n', stdout);
  std::fflush(stdout);  // the timing line (stderr) comes after the text
  print_timings(*model, result);
  return 0;
}
