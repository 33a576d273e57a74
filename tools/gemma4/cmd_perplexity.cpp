// `gemma4 perplexity`: how well a model predicts a text, the number users
// judge quantisations by (as llama.cpp's llama-perplexity).
//
// The tokens are cut into windows of -c tokens, each evaluated in a fresh
// context; in each window the tokens from --score-from on (default: the
// second half, so every scored token has at least c/2 tokens of context) are
// scored by the log-probability the model gave them.
//
// --save-logits FILE keeps every scored position's log-probabilities (f16);
// --kld FILE compares this model's with them: mean KL divergence, how often
// both rank the same token first, and the ratio of the perplexities.
#include <gemma4/error.hpp>
#include <gemma4/model.hpp>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/cpu/fp16.hpp"
#include "tools/gemma4/cli_common.hpp"

namespace {

struct PplOptions {
  std::string model;
  std::string text_file;
  std::string tokens_file;
  size_t window = 512;
  int64_t score_from = -1;  // -1: window / 2
  std::string save_logits;
  std::string kld;
  int threads = 0;
  size_t batch = 256;
  std::string kv_type = "f16";
};

PplOptions options;

constexpr char kMagic[8] = {'G', '4', 'L', 'O', 'G', 'P', 'v', '1'};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw gemma4::Error(fmt::format("cannot read '{}'", path));
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<int32_t> read_token_file(const std::string& path) {
  std::istringstream in(read_file(path));
  std::vector<int32_t> ids;
  std::string word;
  while (in >> word) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(word, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != word.size() || v < 0 || v > INT32_MAX) {
      throw gemma4::Error(
          fmt::format("{}: '{}' is not a token id (expected whitespace-separated integers)", path, word));
    }
    ids.push_back(static_cast<int32_t>(v));
  }
  return ids;
}

// log softmax of one row, in double for the sums.
void log_softmax(const float* logits, size_t n, std::vector<double>& out) {
  out.resize(n);
  const double mx = *std::max_element(logits, logits + n);
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(logits[i]) - mx);
  const double lse = mx + std::log(sum);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<double>(logits[i]) - lse;
}

class BaseLogits {  // --kld: the saved log-probabilities of the base model
 public:
  explicit BaseLogits(const std::string& path) : in_(path, std::ios::binary), path_(path) {
    if (!in_) throw gemma4::Error(fmt::format("cannot read '{}'", path));
    char magic[8] = {};
    in_.read(magic, 8);
    uint64_t head[2] = {};
    in_.read(reinterpret_cast<char*>(head), sizeof head);
    if (!in_ || std::memcmp(magic, kMagic, 8) != 0) {
      throw gemma4::Error(fmt::format("{}: not a file written by gemma4 perplexity --save-logits", path));
    }
    vocab_ = head[0];
    positions_ = head[1];
  }
  uint64_t vocab() const { return vocab_; }
  uint64_t positions() const { return positions_; }
  void next(std::vector<double>& logp) {
    std::vector<uint16_t> row(vocab_);
    in_.read(reinterpret_cast<char*>(row.data()), static_cast<std::streamsize>(vocab_ * 2));
    if (!in_) throw gemma4::Error(fmt::format("{}: truncated", path_));
    logp.resize(vocab_);
    for (size_t i = 0; i < vocab_; ++i) logp[i] = gemma4::kernels::f16_to_f32(row[i]);
  }

 private:
  std::ifstream in_;
  std::string path_;
  uint64_t vocab_ = 0, positions_ = 0;
};

}  // namespace

CLI::App* add_perplexity_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("perplexity", "Perplexity of a model over a text (and KL divergence to a base model)");
  add_model_flag(*cmd, options.model);
  cmd->add_option("-f,--file", options.text_file, "Text file to score");
  cmd->add_option("--tokens", options.tokens_file, "File of whitespace-separated token ids to score instead");
  cmd->add_option("-c,--ctx-size", options.window, "Window size in tokens")
      ->check(CLI::Range(size_t{2}, size_t{1} << 20));
  cmd->add_option("--score-from", options.score_from, "First scored position in each window (default: half the window)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
  cmd->add_option("--save-logits", options.save_logits, "Save the scored positions' log-probabilities (base model)");
  cmd->add_option("--kld", options.kld, "Compare with log-probabilities saved by --save-logits");
  cmd->add_option("-t,--threads", options.threads, "CPU threads (0: every core)")->check(CLI::Range(0, 1024));
  add_kv_type_flag(*cmd, options.kv_type);
  cmd->add_option("-b,--batch-size", options.batch, "Tokens per forward step")
      ->check(CLI::Range(size_t{1}, size_t{1} << 16));
  return cmd;
}

