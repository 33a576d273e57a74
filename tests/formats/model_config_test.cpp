// ModelConfig from config.json and from GGUF metadata, the released models'
// per-layer facts, and tensor validation against the config.
#include "src/formats/model_config.hpp"
#include "src/formats/model_files.hpp"
#include "src/formats/safetensors.hpp"

#include <gemma4/error.hpp>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace gemma4::formats;
using gemma4::Error;

namespace {

const fs::path kData = fs::path(GEMMA4_TEST_DATA_DIR) / "formats";

ModelConfig released(const std::string& name) {
  return config_from_hf_file(kData / "configs" / (name + ".json"));
}

std::vector<uint32_t> full_layers(const ModelConfig& c) {
  std::vector<uint32_t> out;
  for (uint32_t i = 0; i < c.num_layers; ++i) {
    if (c.layers[i].attention == AttentionKind::Full) out.push_back(i);
  }
  return out;
}

template <typename F>
void expect_error(F&& f, const std::string& needle) {
  try {
    f();
    FAIL() << "expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// The E2B text_config with one field replaced, as config.json text.
std::string e2b_with(const std::string& field, const std::string& value) {
  std::string s = R"({"model_type": "gemma4_text", "hidden_size": 1536, "num_hidden_layers": 3,
    "num_attention_heads": 8, "num_key_value_heads": 1, "head_dim": 256, "global_head_dim": 512,
    "vocab_size": 262144, "sliding_window": 512, "intermediate_size": 6144,
    "layer_types": ["sliding_attention", "sliding_attention", "full_attention"]})";
  if (field.empty()) return s;
  const size_t at = s.find("\"" + field + "\"");
  if (at == std::string::npos) return s.substr(0, s.size() - 1) + ", \"" + field + "\": " + value + "}";
  const size_t colon = s.find(':', at);
  size_t end = colon + 1;
  int depth = 0;
  for (; end < s.size(); ++end) {
    if (s[end] == '[') ++depth;
    if (s[end] == ']') --depth;
    if (depth == 0 && (s[end] == ',' || s[end] == '}')) break;
  }
  return s.substr(0, colon + 1) + " " + value + s.substr(end);
}

}  // namespace

TEST(ModelConfig, E2B) {
  const auto c = released("gemma-4-E2B");
  EXPECT_EQ(c.variant, "E2B");
  EXPECT_EQ(c.hidden_size, 1536u);
  EXPECT_EQ(c.num_layers, 35u);
  EXPECT_EQ(full_layers(c), (std::vector<uint32_t>{4, 9, 14, 19, 24, 29, 34}));
  EXPECT_EQ(c.head_dim_sliding, 256u);
  EXPECT_EQ(c.head_dim_full, 512u);
  EXPECT_EQ(c.kv_heads_sliding, 1u);
  EXPECT_EQ(c.kv_heads_full, 1u);
  EXPECT_FALSE(c.k_eq_v_full);
  EXPECT_EQ(c.ple_dim, 256u);
  EXPECT_EQ(c.ple_vocab, 262144u);
  EXPECT_FALSE(c.is_moe());
  EXPECT_EQ(c.sliding_window, 512u);
  EXPECT_EQ(c.first_kv_shared_layer(), 15u);
  for (uint32_t i = 0; i < 35; ++i) {
    const auto& l = c.layers[i];
    EXPECT_EQ(l.kv_shared, i >= 15) << i;
    EXPECT_EQ(l.ffn_dim, i < 15 ? 6144u : 12288u) << i;
    EXPECT_TRUE(l.has_v_proj);
    // Shared sliding layers read layer 13's cache, shared full layers layer 14's.
    const uint32_t source = i < 15 ? i : (l.attention == AttentionKind::Full ? 14u : 13u);
    EXPECT_EQ(l.kv_source, source) << i;
    EXPECT_EQ(l.head_dim, l.attention == AttentionKind::Full ? 512u : 256u);
  }
  EXPECT_DOUBLE_EQ(c.rope_sliding.theta, 10000.0);
  EXPECT_DOUBLE_EQ(c.rope_sliding.partial_rotary_factor, 1.0);
  EXPECT_DOUBLE_EQ(c.rope_full.theta, 1000000.0);
  EXPECT_DOUBLE_EQ(c.rope_full.partial_rotary_factor, 0.25);
  EXPECT_DOUBLE_EQ(c.final_logit_softcap, 30.0);
  EXPECT_FLOAT_EQ(c.embed_scale, 39.25f);  // sqrt(1536) in bf16
  EXPECT_EQ(c.tokens.bos, 2);
  EXPECT_EQ(c.tokens.eos, 1);
  EXPECT_EQ(c.tokens.pad, 0);
  EXPECT_EQ(c.tokens.stop, (std::vector<int32_t>{1, 106}));
  EXPECT_EQ(c.tokens.image, 258880);
  EXPECT_EQ(c.tokens.audio, 258881);
  EXPECT_EQ(c.max_position, 131072u);
}

