// gemma4 convert: HF folder -> GGUF and GGUF -> GGUF, read back through the
// normal loading path; tensors equal (or within the target type's rounding).
#include "src/formats/convert.hpp"
#include "src/formats/model_files.hpp"

#include "kernels/cpu/fp16.hpp"

#include <gemma4/error.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

namespace fs = std::filesystem;
using namespace gemma4::formats;
using gemma4::Error;
using gemma4::kernels::DType;

namespace {

const fs::path kData = fs::path(GEMMA4_TEST_DATA_DIR) / "formats";

fs::path temp(const std::string& name) {
  return fs::temp_directory_path() / ("gemma4_convert_" + std::to_string(::getpid()) + "_" + name);
}

float value(const TensorView& t, uint64_t i) {
  uint16_t h;
  float f;
  switch (t.type) {
    case DType::F32:
      std::memcpy(&f, t.data.data() + 4 * i, 4);
      return f;
    case DType::F16:
      std::memcpy(&h, t.data.data() + 2 * i, 2);
      return gemma4::kernels::f16_to_f32(h);
    case DType::BF16:
      std::memcpy(&h, t.data.data() + 2 * i, 2);
      return gemma4::kernels::bf16_to_f32(h);
    default:
      ADD_FAILURE() << "unexpected type";
      return 0;
  }
}

// Every text tensor of `b` equals `a`'s within `rel` relative error (0: exact).
void expect_same_tensors(const ModelFiles& a, const ModelFiles& b, double rel) {
  ASSERT_EQ(a.text.size(), b.text.size());
  for (const auto& [name, ta] : a.text) {
    const TensorView& tb = b.text.at(name);
    ASSERT_EQ(ta.shape, tb.shape) << name;
    for (uint64_t i = 0; i < ta.elements(); ++i) {
      const float x = value(ta, i), y = value(tb, i);
      ASSERT_LE(std::fabs(x - y), rel * std::fabs(x) + 1e-7) << name << "[" << i << "]";
    }
  }
}

}  // namespace

TEST(Convert, TypePolicy) {
  EXPECT_EQ(target_type("blk.0.attn_norm.weight", 1, DType::F16), DType::F32);
  EXPECT_EQ(target_type("blk.0.layer_output_scale.weight", 1, DType::BF16), DType::F32);
  EXPECT_EQ(target_type("blk.0.ffn_gate_inp.weight", 2, DType::F16), DType::F32);
  EXPECT_EQ(target_type("blk.0.ffn_gate_up_exps.weight", 3, DType::F16), DType::F16);
  EXPECT_EQ(target_type("token_embd.weight", 2, DType::BF16), DType::BF16);
  EXPECT_EQ(target_type("per_layer_token_embd.weight", 2, DType::F16), DType::F16);
}

TEST(Convert, HfShardedBf16ToGgufIsExact) {
  const fs::path out = temp("tiny_e.gguf");
  size_t calls = 0;
  ConvertOptions opt;
  opt.type = DType::BF16;
  opt.progress = [&](size_t i, size_t n, const std::string&) {
    ++calls;
    EXPECT_LE(i, n);
  };
  const auto r = convert_to_gguf(kData / "tiny_e", out, opt);
  EXPECT_EQ(calls, r.tensors);
  const auto src = open_model_files(kData / "tiny_e");
  const auto dst = open_model_files(out);
  expect_same_tensors(src, dst, 0.0);
  EXPECT_EQ(dst.text.at("layers.0.self_attn.q_proj.weight").type, DType::BF16);
  EXPECT_EQ(dst.text.at("layers.0.input_layernorm.weight").type, DType::F32);
  // The config survives the trip through GGUF metadata.
  const auto& a = src.config;
  const auto& b = dst.config;
  EXPECT_EQ(b.num_kv_shared_layers, a.num_kv_shared_layers);
  EXPECT_EQ(b.double_wide_mlp, a.double_wide_mlp);
  EXPECT_DOUBLE_EQ(b.rope_full.partial_rotary_factor, 0.25);
  for (size_t i = 0; i < a.layers.size(); ++i) {
    EXPECT_EQ(b.layers[i].kv_source, a.layers[i].kv_source);
    EXPECT_EQ(b.layers[i].ffn_dim, a.layers[i].ffn_dim);
  }
  EXPECT_EQ(dst.gguf->get_uint("general.file_type"), 32u);
  EXPECT_EQ(dst.gguf->get_uint("tokenizer.ggml.bos_token_id"), 2u);
  // Same layout as the llama.cpp-named fixture written by gguf-py.
  const auto ref = GgufFile::open(kData / "tiny_e.gguf");
  for (const auto& t : ref.tensor_infos()) {
    const GgufTensorInfo* mine = dst.gguf->find_tensor(t.name);
    ASSERT_NE(mine, nullptr) << t.name;
    EXPECT_EQ(mine->ne, t.ne) << t.name;
  }
  for (const char* key :
       {"gemma4.attention.head_count_kv", "gemma4.feed_forward_length", "gemma4.attention.sliding_window_pattern",
        "gemma4.rope.freq_base_swa", "gemma4.embedding_length_per_layer_input", "gemma4.attention.shared_kv_layers"}) {
    EXPECT_TRUE(dst.gguf->has(key)) << key;
  }
  fs::remove(out);
}

