// gemma4::inspect_model / estimate_memory: memory figures checked against a
// hand computation for the E2B and 31B configs at 128K context, parameter
// counts, and the reports for the tiny fixtures.
#include <gemma4/error.hpp>
#include <gemma4/model_info.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace fs = std::filesystem;

namespace {
const fs::path kData = fs::path(GEMMA4_TEST_DATA_DIR) / "formats";
constexpr uint64_t k128K = 131072;
}  // namespace

// Hand computation, KV cache in f16 (2 bytes), K and V both stored:
//   E2B: 35 layers, full at 4,9,...,34; layers 15..34 share KV, so 12 sliding
//   and 3 full layers own a cache. One KV head everywhere; head dim 256
//   (sliding, window 512) / 512 (full).
//     sliding: 12 x 2 x 1 x 256 x 512    x 2 =   6,291,456
//     full:     3 x 2 x 1 x 512 x 131072 x 2 = 805,306,368   -> 811,597,824
//   naive, all 35 layers at 131072 positions:
//     28 x 2 x 256 x 131072 x 2 + 7 x 2 x 512 x 131072 x 2 = 5,637,144,576
//   weights (bf16): 4,628,569,379 text parameters x 2 = 9,257,138,758
TEST(ModelInfo, E2BMemoryAt128K) {
  const auto info = gemma4::inspect_model((kData / "configs" / "gemma-4-E2B.json").string());
  EXPECT_EQ(info.variant, "E2B");
  EXPECT_EQ(info.params_text, 4'628'569'379u);
  EXPECT_TRUE(info.weights_estimated);
  const auto m = gemma4::estimate_memory(info, k128K, 2);
  EXPECT_EQ(m.cache_layers, 15u);
  EXPECT_EQ(m.kv_cache_bytes, 811'597'824u);
  EXPECT_EQ(m.naive_kv_cache_bytes, 5'637'144'576u);
  EXPECT_EQ(m.weight_bytes, 9'257'138'758u);
  // The per-layer embedding table, 262144 x (35 x 256) in bf16, is read
  // from the file a row per token and never becomes resident.
  EXPECT_EQ(info.lookup_bytes, 262'144ull * 35 * 256 * 2);
  EXPECT_EQ(m.resident_weight_bytes, 9'257'138'758u - 4'697'620'480u);
  EXPECT_EQ(m.total(), m.resident_weight_bytes + 811'597'824u + m.buffer_bytes + m.runtime_bytes);
  EXPECT_EQ(m.naive_total(), 9'257'138'758u + 5'637'144'576u);
  // Work buffers for steps of 256 tokens: tens of MiB, not GiB.
  EXPECT_EQ(m.batch, 256u);
  EXPECT_GT(m.buffer_bytes, 10u << 20);
  EXPECT_LT(m.buffer_bytes, 200u << 20);
}

//   31B: 60 layers, 50 sliding (16 KV heads x 256, window 1024) and 10 full
//   (K=V, 4 KV heads x 512); no KV sharing.
//     sliding: 50 x 2 x 16 x 256 x 1024   x 2 =    838,860,800
//     full:    10 x 2 x  4 x 512 x 131072 x 2 = 10,737,418,240  -> 11,576,279,040
//   naive: 50 x 2 x 16 x 256 x 131072 x 2 + 10,737,418,240 = 118,111,600,640
//   weights (bf16): 30,697,345,340 text parameters x 2 = 61,394,690,680
TEST(ModelInfo, Dense31BMemoryAt128K) {
  const auto info = gemma4::inspect_model((kData / "configs" / "gemma-4-31B.json").string());
  EXPECT_EQ(info.variant, "31B");
  EXPECT_EQ(info.params_text, 30'697'345'340u);
  EXPECT_EQ(info.params_active, info.params_text);
  const auto m = gemma4::estimate_memory(info, k128K, 2);
  EXPECT_EQ(m.cache_layers, 60u);
  EXPECT_EQ(m.kv_cache_bytes, 11'576'279'040u);
  EXPECT_EQ(m.naive_kv_cache_bytes, 118'111'600'640u);
  EXPECT_EQ(m.weight_bytes, 61'394'690'680u);
  EXPECT_EQ(m.resident_weight_bytes, m.weight_bytes);  // no per-layer embeddings
  // f32 cache doubles the cache, short contexts stop at the context.
  EXPECT_EQ(gemma4::estimate_memory(info, k128K, 4).kv_cache_bytes, 2 * 11'576'279'040u);
  const auto short_ctx = gemma4::estimate_memory(info, 100, 2);
  EXPECT_EQ(short_ctx.kv_cache_bytes, 100u * 2 * 2 * (50 * 16 * 256 + 10 * 4 * 512));
  EXPECT_EQ(short_ctx.kv_cache_bytes, short_ctx.naive_kv_cache_bytes);
}

TEST(ModelInfo, MoEActiveParameters) {
  const auto info = gemma4::inspect_model((kData / "configs" / "gemma-4-26B-A4B.json").string());
  EXPECT_EQ(info.experts, 128u);
  // Experts per layer: 128 x (2 x 704 x 2816 + 2816 x 704) = 761,266,176; 120 of 128 unused per token.
  const uint64_t experts_per_layer = 128ull * 3 * 704 * 2816;
  EXPECT_EQ(info.params_text - info.params_active, 30 * experts_per_layer / 128 * 120);
  // The model card's 3.8B active / 25.2B total include the vision tower; the decoder alone is close.
  EXPECT_NEAR(static_cast<double>(info.params_active) / 1e9, 3.8, 0.3);
  EXPECT_NEAR(static_cast<double>(info.params_text) / 1e9, 25.2, 0.6);
}

TEST(ModelInfo, TinyFixturesFromBothFormats) {
  const auto g = gemma4::inspect_model((kData / "tiny_e.gguf").string());
  EXPECT_EQ(g.format, "GGUF v3");
  EXPECT_TRUE(g.is_text_model);
  EXPECT_EQ(g.layers, 5u);
  EXPECT_EQ(g.kv_shared_layers, 2u);
  EXPECT_EQ(g.ffn_wide, 192u);
  // The GGUF has rope_freqs (16 floats) on top of the decoder tensors.
  EXPECT_EQ(g.params_total, g.params_text + 16);
  uint64_t bytes = 0;
  for (const auto& t : g.types) bytes += t.bytes;
  EXPECT_EQ(bytes, g.weight_bytes);

  const auto h = gemma4::inspect_model((kData / "tiny_e").string());
  EXPECT_EQ(h.format, "safetensors (2 shards)");
  EXPECT_EQ(h.params_text, g.params_text);
  // The checkpoint also holds the unused k/v of shared layers and a vision projection.
  EXPECT_GT(h.params_total, h.params_text);
  ASSERT_EQ(h.types.size(), 1u);
  EXPECT_EQ(h.types[0].type, "bf16");
  EXPECT_EQ(h.types[0].bytes, h.params_total * 2);

  const auto m = gemma4::estimate_memory(g, 1000, 2);
  // 2 sliding (1 x 16, window 16) + 1 full (1 x 32) layers own a cache.
  EXPECT_EQ(m.kv_cache_bytes, 2u * (2 * 16 * 16 * 2) + 2 * 32 * 1000 * 2);
  const std::string report = gemma4::format_model_info(g, m);
  EXPECT_NE(report.find("variant custom"), std::string::npos) << report;
  EXPECT_NE(report.find("naive KV cache"), std::string::npos) << report;
  EXPECT_NE(report.find("bf16"), std::string::npos) << report;
}

TEST(ModelInfo, MultimodalProjectorListsTensors) {
  const auto info = gemma4::inspect_model((kData / "tiny_mmproj.gguf").string());
  EXPECT_FALSE(info.is_text_model);
  EXPECT_EQ(info.architecture, "clip");
  EXPECT_EQ(info.params_total, 16u * 3 * 4 * 4 + 64 * 16);
  ASSERT_EQ(info.types.size(), 2u);
  const std::string report = gemma4::format_model_info(info, gemma4::estimate_memory(info, 10));
  EXPECT_NE(report.find("multimodal projector"), std::string::npos) << report;
  EXPECT_EQ(report.find("memory at context"), std::string::npos) << report;
}

TEST(ModelInfo, Errors) {
  EXPECT_THROW(gemma4::inspect_model("/nonexistent/model.gguf"), gemma4::Error);
  EXPECT_THROW(gemma4::inspect_model((kData / "truncated.gguf").string()), gemma4::Error);
  EXPECT_THROW(gemma4::inspect_model((kData / "not_a_model.gguf").string()), gemma4::Error);
  // A gemma4 GGUF without the model keys.
  EXPECT_THROW(gemma4::inspect_model((kData / "gguf_py_align64.gguf").string()), gemma4::Error);
  EXPECT_THROW(gemma4::inspect_model((kData / "configs").string()), gemma4::Error);  // folder without config.json
  const auto info = gemma4::inspect_model((kData / "configs" / "gemma-4-E4B.json").string());
  EXPECT_THROW(gemma4::estimate_memory(info, 0, 2), gemma4::Error);
  EXPECT_THROW(gemma4::estimate_memory(info, 10, 2, 0), gemma4::Error);
}
