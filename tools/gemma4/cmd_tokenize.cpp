// `gemma4 tokenize`: the token ids (and pieces) of a text, as the model sees it.
#include <gemma4/error.hpp>
#include <gemma4/model.hpp>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "tools/gemma4/cli_common.hpp"

namespace {

struct TokenizeOptions {
  std::string model;
  std::string prompt;
  std::string file;
  bool ids_only = false;
  bool parse_special = false;
  bool json = false;
};

TokenizeOptions options;

}  // namespace

CLI::App* add_tokenize_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenize", "Show the token ids and pieces of a text (-p, -f or standard input)");
  add_model_flag(*cmd, options.model);
  cmd->add_option("-p,--prompt", options.prompt, "Text to tokenize");
  cmd->add_option("-f,--file", options.file, "Read the text from a file");
  cmd->add_flag("--ids", options.ids_only, "Print only the ids, space-separated");
  cmd->add_flag("--parse-special", options.parse_special, "Turn special-token text such as <|turn> into its id");
  cmd->add_flag("--json", options.json, "Print a JSON array of {id, piece}");
  return cmd;
}

int run_tokenize_command() {
  std::string text = options.prompt;
  if (text.empty() && !options.file.empty()) {
    std::ifstream in(options.file, std::ios::binary);
    if (!in) throw gemma4::Error(fmt::format("cannot read '{}'", options.file));
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } else if (text.empty()) {
    std::ostringstream s;
    s << std::cin.rdbuf();
    text = s.str();
  }
  auto model = load_model_with_progress(options.model);
  const std::vector<int32_t> ids = model->tokenize(text, options.parse_special);
  if (options.ids_only) {
    fmt::print("{}\n", fmt::join(ids, " "));
  } else if (options.json) {
    nlohmann::json out = nlohmann::json::array();
    for (int32_t id : ids) out.push_back({{"id", id}, {"piece", model->token_text(id)}});
    fmt::print("{}\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  } else {
    for (int32_t id : ids) fmt::print("{:>7} -> '{}'\n", id, model->token_text(id));
    fmt::print("{} tokens\n", ids.size());
  }
  return 0;
}
