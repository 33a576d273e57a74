// gemma4 convert: HF folder -> GGUF and GGUF -> GGUF, read back through the
// normal loading path; tensors equal (or within the target type's rounding).
#include "src/formats/convert.hpp"
#include "src/formats/model_files.hpp"

#include "kernels/cpu/fp16.hpp"
#include "kernels/cpu/quant.hpp"

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
  const auto f16 = convert_scheme("f16");
  EXPECT_EQ(target_type("blk.0.attn_norm.weight", {1536}, f16), DType::F32);
  EXPECT_EQ(target_type("blk.0.layer_output_scale.weight", {1}, f16), DType::F32);
  EXPECT_EQ(target_type("blk.0.ffn_gate_inp.weight", {128, 2816}, f16), DType::F32);
  EXPECT_EQ(target_type("blk.0.ffn_gate_up_exps.weight", {128, 1408, 2816}, f16), DType::F16);
  EXPECT_EQ(target_type("per_layer_token_embd.weight", {262144, 8960}, f16), DType::F16);
  const auto q4 = convert_scheme("q4_k_m");
  EXPECT_EQ(q4.file_type, 15u);
  EXPECT_EQ(target_type("blk.3.attn_q.weight", {2048, 1536}, q4), DType::Q4_K);
  EXPECT_EQ(target_type("blk.3.attn_v.weight", {256, 1536}, q4), DType::Q6_K);
  EXPECT_EQ(target_type("blk.3.ffn_down.weight", {1536, 6144}, q4), DType::Q6_K);
  EXPECT_EQ(target_type("token_embd.weight", {262144, 1536}, q4), DType::Q6_K);
  EXPECT_EQ(target_type("per_layer_token_embd.weight", {262144, 8960}, q4), DType::Q4_K);
  EXPECT_EQ(target_type("blk.0.ffn_gate_up_exps.weight", {128, 1408, 2816}, q4), DType::Q4_K);
  // Rows that are not whole 256-blocks fall back: 26B's expert down_proj rows are 704 long.
  EXPECT_EQ(target_type("blk.0.ffn_down_exps.weight", {128, 2816, 704}, q4), DType::Q8_0);
  EXPECT_EQ(target_type("blk.0.attn_q.weight", {128, 64}, q4), DType::Q5_0);
  EXPECT_EQ(target_type("blk.0.attn_q.weight", {128, 64}, convert_scheme("q5_k_m")), DType::Q5_1);
  EXPECT_EQ(target_type("blk.0.attn_q.weight", {128, 48}, q4), DType::F16);
  EXPECT_EQ(target_type("blk.0.attn_q.weight", {128, 64}, convert_scheme("q8_0")), DType::Q8_0);
  EXPECT_THROW(convert_scheme("q3_k"), Error);
}

TEST(Convert, HfShardedBf16ToGgufIsExact) {
  const fs::path out = temp("tiny_e.gguf");
  size_t calls = 0;
  ConvertOptions opt;
  opt.scheme = convert_scheme("bf16");
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
  opt.scheme = convert_scheme("f16");
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
  opt.scheme = convert_scheme("f32");
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
  // So is an added token whose "special" is not true or false.
  std::ofstream(dir / "tokenizer.json") << R"({"model": {"vocab": {"a": 0}}, "added_tokens": [{"id": 1,
      "content": "<eos>", "special": "yes"}]})";
  EXPECT_THROW(convert_to_gguf(dir, out, {}), Error);
  EXPECT_FALSE(fs::exists(out));
  fs::remove_all(dir);
}

// Quantized outputs: every tensor within its type's rounding, relative to
// the largest magnitude of its row.
TEST(Convert, QuantizedOutputsWithinTypeError) {
  auto tolerance = [](DType t) {
    switch (t) {
      case DType::F32:
        return 0.0;
      case DType::F16:
        return 1.0 / 1024;
      case DType::Q8_0:
        return 1.0 / 100;
      case DType::Q6_K:
        return 1.0 / 25;
      case DType::Q5_0:
      case DType::Q5_1:
      case DType::Q5_K:
        return 1.0 / 12;
      default:
        return 1.0 / 6;
    }
  };
  for (const char* scheme : {"q8_0", "q4_0", "q4_k_m", "q5_k_m", "q6_k"}) {
    SCOPED_TRACE(scheme);
    const fs::path out = temp(std::string(scheme) + ".gguf");
    ConvertOptions opt;
    opt.scheme = convert_scheme(scheme);
    convert_to_gguf(kData / "tiny_moe", out, opt);
    const auto src = open_model_files(kData / "tiny_moe");
    const auto dst = open_model_files(out);
    EXPECT_EQ(dst.gguf->get_uint("general.file_type"), opt.scheme.file_type);
    bool any_quantized = false;
    for (const auto& [name, a] : src.text) {
      const TensorView& b = dst.text.at(name);
      ASSERT_EQ(a.shape, b.shape);
      const uint64_t row = a.shape.back();
      std::vector<float> got(row);
      any_quantized = any_quantized || (b.type != DType::F32 && b.type != DType::F16 && b.type != DType::BF16);
      const size_t row_bytes = *gemma4::kernels::row_bytes(b.type, row);
      for (uint64_t r = 0; r < a.elements() / row; ++r) {
        gemma4::kernels::dequantize_row(b.type, b.data.data() + r * row_bytes, got.data(), row);
        double amax = 0;
        for (uint64_t i = 0; i < row; ++i) amax = std::max(amax, std::fabs(double{value(a, r * row + i)}));
        for (uint64_t i = 0; i < row; ++i) {
          ASSERT_LE(std::fabs(value(a, r * row + i) - got[i]), tolerance(b.type) * amax + 1e-7)
              << name << " as " << gemma4::kernels::dtype_name(b.type) << " row " << r << " col " << i;
        }
      }
    }
    EXPECT_TRUE(any_quantized);
    fs::remove(out);
  }
}

TEST(ConvertBadInput, Errors) {
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
  f16.scheme = convert_scheme("f16");
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
