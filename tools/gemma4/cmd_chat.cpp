// `gemma4 chat`: an interactive conversation in the terminal.
//
// Each turn renders the whole conversation in Gemma 4's chat format; the
// tokens the context already holds are reused when the new prompt starts with
// them, else the context is rebuilt. The model's output goes through the
// output parser, so thinking, the answer and tool calls are shown apart.
#include <gemma4/error.hpp>
#include <gemma4/model.hpp>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "src/text/output_parser.hpp"
#include "tools/gemma4/cli_common.hpp"

namespace {

struct ChatFlags {
  std::string model;
  std::string system;
  std::string tools_file;
  bool think = false;
  int64_t n_predict = -1;
  SamplingFlags sampling;
  ContextFlags context;
};

ChatFlags flags;

struct Style {  // ANSI colours, only on a terminal
  bool on = false;
  std::string user() const { return on ? "\033[1;32m" : ""; }
  std::string model() const { return on ? "\033[1;34m" : ""; }
  std::string thought() const { return on ? "\033[2m" : ""; }
  std::string tool() const { return on ? "\033[33m" : ""; }
  std::string error() const { return on ? "\033[31m" : ""; }
  std::string reset() const { return on ? "\033[0m" : ""; }
};

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw gemma4::Error(fmt::format("cannot read '{}'", path));
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

nlohmann::json read_json_array(const std::string& path, const char* what) {
  nlohmann::json j = nlohmann::json::parse(read_text_file(path), nullptr, false);
  if (j.is_discarded() || !j.is_array()) throw gemma4::Error(fmt::format("{}: {} must be a JSON array", path, what));
  return j;
}

// Reads one user message: a line, or several when a line ends with '\'.
// Returns false at end of input.
bool read_message(const Style& style, std::string& out) {
  out.clear();
  fmt::print("{}> {}", style.user(), style.reset());
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
    if (!line.empty() && line.back() == '\\') {
      line.pop_back();
      out += line + "\n";
      fmt::print(". ");
      std::fflush(stdout);
      continue;
    }
    out += line;
    return true;
  }
  return !out.empty();
}

class Session {
 public:
  Session(std::shared_ptr<const gemma4::Model> model, const Style& style)
      : model_(std::move(model)), ctx_(model_, flags.context.to_options()), style_(style) {
    if (!flags.tools_file.empty()) tools_ = read_json_array(flags.tools_file, "the tool definitions");
    think_ = flags.think;
    system_ = flags.system;
  }

  // Returns false when the user asked to leave.
  bool command(const std::string& line) {
    const auto arg = [&](size_t n) { return line.size() > n ? line.substr(n) : std::string(); };
    if (line == "/exit" || line == "/quit") return false;
    if (line == "/help") {
      fmt::print(
          "/reset  forget the conversation\n/system TEXT  set the system prompt (and reset)\n"
          "/think on|off  let the model think before answering\n/tools FILE.json  offer these tools\n"
          "/save FILE  save the conversation (JSON)\n/load FILE  load a conversation\n/exit  leave\n"
          "End a line with \\ to continue the message on the next line; Ctrl-C stops an answer.\n");
    } else if (line == "/reset") {
      messages_ = nlohmann::json::array();
      fmt::print("(conversation cleared)\n");
    } else if (line.rfind("/system", 0) == 0) {
      system_ = arg(8);
      messages_ = nlohmann::json::array();
      fmt::print("(system prompt set, conversation cleared)\n");
    } else if (line == "/think on" || line == "/think off") {
      think_ = line == "/think on";
      fmt::print("(thinking {})\n", think_ ? "on" : "off");
    } else if (line.rfind("/tools ", 0) == 0) {
      tools_ = read_json_array(arg(7), "the tool definitions");
      fmt::print("({} tool(s) offered)\n", tools_.size());
    } else if (line.rfind("/save ", 0) == 0) {
      std::ofstream out(arg(6));
      if (!out) throw gemma4::Error(fmt::format("cannot write '{}'", arg(6)));
      out << nlohmann::json({{"system", system_}, {"messages", messages_}}).dump(2) << "\n";
      fmt::print("(saved {} messages)\n", messages_.size());
    } else if (line.rfind("/load ", 0) == 0) {
      const nlohmann::json j = nlohmann::json::parse(read_text_file(arg(6)), nullptr, false);
      if (j.is_discarded() || !j.contains("messages") || !j["messages"].is_array()) {
        throw gemma4::Error(fmt::format("{}: not a conversation saved by /save", arg(6)));
      }
      messages_ = j["messages"];
      system_ = j.value("system", std::string());
      fmt::print("(loaded {} messages)\n", messages_.size());
    } else {
      fmt::print("unknown command {} (/help lists them)\n", line);
    }
    return true;
  }

