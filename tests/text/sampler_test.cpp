// Sampling against known distributions: which candidates each filter leaves,
// that a seed reproduces, and that draws follow the softmax.
#include <gtest/gtest.h>
#include <gemma4/error.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "src/text/sampler.hpp"

namespace gemma4::text {
namespace {

SamplingParams plain() {
  SamplingParams p;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.seed = 42;
  return p;
}

// Logits whose softmax is exactly `probs`.
std::vector<float> logits_of(const std::vector<double>& probs) {
  std::vector<float> l;
  for (double q : probs) l.push_back(static_cast<float>(std::log(q)));
  return l;
}

std::vector<std::int32_t> ids_of(const std::vector<SamplingCandidate>& c) {
  std::vector<std::int32_t> ids;
  for (const auto& s : c) ids.push_back(s.id);
  return ids;
}

const std::vector<double> kProbs = {0.05, 0.5, 0.15, 0.3};  // ids by rank: 1, 3, 2, 0

TEST(Sampler, GreedyTakesTheMaximumAndBreaksTiesByLowerId) {
  SamplingParams p = plain();
  p.greedy = true;
  Sampler s(p);
  EXPECT_EQ(s.sample(logits_of(kProbs), {}), 1);
  const std::vector<float> tie = {0.0f, 3.0f, 1.0f, 3.0f};
  EXPECT_EQ(s.sample(tie, {}), 1);
  p.greedy = false;
  p.temperature = 0.0f;
  EXPECT_EQ(Sampler(p).sample(tie, {}), 1);
}

TEST(Sampler, NoFilterKeepsTheSoftmax) {
  const auto c = Sampler(plain()).candidates(logits_of(kProbs), {});
  ASSERT_EQ(ids_of(c), (std::vector<std::int32_t>{1, 3, 2, 0}));
  EXPECT_NEAR(c[0].probability, 0.5, 1e-6);
  EXPECT_NEAR(c[1].probability, 0.3, 1e-6);
  EXPECT_NEAR(c[2].probability, 0.15, 1e-6);
  EXPECT_NEAR(c[3].probability, 0.05, 1e-6);
}

TEST(Sampler, TopKKeepsExactlyTheKMostLikely) {
  SamplingParams p = plain();
  p.top_k = 2;
  const auto c = Sampler(p).candidates(logits_of(kProbs), {});
  EXPECT_EQ(ids_of(c), (std::vector<std::int32_t>{1, 3}));
  EXPECT_NEAR(c[0].probability, 0.5 / 0.8, 1e-6);
  EXPECT_NEAR(c[1].probability, 0.3 / 0.8, 1e-6);
  // A large vocabulary: the 64 largest logits survive.
  std::vector<float> big(262144);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  for (auto& v : big) v = normal(rng);
  std::vector<float> sorted = big;
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  p.top_k = 64;
  const auto top = Sampler(p).candidates(big, {});
  ASSERT_EQ(top.size(), 64u);
  for (std::size_t i = 0; i < top.size(); ++i) EXPECT_EQ(big[static_cast<std::size_t>(top[i].id)], sorted[i]);
}

TEST(Sampler, TopPKeepsTheSmallestSetReachingP) {
  SamplingParams p = plain();
  for (auto [top_p, expected] : std::vector<std::pair<float, std::vector<std::int32_t>>>{
           {0.4f, {1}}, {0.5f, {1}}, {0.6f, {1, 3}}, {0.79f, {1, 3}}, {0.81f, {1, 3, 2}}, {0.96f, {1, 3, 2, 0}}}) {
    p.top_p = top_p;
    EXPECT_EQ(ids_of(Sampler(p).candidates(logits_of(kProbs), {})), expected) << top_p;
  }
}

TEST(Sampler, MinPDropsTokensBelowAFractionOfTheTop) {
  SamplingParams p = plain();
  p.min_p = 0.5f;  // floor 0.25
  EXPECT_EQ(ids_of(Sampler(p).candidates(logits_of(kProbs), {})), (std::vector<std::int32_t>{1, 3}));
  p.min_p = 0.2f;  // floor 0.1
  EXPECT_EQ(ids_of(Sampler(p).candidates(logits_of(kProbs), {})), (std::vector<std::int32_t>{1, 3, 2}));
}

TEST(Sampler, TemperatureScalesLogits) {
  SamplingParams p = plain();
  p.temperature = 2.0f;
  const std::vector<float> l = {0.0f, 2.0f};
  const auto c = Sampler(p).candidates(l, {});
  const double expected = std::exp(1.0) / (1.0 + std::exp(1.0));
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].id, 1);
  EXPECT_NEAR(c[0].probability, expected, 1e-6);
}