int run_perplexity_command() {
  if (options.text_file.empty() == options.tokens_file.empty()) {
    throw gemma4::Error("perplexity: give exactly one of -f TEXT_FILE or --tokens IDS_FILE");
  }
  auto model = load_model_with_progress(options.model);
  std::vector<int32_t> tokens;
  if (!options.tokens_file.empty()) {
    tokens = read_token_file(options.tokens_file);
    for (int32_t id : tokens) {
      if (id >= model->vocab_size()) {
        throw gemma4::Error(fmt::format("{}: token id {} is outside the vocabulary ({} tokens)", options.tokens_file,
                                        id, model->vocab_size()));
      }
    }
  } else {
    if (auto bos = model->bos_id()) tokens.push_back(*bos);
    const auto ids = model->tokenize(read_file(options.text_file));
    tokens.insert(tokens.end(), ids.begin(), ids.end());
  }
  const size_t window = options.window;
  const size_t first = options.score_from >= 0 ? static_cast<size_t>(options.score_from) : window / 2;
  if (first + 1 >= window)
    throw gemma4::Error("perplexity: --score-from must leave at least one scored token per window");
  const size_t n_windows = tokens.size() / window;
  if (n_windows == 0) {
    throw gemma4::Error(fmt::format("perplexity: the text has {} tokens, fewer than one window of {} (lower -c)",
                                    tokens.size(), window));
  }
  const size_t vocab = static_cast<size_t>(model->vocab_size());

  std::ofstream save;
  if (!options.save_logits.empty()) {
    save.open(options.save_logits, std::ios::binary);
    if (!save) throw gemma4::Error(fmt::format("cannot write '{}'", options.save_logits));
    save.write(kMagic, 8);
    const uint64_t head[2] = {vocab, n_windows * (window - 1 - first)};
    save.write(reinterpret_cast<const char*>(head), sizeof head);
  }
  std::optional<BaseLogits> base;
  if (!options.kld.empty()) {
    base.emplace(options.kld);
    if (base->vocab() != vocab || base->positions() != n_windows * (window - 1 - first)) {
      throw gemma4::Error(fmt::format("{}: saved for {} positions of a {}-token vocabulary; this run scores {} of {}",
                                      options.kld, base->positions(), base->vocab(), n_windows * (window - 1 - first),
                                      vocab));
    }
  }

  gemma4::ContextOptions co;
  co.n_ctx = window;
  co.n_batch = options.batch;
  co.threads = options.threads;
  co.kv_cache = kv_cache_type(options.kv_type);
  gemma4::Context ctx(model, co);
  double nll = 0.0, nll_sq = 0.0, base_nll = 0.0, kld = 0.0;
  size_t scored = 0, same_top = 0;
  std::vector<double> logp, base_logp;
  std::vector<uint16_t> row16(vocab);
  for (size_t w = 0; w < n_windows; ++w) {
    ctx.reset();
    const std::span<const int32_t> chunk(tokens.data() + w * window, window);
    const std::vector<float> logits = ctx.eval_all(chunk);
    for (size_t t = first; t + 1 < window; ++t) {
      log_softmax(&logits[t * vocab], vocab, logp);
      const double lp = logp[static_cast<size_t>(chunk[t + 1])];
      nll -= lp;
      nll_sq += lp * lp;
      ++scored;
      if (save.is_open()) {
        for (size_t i = 0; i < vocab; ++i) row16[i] = gemma4::kernels::f32_to_f16(static_cast<float>(logp[i]));
        save.write(reinterpret_cast<const char*>(row16.data()), static_cast<std::streamsize>(vocab * 2));
      }
      if (base) {
        base->next(base_logp);
        double k = 0.0;
        for (size_t i = 0; i < vocab; ++i) k += std::exp(base_logp[i]) * (base_logp[i] - logp[i]);
        kld += k;
        base_nll -= base_logp[static_cast<size_t>(chunk[t + 1])];
        const auto top = [&](const std::vector<double>& v) { return std::max_element(v.begin(), v.end()) - v.begin(); };
        same_top += top(logp) == top(base_logp) ? 1 : 0;
      }
    }
    fmt::print(stderr, "[{}/{}] perplexity so far {:.4f}\n", w + 1, n_windows, std::exp(nll / scored));
  }
  const double mean = nll / scored;
  const double var = std::max(0.0, nll_sq / scored - mean * mean);
  const double ppl = std::exp(mean);
  // Error of the estimate: delta method on exp(mean NLL).
  const double err = ppl * std::sqrt(var / std::max<size_t>(1, scored - 1));
  fmt::print("perplexity: {:.6f} +/- {:.6f} over {} tokens ({} windows of {})\n", ppl, err, scored, n_windows, window);
  if (base) {
    fmt::print("KL divergence: mean {:.6f}\n", kld / scored);
    fmt::print("same top token: {:.2f} %\n", 100.0 * same_top / scored);
    fmt::print("perplexity ratio (this / base): {:.6f}\n", std::exp(mean - base_nll / scored));
  }
  return 0;
}
