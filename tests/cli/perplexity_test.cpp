// `gemma4 perplexity` as a user runs it, on the fixture models: its
// perplexity over the fixture prompt must equal the one the reference's
// logits give, to 1e-4 relative; --save-logits/--kld against itself must
// report no divergence.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

std::string run(const std::string& cmd, int* rc) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  std::array<char, 4096> buf{};
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  *rc = pclose(p);
  return out;
}

double number_after(const std::string& text, const std::string& label) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex(label + R"(:\s*(?:mean\s+)?([0-9.eE+-]+))"))) return NAN;
  return std::stod(m[1]);
}

class Perplexity : public ::testing::TestWithParam<std::string> {};

TEST_P(Perplexity, MatchesTheReferenceLogits) {
  const fs::path dir = fs::path(GEMMA4_TEST_DATA_DIR) / "models" / GetParam();
  std::ifstream in(dir / "reference.json");
  const auto ref = nlohmann::json::parse(in);
  const auto prompt = ref.at("prompt").get<std::vector<int32_t>>();
  const size_t vocab = ref.at("logits_shape").at(1).get<size_t>();
  std::vector<float> logits(prompt.size() * vocab);
  std::ifstream lf(dir / "logits.f32", std::ios::binary);
  lf.read(reinterpret_cast<char*>(logits.data()), static_cast<std::streamsize>(logits.size() * sizeof(float)));
  // Reference perplexity: every position predicts the next token.
  double nll = 0.0;
  for (size_t t = 0; t + 1 < prompt.size(); ++t) {
    const float* row = &logits[t * vocab];
    double mx = row[0], sum = 0.0;
    for (size_t i = 0; i < vocab; ++i) mx = std::max(mx, static_cast<double>(row[i]));
    for (size_t i = 0; i < vocab; ++i) sum += std::exp(row[i] - mx);
    nll -= row[prompt[t + 1]] - mx - std::log(sum);
  }
  const double expected = std::exp(nll / (prompt.size() - 1));

  const fs::path ids = fs::temp_directory_path() / ("gemma4_ppl_" + GetParam() + ".txt");
  {
    std::ofstream out(ids);
    for (int32_t id : prompt) out << id << ' ';
  }
  const fs::path saved = fs::temp_directory_path() / ("gemma4_ppl_" + GetParam() + ".logp");
  const std::string base = std::string(GEMMA4_CLI) + " perplexity --kv-type f32 -m " + dir.string() + " --tokens " +
                           ids.string() + " -c " + std::to_string(prompt.size()) + " --score-from 0";
  int rc = 0;
  const std::string out = run(base + " --save-logits " + saved.string(), &rc);
  ASSERT_EQ(rc, 0) << out;
  const double got = number_after(out, "perplexity");
  EXPECT_NEAR(got / expected, 1.0, 1e-4) << out;

  const std::string kld = run(base + " --kld " + saved.string(), &rc);
  ASSERT_EQ(rc, 0) << kld;
  EXPECT_LT(number_after(kld, "KL divergence"), 1e-4) << kld;
  EXPECT_NEAR(number_after(kld, "same top token"), 100.0, 1e-9) << kld;
  EXPECT_NEAR(number_after(kld, R"(perplexity ratio \(this / base\))"), 1.0, 1e-3) << kld;
  fs::remove(ids);
  fs::remove(saved);
}

INSTANTIATE_TEST_SUITE_P(Variants, Perplexity, ::testing::Values("e2b", "e4b", "26b", "31b"));

TEST(PerplexityErrors, BadInputIsAClearError) {
  const fs::path dir = fs::path(GEMMA4_TEST_DATA_DIR) / "models" / "31b";
  const fs::path ids = fs::temp_directory_path() / "gemma4_ppl_bad.txt";
  std::ofstream(ids) << "2 17 banana 5";
  int rc = 0;
  std::string out = run(std::string(GEMMA4_CLI) + " perplexity -m " + dir.string() + " --tokens " + ids.string(), &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("'banana' is not a token id"), std::string::npos) << out;
  std::ofstream(ids) << "2 17 5";
  out = run(std::string(GEMMA4_CLI) + " perplexity -m " + dir.string() + " --tokens " + ids.string() + " -c 8", &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("fewer than one window"), std::string::npos) << out;
  fs::remove(ids);
}

}  // namespace