TEST(Sampler, Penalties) {
  const std::vector<float> l = {2.0f, -2.0f, 1.0f, 0.5f};
  const std::vector<std::int32_t> history = {0, 1, 0, 3, 3, 3};
  SamplingParams p = plain();
  p.greedy = true;
  // Repetition: 0 -> 1.0, 1 -> -4, 3 -> 0.25; 2 (1.0, unseen) ties with 0 and
  // loses on id, so 0 wins; with a stronger penalty 2 wins.
  p.repetition_penalty = 2.0f;
  EXPECT_EQ(Sampler(p).sample(l, history), 0);
  p.repetition_penalty = 2.5f;
  EXPECT_EQ(Sampler(p).sample(l, history), 2);
  // Presence: subtract 1.5 once from every seen token.
  p.repetition_penalty = 1.0f;
  p.presence_penalty = 1.5f;
  EXPECT_EQ(Sampler(p).sample(l, history), 2);
  // Frequency: 0 seen twice -> 2 - 0.8; 3 seen three times.
  p.presence_penalty = 0.0f;
  p.frequency_penalty = 0.4f;
  EXPECT_EQ(Sampler(p).sample(l, history), 0);
  p.frequency_penalty = 0.6f;
  EXPECT_EQ(Sampler(p).sample(l, history), 2);
  // The window: only the last 3 tokens (3, 3, 3) count.
  p.frequency_penalty = 5.0f;
  p.penalty_last_n = 3;
  EXPECT_EQ(Sampler(p).sample(l, history), 0);
  // Exact values through the candidates of a non-greedy sampler.
  SamplingParams q = plain();
  q.presence_penalty = 1.0f;
  q.frequency_penalty = 0.5f;
  const auto c = Sampler(q).candidates(std::vector<float>{0.0f, 0.0f}, std::vector<std::int32_t>{1, 1});
  // logit of 1: 0 - 1 - 2*0.5 = -2.
  EXPECT_NEAR(c[1].probability, std::exp(-2.0) / (1 + std::exp(-2.0)), 1e-6);
}

TEST(Sampler, SuppressedTokensAreNeverDrawn) {
  SamplingParams p = plain();
  Sampler s(p, {1, 3});
  for (int i = 0; i < 500; ++i) {
    const auto id = s.sample(logits_of(kProbs), {});
    EXPECT_TRUE(id == 0 || id == 2);
  }
  p.greedy = true;
  EXPECT_EQ(Sampler(p, multimodal_token_ids()).sample(std::vector<float>(262144, 0.0f), {}), 0);
  std::vector<float> l(262144, 0.0f);
  l[258880] = 100.0f;  // <|image|>
  EXPECT_EQ(Sampler(p, multimodal_token_ids()).sample(l, {}), 0);
}

TEST(Sampler, SeedReproduces) {
  SamplingParams p = plain();
  const auto l = logits_of(kProbs);
  auto draw = [&](std::uint64_t seed) {
    p.seed = seed;
    Sampler s(p);
    std::vector<std::int32_t> out;
    for (int i = 0; i < 200; ++i) out.push_back(s.sample(l, {}));
    return out;
  };
  EXPECT_EQ(draw(1), draw(1));
  EXPECT_NE(draw(1), draw(2));
  // Fixed across platforms: our own generator, not std:: distributions.
  const auto first = draw(2026);
  EXPECT_EQ(std::vector<std::int32_t>(first.begin(), first.begin() + 12),
            (std::vector<std::int32_t>{3, 1, 2, 2, 2, 3, 2, 2, 2, 1, 0, 1}));
}