TEST(ModelConfig, E4B) {
  const auto c = released("gemma-4-E4B");
  EXPECT_EQ(c.variant, "E4B");
  EXPECT_EQ(full_layers(c), (std::vector<uint32_t>{5, 11, 17, 23, 29, 35, 41}));
  EXPECT_EQ(c.first_kv_shared_layer(), 24u);
  EXPECT_EQ(c.kv_heads_sliding, 2u);
  EXPECT_FALSE(c.double_wide_mlp);
  for (uint32_t i = 24; i < 42; ++i) {
    EXPECT_EQ(c.layers[i].kv_source, c.layers[i].attention == AttentionKind::Full ? 23u : 22u) << i;
    EXPECT_EQ(c.layers[i].ffn_dim, 10240u);
  }
  EXPECT_FLOAT_EQ(c.embed_scale, 50.5f);
}

TEST(ModelConfig, MoE26B) {
  const auto c = released("gemma-4-26B-A4B");
  EXPECT_EQ(c.variant, "26B-A4B");
  EXPECT_EQ(full_layers(c), (std::vector<uint32_t>{5, 11, 17, 23, 29}));
  EXPECT_TRUE(c.is_moe());
  EXPECT_EQ(c.num_experts, 128u);
  EXPECT_EQ(c.top_k_experts, 8u);
  EXPECT_EQ(c.expert_ffn, 704u);
  EXPECT_EQ(c.intermediate_size, 2112u);
  EXPECT_TRUE(c.k_eq_v_full);
  EXPECT_EQ(c.kv_heads_sliding, 8u);
  EXPECT_EQ(c.kv_heads_full, 2u);
  EXPECT_FALSE(c.has_ple());
  EXPECT_EQ(c.num_kv_shared_layers, 0u);
  EXPECT_EQ(c.sliding_window, 1024u);
  for (const auto& l : c.layers) {
    EXPECT_TRUE(l.moe);
    EXPECT_EQ(l.has_v_proj, l.attention == AttentionKind::Sliding);
    EXPECT_EQ(l.kv_heads, l.attention == AttentionKind::Full ? 2u : 8u);
  }
  EXPECT_FLOAT_EQ(c.embed_scale, 53.0f);
}

TEST(ModelConfig, Dense31B) {
  const auto c = released("gemma-4-31B");
  EXPECT_EQ(c.variant, "31B");
  EXPECT_EQ(c.num_layers, 60u);
  EXPECT_EQ(full_layers(c).size(), 10u);
  EXPECT_EQ(c.kv_heads_sliding, 16u);
  EXPECT_EQ(c.kv_heads_full, 4u);
  EXPECT_TRUE(c.k_eq_v_full);
  EXPECT_EQ(c.layers[0].ffn_dim, 21504u);
  EXPECT_FALSE(c.is_moe());
  EXPECT_EQ(c.max_position, 262144u);
  EXPECT_FLOAT_EQ(c.embed_scale, 73.5f);
  // Tensor shapes the config calls for match the 31B checkpoint census.
  std::map<std::string, std::vector<uint64_t>> shapes;
  for (const auto& s : expected_tensors(c)) shapes[s.name] = s.shape;
  EXPECT_EQ(shapes["layers.0.self_attn.q_proj.weight"], (std::vector<uint64_t>{8192, 5376}));
  EXPECT_EQ(shapes["layers.5.self_attn.q_proj.weight"], (std::vector<uint64_t>{16384, 5376}));
  EXPECT_EQ(shapes["layers.5.self_attn.k_proj.weight"], (std::vector<uint64_t>{2048, 5376}));
  EXPECT_EQ(shapes.count("layers.5.self_attn.v_proj.weight"), 0u);
  EXPECT_EQ(shapes["layers.0.self_attn.v_proj.weight"], (std::vector<uint64_t>{4096, 5376}));
  EXPECT_EQ(shapes["layers.5.self_attn.o_proj.weight"], (std::vector<uint64_t>{5376, 16384}));
  size_t v_proj = 0;
  for (const auto& [name, shape] : shapes) v_proj += name.find("v_proj") != std::string::npos;
  EXPECT_EQ(v_proj, 50u);
}

