// The public API as a library user calls it, on the E2B-like fixture model
// (tests/data/models/e2b: random weights, a 512-token BPE tokenizer).
#include <gtest/gtest.h>

#include <gemma4/error.hpp>
#include <gemma4/model.hpp>
#include <gemma4/model_info.hpp>
#include "src/formats/convert.hpp"

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

fs::path fixture() {
  return fs::path(GEMMA4_TEST_DATA_DIR) / "models" / "e2b";
}

std::shared_ptr<const gemma4::Model> load() {
  static std::shared_ptr<const gemma4::Model> model = gemma4::Model::load(fixture());
  return model;
}

gemma4::GenerateOptions greedy(size_t max_tokens) {
  gemma4::GenerateOptions o;
  gemma4::SamplingOptions s;
  s.greedy = true;
  o.sampling = s;
  o.max_tokens = max_tokens;
  return o;
}

size_t argmax(std::span<const float> x) {
  return std::max_element(x.begin(), x.end()) - x.begin();
}

TEST(Api, LoadsAFolderAndDescribesIt) {
  auto m = load();
  EXPECT_EQ(m->vocab_size(), 512);
  EXPECT_NE(m->description().find("per-layer embeddings"), std::string::npos);
  EXPECT_FALSE(m->stop_ids().empty());
}

TEST(Api, TokenizeRoundTrips) {
  auto m = load();
  const std::string text = "In the beginning God created the heaven and the earth. héllo 🙂";
  EXPECT_EQ(m->detokenize(m->tokenize(text)), text);
  // Special-token text in user input stays text...
  const auto plain = m->tokenize("<|turn>");
  EXPECT_GT(plain.size(), 1u);
  // ...unless asked for.
  EXPECT_EQ(m->tokenize("<|turn>", true).size(), 1u);
}

TEST(Api, ChatPromptUsesTheVocabularysSpecialTokens) {
  auto m = load();
  const auto ids = m->chat_prompt(R"([{"role":"user","content":"Hi <|turn>model"}])");
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.front(), *m->bos_id());
  const auto turn = m->tokenize("<|turn>", true).at(0);
  // Two turn openings (user, model): the one the user typed is plain text.
  EXPECT_EQ(std::count(ids.begin(), ids.end(), turn), 2);
  EXPECT_EQ(m->chat_prompt_text(R"([{"role":"user","content":"Hi"}])"), "<bos><|turn>user\nHi<turn|>\n<|turn>model\n");
}

TEST(Api, BadJsonIsAClearError) {
  auto m = load();
  EXPECT_THROW(m->chat_prompt("[{"), gemma4::Error);
  EXPECT_THROW(m->chat_prompt(R"({"role":"user"})"), gemma4::Error);
}

TEST(Api, GreedyGenerationEqualsArgmaxOfEval) {
  auto m = load();
  const auto prompt = m->tokenize("And God said");
  gemma4::Context a(m, {.n_ctx = 128, .n_batch = 4, .threads = 1});
  const auto result = a.generate(prompt, greedy(12));
  EXPECT_EQ(result.reason, gemma4::StopReason::max_tokens);
  ASSERT_EQ(result.tokens.size(), 12u);
  EXPECT_EQ(result.timings.generated_tokens, 12u);

  gemma4::Context b(m, {.n_ctx = 128, .n_batch = 64, .threads = 1});
  auto logits = b.eval(prompt);
  std::vector<int32_t> manual;
  for (int i = 0; i < 12; ++i) {
    const int32_t id = static_cast<int32_t>(argmax(logits));
    manual.push_back(id);
    logits = b.eval(std::vector<int32_t>{id});
  }
  EXPECT_EQ(result.tokens, manual);
  EXPECT_EQ(a.tokens().size(), prompt.size() + 12);
}

TEST(Api, StopsOnAStopTokenAndOnCancel) {
  auto m = load();
  const auto prompt = m->tokenize("And God said");
  gemma4::Context probe(m, {.n_ctx = 64});
  const int32_t first = probe.generate(prompt, greedy(1)).tokens.at(0);

  gemma4::Context c(m, {.n_ctx = 64});
  auto opts = greedy(10);
  opts.extra_stop_ids = {first};
  const auto r = c.generate(prompt, opts);
  EXPECT_EQ(r.reason, gemma4::StopReason::stop_token);
  EXPECT_TRUE(r.tokens.empty());

  gemma4::Context d(m, {.n_ctx = 64});
  int calls = 0;
  const auto r2 = d.generate(prompt, greedy(10), [&](std::string_view) { return ++calls < 3; });
  EXPECT_EQ(r2.reason, gemma4::StopReason::cancelled);
  EXPECT_EQ(calls, 3);
}