// The filters written the plain way (sort everything, then cut), as an oracle
// for the single-pass implementation.
std::vector<SamplingCandidate> reference(const std::vector<float>& logits, const SamplingParams& p) {
  std::vector<std::pair<double, std::int32_t>> all;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    all.push_back({static_cast<double>(logits[i]) / p.temperature, static_cast<std::int32_t>(i)});
  }
  std::sort(all.begin(), all.end(),
            [](auto& a, auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
  if (p.top_k > 0 && all.size() > static_cast<std::size_t>(p.top_k)) all.resize(static_cast<std::size_t>(p.top_k));
  std::vector<double> prob;
  double total = 0;
  for (auto& [l, id] : all) total += std::exp(l - all[0].first);
  for (auto& [l, id] : all) prob.push_back(std::exp(l - all[0].first) / total);
  std::size_t keep = all.size();
  double cumulative = 0;
  for (std::size_t i = 0; i < all.size() && p.top_p < 1.0f; ++i) {
    if (cumulative >= p.top_p) {
      keep = i;
      break;
    }
    cumulative += prob[i];
  }
  std::size_t i = 1;
  while (i < keep && prob[i] >= p.min_p * prob[0]) ++i;
  keep = i;
  double kept = 0;
  for (std::size_t j = 0; j < keep; ++j) kept += prob[j];
  std::vector<SamplingCandidate> out;
  for (std::size_t j = 0; j < keep; ++j) out.push_back({all[j].second, static_cast<float>(prob[j] / kept)});
  return out;
}

TEST(Sampler, MatchesAPlainSortAndCutImplementation) {
  std::mt19937 rng(11);
  for (float scale : {0.01f, 1.0f, 4.0f}) {  // near-flat to peaked
    std::normal_distribution<float> normal(0.0f, scale);
    std::vector<float> logits(5000);
    for (auto& v : logits) v = normal(rng);
    for (int top_k : {0, 1, 5, 64, 6000}) {
      for (float top_p : {1.0f, 0.95f, 0.5f}) {
        for (float min_p : {0.0f, 0.05f}) {
          for (float temperature : {0.5f, 1.0f, 1.5f}) {
            SamplingParams p = plain();
            p.top_k = top_k;
            p.top_p = top_p;
            p.min_p = min_p;
            p.temperature = temperature;
            const auto got = Sampler(p).candidates(logits, {});
            const auto want = reference(logits, p);
            ASSERT_EQ(ids_of(got), ids_of(want))
                << scale << " " << top_k << " " << top_p << " " << min_p << " " << temperature;
            for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i].probability, want[i].probability, 1e-5);
          }
        }
      }
    }
  }
}

// Over many draws, each token's frequency is within 5 standard deviations of
// its probability (a false failure has odds below 1e-6 per token).
void expect_frequencies(Sampler& s, const std::vector<float>& logits, const std::vector<double>& expected, int draws) {
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) ++counts[static_cast<std::size_t>(s.sample(logits, {}))];
  for (std::size_t id = 0; id < logits.size(); ++id) {
    const double q = expected[id];
    const double sigma = std::sqrt(q * (1 - q) / draws);
    EXPECT_NEAR(static_cast<double>(counts[id]) / draws, q, 5 * sigma + 1e-12) << "token " << id;
  }
}