TEST(ModelConfig, HfAndGgufNamesMapBothWays) {
  for (const char* name : {"gemma-4-E2B", "gemma-4-26B-A4B"}) {
    std::set<std::string> gguf_names;
    for (const auto& s : expected_tensors(released(name))) {
      const auto g = hf_to_gguf_name(s.name);
      ASSERT_TRUE(g) << s.name;
      EXPECT_EQ(gguf_to_hf_name(*g), s.name);
      EXPECT_TRUE(gguf_names.insert(*g).second) << *g;  // one-to-one
    }
  }
  EXPECT_EQ(hf_to_gguf_name("layers.3.router.per_expert_scale"), "blk.3.ffn_down_exps.scale");
  EXPECT_EQ(hf_to_gguf_name("layers.12.layer_scalar"), "blk.12.layer_output_scale.weight");
  EXPECT_EQ(hf_to_gguf_name("embed_tokens_per_layer.weight"), "per_layer_token_embd.weight");
  EXPECT_EQ(gguf_to_hf_name("blk.7.ffn_gate_up_exps.weight"), "layers.7.experts.gate_up_proj");
  EXPECT_FALSE(gguf_to_hf_name("blk.07.attn_q.weight"));
  EXPECT_FALSE(gguf_to_hf_name("blk.x.attn_q.weight"));
  EXPECT_FALSE(gguf_to_hf_name("blk.1.attn_qkv.weight"));
  EXPECT_FALSE(hf_to_gguf_name("vision_tower.x"));
}

// The same tiny weights as HF safetensors (sharded, bf16) and as a llama.cpp
// GGUF give the same config and the same bytes for every tensor.
TEST(ModelConfig, TinyModelsAgreeAcrossFormats) {
  for (const char* name : {"tiny_e", "tiny_moe"}) {
    SCOPED_TRACE(name);
    const auto hf_cfg = config_from_hf_file(kData / name / "config.json");
    const auto gguf = GgufFile::open(kData / (std::string(name) + ".gguf"));
    const auto gg_cfg = config_from_gguf(gguf);
    EXPECT_EQ(hf_cfg.variant, "custom");
    EXPECT_EQ(gg_cfg.hidden_size, hf_cfg.hidden_size);
    EXPECT_EQ(gg_cfg.vocab_size, hf_cfg.vocab_size);
    EXPECT_EQ(gg_cfg.kv_heads_full, hf_cfg.kv_heads_full);
    EXPECT_EQ(gg_cfg.kv_heads_sliding, hf_cfg.kv_heads_sliding);
    EXPECT_EQ(gg_cfg.k_eq_v_full, hf_cfg.k_eq_v_full);
    EXPECT_EQ(gg_cfg.double_wide_mlp, hf_cfg.double_wide_mlp);
    EXPECT_EQ(gg_cfg.ple_dim, hf_cfg.ple_dim);
    EXPECT_EQ(gg_cfg.ple_vocab, hf_cfg.ple_vocab);
    EXPECT_EQ(gg_cfg.num_experts, hf_cfg.num_experts);
    EXPECT_EQ(gg_cfg.top_k_experts, hf_cfg.top_k_experts);
    EXPECT_EQ(gg_cfg.expert_ffn, hf_cfg.expert_ffn);
    EXPECT_EQ(gg_cfg.sliding_window, hf_cfg.sliding_window);
    EXPECT_EQ(gg_cfg.max_position, hf_cfg.max_position);
    EXPECT_DOUBLE_EQ(gg_cfg.rope_full.theta, hf_cfg.rope_full.theta);
    EXPECT_DOUBLE_EQ(gg_cfg.rope_full.partial_rotary_factor, hf_cfg.rope_full.partial_rotary_factor);
    EXPECT_DOUBLE_EQ(gg_cfg.rope_sliding.theta, hf_cfg.rope_sliding.theta);
    EXPECT_DOUBLE_EQ(gg_cfg.final_logit_softcap, hf_cfg.final_logit_softcap);
    EXPECT_NEAR(gg_cfg.rms_norm_eps, hf_cfg.rms_norm_eps, 1e-12);
    ASSERT_EQ(gg_cfg.layers.size(), hf_cfg.layers.size());
    for (size_t i = 0; i < hf_cfg.layers.size(); ++i) {
      const auto& a = hf_cfg.layers[i];
      const auto& b = gg_cfg.layers[i];
      EXPECT_EQ(a.attention, b.attention) << i;
      EXPECT_EQ(a.head_dim, b.head_dim) << i;
      EXPECT_EQ(a.kv_heads, b.kv_heads) << i;
      EXPECT_EQ(a.has_v_proj, b.has_v_proj) << i;
      EXPECT_EQ(a.kv_shared, b.kv_shared) << i;
      EXPECT_EQ(a.kv_source, b.kv_source) << i;
      EXPECT_EQ(a.ffn_dim, b.ffn_dim) << i;
      EXPECT_EQ(a.moe, b.moe) << i;
    }

    const auto st = SafetensorsModel::open(kData / name);
    const auto from_hf = bind_text_tensors(hf_cfg, st.tensors(), NameScheme::HuggingFace, name);
    const auto from_gguf = bind_text_tensors(gg_cfg, gguf.tensors(), NameScheme::Gguf, gguf.label());
    EXPECT_EQ(from_hf.size(), expected_tensors(hf_cfg).size());
    ASSERT_EQ(from_hf.size(), from_gguf.size());
    for (const auto& [n, t] : from_hf) {
      const auto& g = from_gguf.at(n);
      EXPECT_EQ(t.shape, g.shape) << n;
      // Matrices are bf16 in both tiny_e files; 1-D tensors are F32 in the GGUF.
      if (t.type == g.type) {
        ASSERT_EQ(t.data.size(), g.data.size()) << n;
        EXPECT_EQ(std::memcmp(t.data.data(), g.data.data(), t.data.size()), 0) << n;
      }
    }
  }
  // tiny_e specifics: KV sharing with sources by type, double-wide MLP, PLE.
  const auto e = config_from_hf_file(kData / "tiny_e" / "config.json");
  EXPECT_EQ(e.layers[3].kv_source, 1u);
  EXPECT_EQ(e.layers[4].kv_source, 2u);
  EXPECT_EQ(e.layers[4].ffn_dim, 192u);
}