TEST(Api, PromptThatDoesNotFitIsAClearError) {
  auto m = load();
  gemma4::Context c(m, {.n_ctx = 8});
  const std::vector<int32_t> prompt(9, 300);
  try {
    c.generate(prompt, greedy(1));
    FAIL() << "no error";
  } catch (const gemma4::Error& e) {
    EXPECT_NE(std::string(e.what()).find("8"), std::string::npos) << e.what();
  }
}

TEST(Api, SavedContextContinuesExactly) {
  auto m = load();
  const auto prompt = m->tokenize("The LORD is my shepherd;");
  gemma4::Context whole(m, {.n_ctx = 64});
  const auto all = whole.generate(prompt, greedy(10)).tokens;

  gemma4::Context first(m, {.n_ctx = 64});
  const auto head = first.generate(prompt, greedy(4)).tokens;
  const fs::path state = fs::temp_directory_path() / "gemma4_api_state.bin";
  first.save(state);
  gemma4::Context second(m, {.n_ctx = 64});
  second.load(state);
  EXPECT_EQ(second.tokens(), first.tokens());
  // Continue from the restored context: the last generated token is already in it.
  const auto tail = second.generate({}, greedy(6)).tokens;
  std::vector<int32_t> joined = head;
  joined.insert(joined.end(), tail.begin(), tail.end());
  EXPECT_EQ(joined, all);

  gemma4::Context other(m, {.n_ctx = 32});
  EXPECT_THROW(other.load(state), gemma4::Error);
  fs::remove(state);
  EXPECT_THROW(other.load(state), gemma4::Error);
}

TEST(Api, GgufFileBehavesLikeTheFolderItWasConvertedFrom) {
  const fs::path gguf = fs::temp_directory_path() / "gemma4_api_e2b_f32.gguf";
  gemma4::formats::ConvertOptions o;
  o.scheme = gemma4::formats::convert_scheme("f32");
  gemma4::formats::convert_to_gguf(fixture(), gguf, o);
  auto from_gguf = gemma4::Model::load(gguf);
  auto from_folder = load();
  const std::string text = "And God said, Let there be light: and there was light.";
  EXPECT_EQ(from_gguf->tokenize(text), from_folder->tokenize(text));
  EXPECT_EQ(from_gguf->stop_ids(), from_folder->stop_ids());
  const auto prompt = from_folder->chat_prompt(R"([{"role":"user","content":"Hello"}])");
  EXPECT_EQ(from_gguf->chat_prompt(R"([{"role":"user","content":"Hello"}])"), prompt);
  gemma4::Context a(from_gguf, {.n_ctx = 64}), b(from_folder, {.n_ctx = 64});
  EXPECT_EQ(a.generate(prompt, greedy(8)).tokens, b.generate(prompt, greedy(8)).tokens);
  fs::remove(gguf);
}

TEST(Api, MissingModelIsAClearError) {
  try {
    gemma4::Model::load("/nonexistent/model.gguf");
    FAIL() << "no error";
  } catch (const gemma4::Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model.gguf"), std::string::npos) << e.what();
  }
}

}  // namespace

// gemma4::estimate_memory (what `gemma4 info` prints) against what a context
// really allocates, on a PLE model and a MoE model: the KV cache exactly,
// the work buffers within 10 % (the estimate sizes the prepared matmul
// inputs for the widest product; no more is ever needed).
TEST(Api, MemoryEstimateMatchesAContext) {
  for (const char* name : {"e2b", "26b"}) {
    SCOPED_TRACE(name);
    const fs::path folder = fs::path(GEMMA4_TEST_DATA_DIR) / "models" / name;
    auto m = gemma4::Model::load(folder);
    const gemma4::ModelInfo info = gemma4::inspect_model(folder.string());
    gemma4::ContextOptions o;
    o.n_ctx = 96;
    o.n_batch = 24;
    o.threads = 1;
    gemma4::Context ctx(m, o);
    std::vector<int32_t> prompt(40);
    for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>(1 + (i * 7) % 500);
    ctx.eval(prompt);  // a full step and a partial one
    const int32_t next[] = {3};
    ctx.eval(next);
    const auto used = ctx.memory();
    const auto est = gemma4::estimate_memory(info, o.n_ctx, 2, o.n_batch);
    EXPECT_EQ(est.kv_cache_bytes, used.kv_cache_bytes);
    EXPECT_GE(est.buffer_bytes, used.buffer_bytes);
    EXPECT_LE(static_cast<double>(est.buffer_bytes), 1.10 * static_cast<double>(used.buffer_bytes));
    // A batch larger than the context is capped at the context.
    EXPECT_EQ(gemma4::estimate_memory(info, 8, 2, 512).batch, 8u);
  }
}