TEST(Sampler, DrawsFollowTheSoftmax) {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f, 1.5f};
  std::vector<double> softmax;
  double total = 0;
  for (float v : logits) total += std::exp(static_cast<double>(v));
  for (float v : logits) softmax.push_back(std::exp(static_cast<double>(v)) / total);
  SamplingParams p = plain();
  Sampler s(p);
  expect_frequencies(s, logits, softmax, 200000);

  // Top-k 3 at temperature 0.7: the three largest, renormalised.
  p.top_k = 3;
  p.temperature = 0.7f;
  std::vector<double> truncated(logits.size(), 0.0);
  double t_total = 0;
  for (std::size_t id : {1u, 4u, 0u}) t_total += truncated[id] = std::exp(static_cast<double>(logits[id]) / 0.7);
  for (auto& q : truncated) q /= t_total;
  Sampler s2(p);
  expect_frequencies(s2, logits, truncated, 200000);
}

TEST(Sampler, BadInputIsAClearError) {
  SamplingParams p = plain();
  EXPECT_THROW(Sampler(p).sample(std::vector<float>{}, {}), Error);
  EXPECT_THROW(Sampler(p).sample(std::vector<float>{0.0f, std::nanf("")}, {}), Error);
  EXPECT_THROW(Sampler(p).sample(std::vector<float>{0.0f, INFINITY}, {}), Error);
  EXPECT_THROW(Sampler(p, {0, 1}).sample(std::vector<float>{0.0f, 1.0f}, {}), Error);
  auto bad = [](auto mutate) {
    SamplingParams q;
    mutate(q);
    EXPECT_THROW(Sampler{q}, Error);
  };
  bad([](SamplingParams& q) { q.temperature = -1.0f; });
  bad([](SamplingParams& q) { q.top_k = -1; });
  bad([](SamplingParams& q) { q.top_p = 0.0f; });
  bad([](SamplingParams& q) { q.top_p = 1.5f; });
  bad([](SamplingParams& q) { q.min_p = 2.0f; });
  bad([](SamplingParams& q) { q.repetition_penalty = 0.0f; });
  bad([](SamplingParams& q) { q.penalty_last_n = -2; });
  // Out-of-range ids in history or the suppression list are ignored, not read.
  EXPECT_NO_THROW(Sampler(p, {-5, 99}).sample(std::vector<float>{0.0f, 1.0f}, std::vector<std::int32_t>{-1, 7}));
}

TEST(GenerationConfig, DefaultsAreGemma4s) {
  const GenerationConfig g = default_generation_config();
  EXPECT_FALSE(g.sampling.greedy);
  EXPECT_EQ(g.sampling.temperature, 1.0f);
  EXPECT_EQ(g.sampling.top_k, 64);
  EXPECT_EQ(g.sampling.top_p, 0.95f);
  EXPECT_EQ(g.stop_ids, (std::vector<std::int32_t>{1, 106, 50}));
  EXPECT_EQ(g.bos_id, 2);
  EXPECT_EQ(g.pad_id, 0);
}

TEST(GenerationConfig, ParsesTheFile) {
  const auto path = std::filesystem::temp_directory_path() / "gemma4_sampler_test_generation_config.json";
  {
    std::ofstream out(path);
    out << R"({"bos_token_id": 2, "do_sample": true, "eos_token_id": [1, 106, 50], "pad_token_id": 0,
              "temperature": 0.7, "top_k": 40, "top_p": 0.9, "suppress_tokens": [258883, 258882],
              "transformers_version": "5.0.0"})";
  }
  const GenerationConfig g = load_generation_config(path);
  std::filesystem::remove(path);
  EXPECT_FALSE(g.sampling.greedy);
  EXPECT_FLOAT_EQ(g.sampling.temperature, 0.7f);
  EXPECT_EQ(g.sampling.top_k, 40);
  EXPECT_FLOAT_EQ(g.sampling.top_p, 0.9f);
  EXPECT_EQ(g.stop_ids, (std::vector<std::int32_t>{1, 106, 50}));
  EXPECT_EQ(g.suppress_ids, (std::vector<std::int32_t>{258883, 258882}));

  const GenerationConfig single = parse_generation_config(R"({"eos_token_id": 1, "do_sample": false, "top_k": null})");
  EXPECT_EQ(single.stop_ids, (std::vector<std::int32_t>{1}));
  EXPECT_TRUE(single.sampling.greedy);
  EXPECT_EQ(single.sampling.top_k, 64);  // null keeps the default
}

