// The default model shipped in models/ (trained by tools/train_default_model.py):
// our tokenizer and our greedy continuations must equal what transformers
// computed with it (models/gemma4-kjv-tiny/reference.json).
#include <gtest/gtest.h>
#include <gemma4/model.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

const fs::path kModel = fs::path(GEMMA4_SOURCE_DIR) / "models" / "gemma4-kjv-tiny";

class DefaultModel : public ::testing::TestWithParam<gemma4::KvCacheType> {};

TEST_P(DefaultModel, GreedyContinuationsEqualTheReference) {
  std::ifstream in(kModel / "reference.json");
  ASSERT_TRUE(in.good()) << "missing " << (kModel / "reference.json");
  const auto ref = nlohmann::json::parse(in);
  auto model = gemma4::Model::load(kModel);
  gemma4::GenerateOptions opts;
  gemma4::SamplingOptions greedy;
  greedy.greedy = true;
  opts.sampling = greedy;
  for (const auto& c : ref.at("continuations")) {
    const auto prompt_ids = c.at("prompt_ids").get<std::vector<int32_t>>();
    const auto expected = c.at("greedy").get<std::vector<int32_t>>();
    std::vector<int32_t> ours{*model->bos_id()};
    const auto text_ids = model->tokenize(c.at("prompt").get<std::string>());
    ours.insert(ours.end(), text_ids.begin(), text_ids.end());
    EXPECT_EQ(ours, prompt_ids) << c.at("prompt");
    opts.max_tokens = expected.size();
    // The reference generated without stop tokens: so do we.
    gemma4::Context ctx(model, {.n_ctx = 256, .kv_cache = GetParam()});
    std::vector<int32_t> got;
    std::span<const float> logits = ctx.eval(prompt_ids);
    for (size_t i = 0; i < expected.size(); ++i) {
      const auto best = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      got.push_back(best);
      logits = ctx.eval(std::vector<int32_t>{best});
    }
    EXPECT_EQ(got, expected) << c.at("prompt");
  }
}

INSTANTIATE_TEST_SUITE_P(KvCache, DefaultModel, ::testing::Values(gemma4::KvCacheType::f16, gemma4::KvCacheType::f32),
                         [](const auto& info) { return info.param == gemma4::KvCacheType::f16 ? "f16" : "f32"; });

// What the F16 cache costs: log-probabilities of a Bible passage under both
// caches, position by position.
TEST(DefaultModelKvCache, F16StaysCloseToF32) {
  auto model = gemma4::Model::load(kModel);
  std::vector<int32_t> ids{*model->bos_id()};
  const auto text = model->tokenize(
      "In the beginning God created the heaven and the earth. And the earth was without form, and void; and darkness "
      "was upon the face of the deep. And the Spirit of God moved upon the face of the waters. And God said, Let there "
      "be light: and there was light.");
  ids.insert(ids.end(), text.begin(), text.end());
  auto logprobs = [&](gemma4::KvCacheType kv) {
    gemma4::Context ctx(model, {.n_ctx = 256, .n_batch = 16, .kv_cache = kv});
    const auto all = ctx.eval_all(ids);
    const size_t V = model->vocab_size();
    std::vector<double> lp;
    for (size_t t = 0; t + 1 < ids.size(); ++t) {
      const float* row = &all[t * V];
      const float mx = *std::max_element(row, row + V);
      double z = 0;
      for (size_t i = 0; i < V; ++i) z += std::exp(double(row[i]) - mx);
      lp.push_back(double(row[ids[t + 1]]) - mx - std::log(z));
    }
    return lp;
  };
  const auto a = logprobs(gemma4::KvCacheType::f16), b = logprobs(gemma4::KvCacheType::f32);
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
  RecordProperty("max_abs_logprob_diff", std::to_string(worst));
  EXPECT_LT(worst, 0.01) << "over " << a.size() << " positions";
}

}  // namespace