// Checkpoints saved by Hugging Face transformers itself (tests/data/models).
TEST(ModelConfig, TransformersSavedCheckpointsValidate) {
  const fs::path models = fs::path(GEMMA4_TEST_DATA_DIR) / "models";
  int checked = 0;
  for (const char* name : {"e2b", "e4b", "26b", "31b"}) {
    if (!fs::exists(models / name / "config.json")) continue;
    SCOPED_TRACE(name);
    const auto c = config_from_hf_file(models / name / "config.json");
    const auto st = SafetensorsModel::open(models / name);
    const auto bound = bind_text_tensors(c, st.tensors(), NameScheme::HuggingFace, name);
    EXPECT_EQ(bound.size(), expected_tensors(c).size());
    ++checked;
  }
  if (checked == 0) GTEST_SKIP() << "tests/data/models not present";
}

TEST(ModelConfigBadInput, ConfigJson) {
  EXPECT_NO_THROW(config_from_hf_json(e2b_with("", ""), "c.json"));
  expect_error([] { config_from_hf_json("{", "c.json"); }, "malformed JSON");
  expect_error([] { config_from_hf_json("[]", "c.json"); }, "not a JSON object");
  expect_error([] { config_from_hf_json(R"({"model_type": "llama"})", "c.json"); }, "unsupported architecture 'llama'");
  expect_error([] { config_from_hf_json(R"({"model_type": "gemma4"})", "c.json"); }, "text_config");
  // Found by the libFuzzer run: a non-string model_type escaped as nlohmann's type_error.
  expect_error([] { config_from_hf_json(R"({"model_type": {"a": "b"}})", "c.json"); },
               "\"model_type\" is not a string");
  expect_error(
      [] { config_from_hf_json(e2b_with("rope_parameters", R"({"full_attention": {"rope_type": 3}})"), "c.json"); },
      "\"rope_type\" is not a string");
  expect_error([] { config_from_hf_json(e2b_with("hidden_size", "null"), "c.json"); }, "missing \"hidden_size\"");
  expect_error([] { config_from_hf_json(e2b_with("hidden_size", "-3"), "c.json"); }, "\"hidden_size\"");
  expect_error([] { config_from_hf_json(e2b_with("hidden_size", "\"big\""), "c.json"); }, "\"hidden_size\"");
  expect_error([] { config_from_hf_json(e2b_with("num_key_value_heads", "3"), "c.json"); }, "must divide");
  expect_error([] { config_from_hf_json(e2b_with("head_dim", "7"), "c.json"); }, "even");
  expect_error([] { config_from_hf_json(e2b_with("layer_types", R"(["sliding_attention"])"), "c.json"); },
               "1 layer types for 3 layers");
  expect_error([] { config_from_hf_json(e2b_with("layer_types", R"(["sliding_attention", "x", "y"])"), "c.json"); },
               "unknown layer type");
  expect_error([] { config_from_hf_json(e2b_with("num_kv_shared_layers", "3"), "c.json"); }, "KV-shared");
  // Layer 2 (full) shares KV but no earlier full layer exists.
  expect_error([] { config_from_hf_json(e2b_with("num_kv_shared_layers", "1"), "c.json"); }, "no earlier full layer");
  expect_error([] { config_from_hf_json(e2b_with("enable_moe_block", "true"), "c.json"); }, "num_experts");
  expect_error(
      [] {
        config_from_hf_json(e2b_with("rope_parameters", R"({"full_attention": {"rope_type": "yarn"}})"), "c.json");
      },
      "unsupported rope_type 'yarn'");
  expect_error([] { config_from_hf_json(e2b_with("use_double_wide_mlp", "1"), "c.json"); }, "true or false");
  expect_error([] { config_from_hf_file("/nonexistent/config.json"); }, "/nonexistent/config.json");
}