TEST(GenerationConfig, BadFilesNameTheProblem) {
  auto expect_error = [](const char* text, const std::string& needle) {
    try {
      parse_generation_config(text, "gc.json");
      ADD_FAILURE() << "no error for " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error("{", "gc.json: invalid JSON");
  expect_error("[1]", "gc.json: expected a JSON object");
  expect_error(R"({"temperature": "hot"})", "\"temperature\" must be a number");
  expect_error(R"({"temperature": -1})", "\"temperature\" must be a number >= 0");
  expect_error(R"({"top_k": 1.5})", "\"top_k\" must be a non-negative integer");
  expect_error(R"({"top_p": 0})", "\"top_p\" must be a number in (0, 1]");
  expect_error(R"({"do_sample": "yes"})", "\"do_sample\" must be true or false");
  expect_error(R"({"eos_token_id": [1, "x"]})", "\"eos_token_id\" must be a token id");
  expect_error(R"({"suppress_tokens": [-3]})", "\"suppress_tokens\" must be a token id");
  EXPECT_THROW(load_generation_config("/nonexistent/generation_config.json"), Error);
}

TEST(GenerationConfig, SuppressedIdsForTextOnlyGeneration) {
  GenerationConfig g = parse_generation_config(R"({"suppress_tokens": [258883, 7]})");
  EXPECT_EQ(suppressed_token_ids(g, false), (std::vector<std::int32_t>{7, 258883}));
  EXPECT_EQ(suppressed_token_ids(g, true),
            (std::vector<std::int32_t>{7, 255999, 256000, 258880, 258881, 258882, 258883, 258884}));
}

TEST(GenerationLimits, PromptMustFitTheContext) {
  try {
    GenerationLimits(4096, 100, 4096, {1});
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the prompt has 4096 tokens but the context holds 4096"), std::string::npos);
  }
  EXPECT_THROW(GenerationLimits(0, 10, 4096, {1}), Error);
}

TEST(GenerationLimits, StopsOnStopIdsMaxTokensAndAFullContext) {
  GenerationLimits by_tokens(10, 3, 100, {1, 106, 50});
  EXPECT_EQ(by_tokens.max_new_tokens(), 3u);
  EXPECT_EQ(by_tokens.on_token(7), std::nullopt);
  EXPECT_EQ(by_tokens.on_token(8), std::nullopt);
  EXPECT_EQ(by_tokens.on_token(9), FinishReason::kMaxTokens);

  GenerationLimits by_context(98, 50, 100, {1});
  EXPECT_EQ(by_context.max_new_tokens(), 2u);
  EXPECT_EQ(by_context.on_token(5), std::nullopt);
  EXPECT_EQ(by_context.on_token(5), FinishReason::kContextFull);

  GenerationLimits unlimited(10, std::nullopt, 100, {1, 106, 50});
  EXPECT_EQ(unlimited.max_new_tokens(), 90u);
  EXPECT_EQ(unlimited.on_token(106), FinishReason::kStopToken);
}

// Not a pass/fail test of speed: prints the cost of one draw over the full
// vocabulary so regressions are visible in the log.
TEST(Sampler, FullVocabularyCost) {
  std::vector<float> big(262144);
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (auto& v : big) v = normal(rng);
  for (int top_k : {64, 0}) {
    SamplingParams p;
    p.top_k = top_k;
    p.seed = 1;
    Sampler s(p);
    const int reps = 20;
    const auto t0 = std::chrono::steady_clock::now();
    std::int64_t sum = 0;
    for (int i = 0; i < reps; ++i) sum += s.sample(big, {});
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / reps;
    std::printf("sample() over 262144 logits, top_k=%d top_p=0.95: %.3f ms (checksum %lld)\n", top_k, ms,
                static_cast<long long>(sum));
    EXPECT_GT(sum, 0);
  }
}

}  // namespace
}  // namespace gemma4::text
