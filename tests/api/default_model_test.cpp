// The default model shipped in models/ (trained by tools/train_default_model.py):
// our tokenizer and our greedy continuations must equal what transformers
// computed with it (models/gemma4-kjv-tiny/reference.json).
#include <gtest/gtest.h>
#include <gemma4/model.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

const fs::path kModel = fs::path(GEMMA4_SOURCE_DIR) / "models" / "gemma4-kjv-tiny";

TEST(DefaultModel, GreedyContinuationsEqualTheReference) {
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
    gemma4::Context ctx(model, {.n_ctx = 256});
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

}  // namespace