TEST(Convert, HfF32ToF16WithinRounding) {
  const fs::path out = temp("tiny_moe_f16.gguf");
  ConvertOptions opt;
  opt.type = DType::F16;
  convert_to_gguf(kData / "tiny_moe", out, opt);
  const auto src = open_model_files(kData / "tiny_moe");
  const auto dst = open_model_files(out);
  expect_same_tensors(src, dst, 1.0 / 1024);  // f16 keeps 11 significant bits
  EXPECT_EQ(dst.text.at("layers.0.experts.gate_up_proj").type, DType::F16);
  EXPECT_EQ(dst.text.at("layers.0.router.proj.weight").type, DType::F32);
  EXPECT_TRUE(dst.config.k_eq_v_full);
  EXPECT_EQ(dst.config.kv_heads_full, 1u);
  EXPECT_EQ(dst.gguf->get_array("gemma4.attention.head_count_kv").items.size(), 2u);
  fs::remove(out);
}

TEST(Convert, GgufToGgufKeepsTokenizerMetadata) {
  const fs::path out = temp("tiny_e_f32.gguf");
  ConvertOptions opt;
  opt.type = DType::F32;
  convert_to_gguf(kData / "tiny_e.gguf", out, opt);
  const auto src = open_model_files(kData / "tiny_e.gguf");
  const auto dst = open_model_files(out);
  expect_same_tensors(src, dst, 0.0);
  EXPECT_EQ(dst.text.at("embed_tokens.weight").type, DType::F32);
  EXPECT_EQ(dst.gguf->get_string("tokenizer.chat_template"), src.gguf->get_string("tokenizer.chat_template"));
  EXPECT_NE(dst.gguf->find_tensor("rope_freqs.weight"), nullptr);
  fs::remove(out);
}

TEST(Convert, EmbedsTokenizerJsonAndChatTemplate) {
  const fs::path dir = temp("with_tokenizer");
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(kData / "tiny_e")) fs::copy(e.path(), dir / e.path().filename());
  std::ofstream(dir / "tokenizer.json") << R"({"model": {"type": "BPE", "vocab": {"<pad>": 0, "<0x0A>": 3, "a": 4,
      "b": 5, "ab": 6}, "merges": [["a", "b"]]}, "added_tokens": [{"id": 1, "content": "<eos>", "special": true},
      {"id": 2, "content": "<bos>", "special": true}, {"id": 7, "content": "<|channel>", "special": true}]})";
  std::ofstream(dir / "chat_template.jinja") << "{{ bos_token }}";
  const fs::path out = temp("with_tokenizer.gguf");
  convert_to_gguf(dir, out, {});
  const auto g = GgufFile::open(out);
  EXPECT_EQ(g.get_string("tokenizer.ggml.model"), "gemma4");
  const auto& tokens = g.get_array("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens.items.size(), 8u);
  EXPECT_EQ(std::get<std::string>(tokens.items[6].value), "ab");
  const auto& types = g.get_array("tokenizer.ggml.token_type").items;
  EXPECT_EQ(std::get<int64_t>(types[1].value), 3);  // control
  EXPECT_EQ(std::get<int64_t>(types[3].value), 6);  // byte
  EXPECT_EQ(std::get<int64_t>(types[4].value), 1);  // normal
  EXPECT_EQ(std::get<int64_t>(types[7].value), 4);  // shown as text (llama.cpp: user-defined)
  EXPECT_EQ(std::get<std::string>(g.get_array("tokenizer.ggml.merges").items[0].value), "a b");
  EXPECT_EQ(g.get_string("tokenizer.chat_template"), "{{ bos_token }}");

  // A vocabulary with a hole is refused.
  fs::remove(out);
  std::ofstream(dir / "tokenizer.json") << R"({"model": {"vocab": {"a": 0, "b": 2}}})";
  EXPECT_THROW(convert_to_gguf(dir, out, {}), Error);
  EXPECT_FALSE(fs::exists(out));
  fs::remove_all(dir);
}

TEST(ConvertBadInput, Errors) {
  ConvertOptions q;
  q.type = DType::Q4_K;
  EXPECT_THROW(convert_to_gguf(kData / "tiny_e", temp("q.gguf"), q), Error);
  EXPECT_THROW(convert_to_gguf(kData / "tiny_e.gguf", kData / "tiny_e.gguf", {}), Error);
  EXPECT_THROW(convert_to_gguf(kData / "no_such_folder", temp("x.gguf"), {}), Error);
  EXPECT_THROW(convert_to_gguf(kData / "not_a_model.gguf", temp("x.gguf"), {}), Error);

  // A value beyond the f16 range is an error, not a silent infinity.
  const auto src = GgufFile::open(kData / "tiny_moe.gguf");
  const fs::path big = temp("big.gguf");
  {
    GgufWriter w(big);
    for (const auto& [k, v] : src.metadata()) w.add_metadata(k, v);
    for (const auto& t : src.tensors()) w.add_tensor(t.name, t.type, t.shape);
    for (const auto& t : src.tensors()) {
      std::vector<std::byte> bytes(t.data.begin(), t.data.end());
      if (t.name == "blk.0.attn_q.weight") {
        const float huge = 1e6f;
        std::memcpy(bytes.data(), &huge, 4);
      }
      w.write_tensor(t.name, bytes);
    }
    w.finish();
  }
  ConvertOptions f16;
  f16.type = DType::F16;
  try {
    convert_to_gguf(big, temp("big16.gguf"), f16);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("blk.0.attn_q.weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("f16 range"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(temp("big16.gguf")));
  fs::remove(big);
}
