// gemma4: command-line front end. Each subcommand parses its flags and calls
// the public API; nothing here knows about kernels or file formats.
#include <gemma4/gemma4.hpp>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "tools/gemma4/cli_common.hpp"

// Subcommands defined in their own files.
CLI::App* add_info_command(CLI::App& app);  // cmd_info.cpp
int run_info_command();
CLI::App* add_convert_command(CLI::App& app);  // cmd_convert.cpp
int run_convert_command();
CLI::App* add_run_command(CLI::App& app);  // cmd_run.cpp
int run_run_command();
CLI::App* add_perplexity_command(CLI::App& app);  // cmd_perplexity.cpp
int run_perplexity_command();
CLI::App* add_tokenize_command(CLI::App& app);  // cmd_tokenize.cpp
int run_tokenize_command();
CLI::App* add_bench_command(CLI::App& app);  // cmd_bench.cpp
int run_bench_command();
CLI::App* add_chat_command(CLI::App& app);  // cmd_chat.cpp
int run_chat_command();

int main(int argc, char** argv) {
  CLI::App app{"gemma4: run Gemma 4 models locally"};
  app.set_version_flag(
      "--version", [] { return fmt::format("gemma4 {}\n{}", gemma4::version(), gemma4::system_info()); },
      "Print the version and what this machine offers (CPU paths, CUDA devices)");
  app.require_subcommand(0, 1);

  auto* sysinfo = app.add_subcommand("system-info", "Print the CPU and GPU features the engine will use");
  auto* info = add_info_command(app);
  auto* convert = add_convert_command(app);
  auto* run = add_run_command(app);
  auto* perplexity = add_perplexity_command(app);
  auto* tokenize = add_tokenize_command(app);
  auto* bench = add_bench_command(app);
  auto* chat = add_chat_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  try {
    if (sysinfo->parsed()) {
      fmt::print("{}\n", gemma4::system_info());
      return 0;
    }
    if (info->parsed()) return run_info_command();
    if (convert->parsed()) return run_convert_command();
    if (perplexity->parsed()) return run_perplexity_command();
    if (tokenize->parsed()) return run_tokenize_command();
    if (bench->parsed()) return run_bench_command();
    if (chat->parsed()) {
      install_interrupt_handler();
      return run_chat_command();
    }
    if (run->parsed()) {
      install_interrupt_handler();
      return run_run_command();
    }
    fmt::print("{}", app.help());
    return 0;
  } catch (const gemma4::Error& e) {
    fmt::print(stderr, "gemma4: error: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "gemma4: internal error: {}\n", e.what());
    return 2;
  }
}
