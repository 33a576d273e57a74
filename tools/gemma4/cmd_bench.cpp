// `gemma4 bench`: prompt processing (pp) and generation (tg) speed, as
// llama.cpp's llama-bench measures them, with the same JSON field names so
// one script can compare both tools' output.
//
//   pp N: N prompt tokens evaluated in batches, after `depth` tokens already in the cache
//   tg N: N tokens evaluated one at a time, after `depth` tokens
// Tokens are drawn at random (fixed seed); nothing is sampled. Each test runs
// -r times in a fresh context after one untimed warm-up run.
#include <gemma4/error.hpp>
#include <gemma4/model.hpp>
#include <gemma4/system.hpp>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "tools/gemma4/cli_common.hpp"

namespace {

struct BenchOptions {
  std::vector<std::string> models;
  std::vector<size_t> n_prompt = {512};
  std::vector<size_t> n_gen = {128};
  std::vector<size_t> depth = {0};
  std::vector<int> threads = {0};
  size_t batch = 512;
  int repetitions = 5;
  bool json = false;
  std::string kv_type = "f16";
};

BenchOptions options;

struct Test {
  size_t n_prompt = 0, n_gen = 0, depth = 0;
  int threads = 0;
};

std::vector<int32_t> random_tokens(size_t n, int32_t vocab, std::mt19937& rng) {
  std::uniform_int_distribution<int32_t> pick(0, vocab - 1);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = pick(rng);
  return t;
}

// Seconds for one run of the test in a fresh context.
double run_once(const std::shared_ptr<const gemma4::Model>& model, const Test& test, std::mt19937& rng) {
  gemma4::ContextOptions co;
  co.n_ctx = test.depth + test.n_prompt + test.n_gen + 1;
  co.n_batch = options.batch;
  co.threads = test.threads;
  co.kv_cache = kv_cache_type(options.kv_type);
  gemma4::Context ctx(model, co);
  if (test.depth > 0) ctx.eval(random_tokens(test.depth, model->vocab_size(), rng));
  const auto prompt = random_tokens(test.n_prompt, model->vocab_size(), rng);
  const auto gen = random_tokens(test.n_gen, model->vocab_size(), rng);
  const auto start = std::chrono::steady_clock::now();
  if (!prompt.empty()) ctx.eval(prompt);
  for (int32_t t : gen) ctx.eval(std::span<const int32_t>(&t, 1));
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string human(double v, const char* const units[], double step) {
  int u = 0;
  while (v >= step && units[u + 1] != nullptr) {
    v /= step;
    ++u;
  }
  return fmt::format("{:.2f} {}", v, units[u]);
}

std::string test_name(const Test& t) {
  std::string name = t.n_prompt > 0 ? fmt::format("pp{}", t.n_prompt) : fmt::format("tg{}", t.n_gen);
  if (t.depth > 0) name += fmt::format(" @ d{}", t.depth);
  return name;
}

}  // namespace

CLI::App* add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Measure prompt (pp) and generation (tg) speed, like llama-bench");
  cmd->add_option("-m,--model", options.models, "Model(s) to measure (repeat -m for several)")->required();
  cmd->add_option("-p,--n-prompt", options.n_prompt, "Prompt lengths (comma-separated; 0 skips pp tests)")
      ->delimiter(',');
  cmd->add_option("-n,--n-gen", options.n_gen, "Generation lengths (comma-separated; 0 skips tg tests)")
      ->delimiter(',');
  cmd->add_option("-d,--n-depth", options.depth, "Tokens already in the context (comma-separated)")->delimiter(',');
  cmd->add_option("-t,--threads", options.threads, "Thread counts (comma-separated; 0: every core)")->delimiter(',');
  cmd->add_option("-b,--batch-size", options.batch, "Prompt tokens per forward step")
      ->check(CLI::Range(size_t{1}, size_t{1} << 16));
  cmd->add_option("-r,--repetitions", options.repetitions, "Timed runs per test")->check(CLI::Range(1, 1000));
  add_kv_type_flag(*cmd, options.kv_type);
  cmd->add_flag("--json", options.json, "Print JSON (llama-bench's field names) instead of a markdown table");
  return cmd;
}

int run_bench_command() {
  std::vector<Test> tests;
  for (int th : options.threads) {
    for (size_t d : options.depth) {
      for (size_t p : options.n_prompt) {
        if (p > 0) tests.push_back({p, 0, d, th});
      }
      for (size_t n : options.n_gen) {
        if (n > 0) tests.push_back({0, n, d, th});
      }
    }
  }
  nlohmann::json results = nlohmann::json::array();
  if (!options.json) {
    fmt::print("| model | size | params | threads | test | t/s |\n");
    fmt::print("| --- | ---: | ---: | ---: | --- | ---: |\n");
  }
  for (const std::string& path : options.models) {
    auto model = load_model_with_progress(path);
    static const char* const bytes_units[] = {"B", "KiB", "MiB", "GiB", "TiB", nullptr};
    static const char* const count_units[] = {"", "K", "M", "B", "T", nullptr};
    const std::string size = human(static_cast<double>(model->weight_bytes()), bytes_units, 1024.0);
    const std::string params = human(static_cast<double>(model->n_params()), count_units, 1000.0);
    for (const Test& test : tests) {
      std::mt19937 rng(1234);
      run_once(model, test, rng);  // warm-up: page in the weights, start the threads
      std::vector<double> ts;
      for (int r = 0; r < options.repetitions; ++r) {
        ts.push_back(static_cast<double>(test.n_prompt + test.n_gen) / run_once(model, test, rng));
      }
      double mean = 0.0, sq = 0.0;
      for (double v : ts) mean += v;
      mean /= ts.size();
      for (double v : ts) sq += (v - mean) * (v - mean);
      const double sd = ts.size() > 1 ? std::sqrt(sq / (ts.size() - 1)) : 0.0;
      const int threads = test.threads > 0 ? test.threads : gemma4::cpu_info().logical_cores;
      if (options.json) {
        nlohmann::json samples_ns = nlohmann::json::array();
        for (double v : ts) samples_ns.push_back(static_cast<int64_t>(1e9 * (test.n_prompt + test.n_gen) / v));
        results.push_back({{"model_filename", path},
                           {"model_type", fmt::format("gemma4 {}", model->variant())},
                           {"model_size", model->weight_bytes()},
                           {"model_n_params", model->n_params()},
                           {"n_batch", options.batch},
                           {"n_threads", threads},
                           {"type_k", options.kv_type},
                           {"type_v", options.kv_type},
                           {"n_prompt", test.n_prompt},
                           {"n_gen", test.n_gen},
                           {"n_depth", test.depth},
                           {"avg_ts", mean},
                           {"stddev_ts", sd},
                           {"samples_ts", ts},
                           {"samples_ns", samples_ns},
                           {"cpu_info", gemma4::system_info()}});
      } else {
        fmt::print("| gemma4 {} | {} | {} | {} | {} | {:.2f} ± {:.2f} |\n", model->variant(), size, params, threads,
                   test_name(test), mean, sd);
        std::fflush(stdout);
      }
    }
  }
  if (options.json) fmt::print("{}\n", results.dump(2));
  return 0;
}