TEST(ModelConfigBadInput, Gguf) {
  const auto arch = GgufFile::open(kData / "gguf_py_types.gguf");  // gemma4 arch, but no model keys
  expect_error([&] { config_from_gguf(arch); }, "missing metadata 'gemma4.embedding_length'");
  expect_error([] { config_from_gguf(GgufFile::open(kData / "gguf_py_align64.gguf")); }, "gemma4.");
  expect_error([] { config_from_gguf(GgufFile::open(kData / "tiny_mmproj.gguf")); }, "unsupported architecture 'clip'");
  expect_error([] { config_from_gguf(GgufFile::open(kData / "tiny_mmproj.gguf")); }, "mmproj");
  expect_error([] { open_model_files(kData / "tiny_mmproj.gguf"); }, "tiny_mmproj.gguf");
  expect_error([] { open_model_files(kData / "configs"); }, "no config.json");
}

TEST(ModelConfigBadInput, TensorsAgainstConfig) {
  const auto c = config_from_hf_file(kData / "tiny_moe" / "config.json");
  const auto st = SafetensorsModel::open(kData / "tiny_moe");
  const auto good = st.tensors();
  ASSERT_NO_THROW(bind_text_tensors(c, good, NameScheme::HuggingFace, "m"));

  auto without = good;
  std::erase_if(without, [](const TensorView& t) { return t.name == "model.language_model.layers.1.router.scale"; });
  expect_error([&] { bind_text_tensors(c, without, NameScheme::HuggingFace, "m"); },
               "m: missing tensor 'model.language_model.layers.1.router.scale'");

  auto reshaped = good;
  for (auto& t : reshaped) {
    if (t.name == "model.language_model.layers.0.self_attn.q_proj.weight") t.shape = {16, 128};
  }
  expect_error([&] { bind_text_tensors(c, reshaped, NameScheme::HuggingFace, "m"); },
               "has shape [16, 128], the config needs [32, 64]");

  auto extra = good;
  extra.push_back(good.front());
  extra.back().name = "model.language_model.layers.0.self_attn.v_norm.weight";
  expect_error([&] { bind_text_tensors(c, extra, NameScheme::HuggingFace, "m"); }, "unexpected tensor");

  auto twice = good;
  twice.push_back(good.front());
  expect_error([&] { bind_text_tensors(c, twice, NameScheme::HuggingFace, "m"); }, "duplicate tensor");

  // A v_proj on a K=V full layer is not part of the model.
  auto kv = good;
  kv.push_back(good.front());
  kv.back().name = "model.language_model.layers.1.self_attn.v_proj.weight";
  expect_error([&] { bind_text_tensors(c, kv, NameScheme::HuggingFace, "m"); }, "v_proj");

  // GGUF names: a config that does not match the file's tensors.
  const auto gguf = GgufFile::open(kData / "tiny_moe.gguf");
  auto other = config_from_gguf(gguf);
  other.num_experts = 8;
  for (auto& l : other.layers) l.ffn_dim = 40;
  expect_error([&] { bind_text_tensors(other, gguf.tensors(), NameScheme::Gguf, "g"); }, "blk.0.");
  // An unsupported architecture in a GGUF.
  const auto e = GgufFile::open(kData / "tiny_e.gguf");
  EXPECT_NO_THROW(config_from_gguf(e));
}