  void turn(const std::string& text) {
    messages_.push_back({{"role", "user"}, {"content", text}});
    nlohmann::json conversation = nlohmann::json::array();
    if (!system_.empty()) conversation.push_back({{"role", "system"}, {"content", system_}});
    for (const auto& m : messages_) conversation.push_back(m);
    gemma4::ChatOptions chat;
    chat.thinking = think_;
    const std::vector<int32_t> prompt = model_->chat_prompt(conversation.dump(), tools_.dump(), chat);

    // Reuse the context when it holds a prefix of the new prompt.
    const std::vector<int32_t>& held = ctx_.tokens();
    const bool reusable = held.size() <= prompt.size() && std::equal(held.begin(), held.end(), prompt.begin());
    if (!reusable) ctx_.reset();
    const std::span<const int32_t> fresh(prompt.data() + ctx_.tokens().size(), prompt.size() - ctx_.tokens().size());

    gemma4::GenerateOptions gen;
    gen.sampling = flags.sampling.to_options(*model_);
    if (flags.n_predict >= 0) gen.max_tokens = static_cast<size_t>(flags.n_predict);
    gemma4::text::OutputParser parser;
    std::string answer, thinking;
    nlohmann::json calls = nlohmann::json::array();
    bool in_thought = false;
    auto show = [&](const std::vector<gemma4::text::OutputEvent>& events) {
      for (const auto& e : events) {
        using K = gemma4::text::OutputEvent::Kind;
        if (e.kind == K::kThinking) {
          if (!in_thought) fmt::print("{}[thinking] ", style_.thought());
          in_thought = true;
          thinking += e.text;
          fmt::print("{}", e.text);
          continue;
        }
        if (in_thought) fmt::print("{}\n", style_.reset());
        in_thought = false;
        if (e.kind == K::kAnswer) {
          answer += e.text;
          fmt::print("{}", e.text);
        } else if (e.kind == K::kToolCall) {
          const nlohmann::json call = {{"name", e.call.name}, {"arguments", e.call.arguments}};
          calls.push_back({{"type", "function"}, {"function", call}});
          fmt::print("{}[tool call] {}{}\n", style_.tool(), call.dump(), style_.reset());
        } else {
          fmt::print("{}[malformed tool call: {}] {}{}\n", style_.error(), e.error, e.text, style_.reset());
        }
      }
      std::fflush(stdout);
    };
    fmt::print("{}", style_.model());
    std::fflush(stdout);
    fmt::print("{}", style_.reset());
    clear_interrupt();
    const gemma4::GenerateResult r = ctx_.generate(fresh, gen, [&](std::string_view piece) {
      show(parser.feed(piece));
      return !interrupted();
    });
    show(parser.finish());
    if (in_thought) fmt::print("{}", style_.reset());
    if (r.reason == gemma4::StopReason::cancelled) fmt::print(" [stopped]");
    fmt::print("\n");
    clear_interrupt();
    nlohmann::json reply = {{"role", "assistant"}, {"content", answer}};
    if (!calls.empty()) reply["tool_calls"] = calls;
    messages_.push_back(reply);
  }

 private:
  std::shared_ptr<const gemma4::Model> model_;
  gemma4::Context ctx_;
  Style style_;
  nlohmann::json messages_ = nlohmann::json::array();
  nlohmann::json tools_ = nlohmann::json::array();
  std::string system_;
  bool think_ = false;
};

}  // namespace

CLI::App* add_chat_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("chat", "Talk with a model in the terminal (/help lists the commands)");
  add_model_flag(*cmd, flags.model);
  cmd->add_option("--system", flags.system, "System prompt");
  cmd->add_option("--tools", flags.tools_file, "JSON file of tool (function) definitions to offer");
  cmd->add_flag("--think", flags.think, "Let the model think before answering");
  cmd->add_option("-n,--n-predict", flags.n_predict, "Most tokens per answer (-1: no limit)")
      ->check(CLI::Range(int64_t{-1}, int64_t{1} << 40));
  add_sampling_flags(*cmd, flags.sampling);
  add_context_flags(*cmd, flags.context);
  return cmd;
}

int run_chat_command() {
  Style style;
  style.on = isatty(STDOUT_FILENO) != 0;
  auto model = load_model_with_progress(flags.model);
  Session session(model, style);
  fmt::print("{}\nType a message, /help for commands, /exit or Ctrl-D to leave.\n", model->description());
  std::string line;
  while (read_message(style, line)) {
    if (line.empty()) continue;
    try {
      if (line[0] == '/') {
        if (!session.command(line)) break;
        continue;
      }
      session.turn(line);
    } catch (const gemma4::Error& e) {
      // A bad command or a conversation that outgrew the context: say so, stay.
      fmt::print("{}error: {}{}\n", style.error(), e.what(), style.reset());
    }
  }
  return 0;
}
