#include "src/formats/convert.hpp"

#include "kernels/cpu/fp16.hpp"
#include "kernels/cpu/quant.hpp"
#include "src/formats/gguf.hpp"
#include "src/formats/model_files.hpp"

#include <gemma4/error.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

namespace gemma4::formats {
namespace {

namespace fs = std::filesystem;
using kernels::DType;

// Rows are converted in chunks of about this many elements.
constexpr uint64_t kChunkElements = 1 << 20;

bool is_float_type(DType t) {
  return t == DType::F32 || t == DType::F16 || t == DType::BF16;
}

// One row of `type` to floats and back, through the kernels' scalar
// reference conversions.
void row_to_f32(DType type, const std::byte* src, float* dst, size_t n) {
  kernels::dequantize_row(type, src, dst, n);
}

void row_from_f32(DType type, const float* src, std::byte* dst, size_t n, const std::string& tensor) {
  if (type == DType::F16) {
    // Values past the f16 range would silently become infinities.
    for (size_t i = 0; i < n; ++i) {
      if (std::isfinite(src[i]) && std::fabs(src[i]) > 65504.0f) {
        throw Error(
            fmt::format("tensor '{}' has a value ({}) outside the f16 range; convert to bf16 or f32", tensor, src[i]));
      }
    }
  }
  kernels::quantize_row(type, src, dst, n);
}

// The gemma4.* keys llama.cpp's converter writes (Gemma4Model.set_gguf_parameters).
void add_model_metadata(GgufWriter& w, const ModelConfig& c, const std::string& name, const ConvertScheme& scheme) {
  const std::string p = "gemma4.";
  w.add_metadata("general.architecture", GgufValue::string("gemma4"));
  w.add_metadata("general.name", GgufValue::string(name));
  w.add_metadata("general.file_type", GgufValue::u32(scheme.file_type));
  if (!is_float_type(scheme.matrices)) w.add_metadata("general.quantization_version", GgufValue::u32(2));
  w.add_metadata(p + "context_length", GgufValue::u32(c.max_position));
  w.add_metadata(p + "embedding_length", GgufValue::u32(c.hidden_size));
  w.add_metadata(p + "block_count", GgufValue::u32(c.num_layers));
  bool uniform_ffn = true;
  for (const auto& l : c.layers) uniform_ffn = uniform_ffn && l.ffn_dim == c.layers[0].ffn_dim;
  if (uniform_ffn) {
    w.add_metadata(p + "feed_forward_length", GgufValue::u32(c.layers[0].ffn_dim));
  } else {
    std::vector<GgufValue> ffn;
    for (const auto& l : c.layers) ffn.push_back(GgufValue::i32(static_cast<int32_t>(l.ffn_dim)));
    w.add_metadata(p + "feed_forward_length", GgufValue::array(GgufType::I32, std::move(ffn)));
  }
  w.add_metadata(p + "attention.head_count", GgufValue::u32(c.num_heads));
  if (c.kv_heads_full == c.kv_heads_sliding) {
    w.add_metadata(p + "attention.head_count_kv", GgufValue::u32(c.kv_heads_sliding));
  } else {
    std::vector<GgufValue> kv;
    for (const auto& l : c.layers) kv.push_back(GgufValue::i32(static_cast<int32_t>(l.kv_heads)));
    w.add_metadata(p + "attention.head_count_kv", GgufValue::array(GgufType::I32, std::move(kv)));
  }
  w.add_metadata(p + "attention.layer_norm_rms_epsilon", GgufValue::f32(static_cast<float>(c.rms_norm_eps)));
  w.add_metadata(p + "attention.key_length", GgufValue::u32(c.head_dim_full));
  w.add_metadata(p + "attention.value_length", GgufValue::u32(c.head_dim_full));
  w.add_metadata(p + "attention.key_length_swa", GgufValue::u32(c.head_dim_sliding));
  w.add_metadata(p + "attention.value_length_swa", GgufValue::u32(c.head_dim_sliding));
  w.add_metadata(p + "rope.freq_base", GgufValue::f32(static_cast<float>(c.rope_full.theta)));
  w.add_metadata(p + "rope.freq_base_swa", GgufValue::f32(static_cast<float>(c.rope_sliding.theta)));
  if (c.final_logit_softcap > 0.0) {
    w.add_metadata(p + "final_logit_softcapping", GgufValue::f32(static_cast<float>(c.final_logit_softcap)));
  }
  w.add_metadata(p + "attention.sliding_window", GgufValue::u32(c.sliding_window));
  w.add_metadata(p + "attention.shared_kv_layers", GgufValue::u32(c.num_kv_shared_layers));
  w.add_metadata(p + "embedding_length_per_layer_input", GgufValue::u32(c.ple_dim));
  std::vector<GgufValue> swa;
  for (const auto& l : c.layers) swa.push_back(GgufValue::boolean(l.attention == AttentionKind::Sliding));
  w.add_metadata(p + "attention.sliding_window_pattern", GgufValue::array(GgufType::BOOL, std::move(swa)));
  w.add_metadata(p + "rope.dimension_count", GgufValue::u32(c.head_dim_full));
  w.add_metadata(p + "rope.dimension_count_swa",
                 GgufValue::u32(static_cast<uint32_t>(c.head_dim_sliding * c.rope_sliding.partial_rotary_factor)));
  if (c.is_moe()) {
    w.add_metadata(p + "expert_count", GgufValue::u32(c.num_experts));
    w.add_metadata(p + "expert_used_count", GgufValue::u32(c.top_k_experts));
    w.add_metadata(p + "expert_feed_forward_length", GgufValue::u32(c.expert_ffn));
  }
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Tokenizer and chat template of a Hugging Face folder, in llama.cpp's keys.
// Token types as llama.cpp numbers them: 1 normal, 3 control, 4 user-defined, 6 byte.
void add_tokenizer_metadata(GgufWriter& w, const fs::path& folder, const ModelConfig& c) {
  using nlohmann::json;
  w.add_metadata("tokenizer.ggml.bos_token_id", GgufValue::u32(static_cast<uint32_t>(c.tokens.bos)));
  w.add_metadata("tokenizer.ggml.eos_token_id", GgufValue::u32(static_cast<uint32_t>(c.tokens.eos)));
  w.add_metadata("tokenizer.ggml.padding_token_id", GgufValue::u32(static_cast<uint32_t>(c.tokens.pad)));
  w.add_metadata("tokenizer.ggml.add_bos_token", GgufValue::boolean(true));
  w.add_metadata("tokenizer.ggml.add_space_prefix", GgufValue::boolean(false));

  const fs::path tok = folder / "tokenizer.json";
  if (fs::is_regular_file(tok)) {
    json j;
    try {
      j = json::parse(read_text(tok));
    } catch (const json::exception& e) {
      throw Error(fmt::format("{}: malformed JSON: {}", tok.string(), e.what()));
    }
    const json* vocab = nullptr;
    if (j.contains("model") && j["model"].is_object() && j["model"].contains("vocab") &&
        j["model"]["vocab"].is_object()) {
      vocab = &j["model"]["vocab"];
    }
    if (vocab == nullptr) throw Error(fmt::format("{}: no BPE model.vocab object", tok.string()));
    std::vector<std::string> tokens;
    std::vector<int32_t> types;
    auto place = [&](int64_t id, const std::string& text, int32_t type) {
      if (id < 0 || id >= int64_t{1} << 24) throw Error(fmt::format("{}: token id {} out of range", tok.string(), id));
      if (static_cast<size_t>(id) >= tokens.size()) {
        tokens.resize(static_cast<size_t>(id) + 1);
        types.resize(static_cast<size_t>(id) + 1, 0);
      }
      tokens[static_cast<size_t>(id)] = text;
      types[static_cast<size_t>(id)] = type;
    };
    for (const auto& [text, id] : vocab->items()) {
      if (!id.is_number_integer())
        throw Error(fmt::format("{}: vocab id of '{}' is not an integer", tok.string(), text));
      const bool byte = text.size() == 6 && text.rfind("<0x", 0) == 0 && text.back() == '>';
      place(id.get<int64_t>(), text, byte ? 6 : 1);
    }
    // llama.cpp renders these control-like tokens as text so chat parsers see them.
    const std::vector<std::string> visible = {"<|channel>",       "<channel|>",       "<|tool_call>", "<tool_call|>",
                                              "<|tool_response>", "<tool_response|>", "<|\"|>"};
    if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
      for (const auto& a : j["added_tokens"]) {
        if (!a.is_object() || !a.contains("id") || !a.contains("content") || !a["id"].is_number_integer() ||
            !a["content"].is_string() || (a.contains("special") && !a["special"].is_boolean())) {
          throw Error(fmt::format("{}: malformed added_tokens entry", tok.string()));
        }
        const std::string text = a["content"].get<std::string>();
        const bool special = a.value("special", false);
        const bool shown = std::find(visible.begin(), visible.end(), text) != visible.end();
        place(a["id"].get<int64_t>(), text, shown ? 4 : (special ? 3 : 4));
      }
    }
    std::vector<GgufValue> tv, sv, yv;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (types[i] == 0) throw Error(fmt::format("{}: token id {} is missing from the vocabulary", tok.string(), i));
      tv.push_back(GgufValue::string(tokens[i]));
      sv.push_back(GgufValue::f32(0.0f));  // BPE: merges decide, scores are unused
      yv.push_back(GgufValue::i32(types[i]));
    }
    w.add_metadata("tokenizer.ggml.model", GgufValue::string("gemma4"));
    w.add_metadata("tokenizer.ggml.tokens", GgufValue::array(GgufType::STRING, std::move(tv)));
    w.add_metadata("tokenizer.ggml.scores", GgufValue::array(GgufType::F32, std::move(sv)));
    w.add_metadata("tokenizer.ggml.token_type", GgufValue::array(GgufType::I32, std::move(yv)));
    std::vector<GgufValue> merges;
    if (j["model"].contains("merges") && j["model"]["merges"].is_array()) {
      for (const auto& m : j["model"]["merges"]) {
        if (m.is_string()) {
          merges.push_back(GgufValue::string(m.get<std::string>()));
        } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
          merges.push_back(GgufValue::string(m[0].get<std::string>() + " " + m[1].get<std::string>()));
        } else {
          throw Error(fmt::format("{}: malformed merge entry", tok.string()));
        }
      }
    }
    if (!merges.empty()) w.add_metadata("tokenizer.ggml.merges", GgufValue::array(GgufType::STRING, std::move(merges)));
  }

  std::string tmpl;
  if (fs::is_regular_file(folder / "chat_template.jinja")) {
    tmpl = read_text(folder / "chat_template.jinja");
  } else if (fs::is_regular_file(folder / "tokenizer_config.json")) {
    try {
      const json tc = json::parse(read_text(folder / "tokenizer_config.json"));
      if (tc.contains("chat_template") && tc["chat_template"].is_string()) tmpl = tc["chat_template"];
    } catch (const json::exception& e) {
      throw Error(fmt::format("{}: malformed JSON: {}", (folder / "tokenizer_config.json").string(), e.what()));
    }
  }
  if (!tmpl.empty()) w.add_metadata("tokenizer.chat_template", GgufValue::string(tmpl));
}

// Tells the kernel we are done with a tensor's pages of the (read-only,
// file-backed) input mapping, so resident memory stays near one tensor
// instead of growing to the whole model; the pages would be re-read from the
// file if touched again.
void release_pages(std::span<const std::byte> data) {
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = (reinterpret_cast<uintptr_t>(data.data()) + page - 1) / page * page;
  const auto end = (reinterpret_cast<uintptr_t>(data.data()) + data.size()) / page * page;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

struct Item {
  std::string gguf_name;
  TensorView source;
  DType out_type;
};

}  // namespace

ConvertScheme convert_scheme(const std::string& name) {
  // LLAMA_FTYPE_* numbers: ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q4_0 2, MOSTLY_Q8_0 7,
  // MOSTLY_Q4_K_M 15, MOSTLY_Q5_K_M 17, MOSTLY_Q6_K 18, MOSTLY_BF16 32.
  if (name == "f32") return {name, DType::F32, DType::F32, DType::F32, 0};
  if (name == "f16") return {name, DType::F16, DType::F16, DType::F16, 1};
  if (name == "bf16") return {name, DType::BF16, DType::BF16, DType::BF16, 32};
  if (name == "q8_0") return {name, DType::Q8_0, DType::Q8_0, DType::Q8_0, 7};
  if (name == "q4_0") return {name, DType::Q4_0, DType::Q4_0, DType::Q6_K, 2};
  if (name == "q4_k_m") return {name, DType::Q4_K, DType::Q6_K, DType::Q6_K, 15};
  if (name == "q5_k_m") return {name, DType::Q5_K, DType::Q6_K, DType::Q6_K, 17};
  if (name == "q6_k") return {name, DType::Q6_K, DType::Q6_K, DType::Q6_K, 18};
  throw Error(fmt::format("unknown output type '{}' (f32, f16, bf16, q8_0, q4_0, q4_k_m, q5_k_m, q6_k)", name));
}

DType target_type(const std::string& gguf_name, const std::vector<uint64_t>& shape, const ConvertScheme& scheme) {
  if (shape.size() < 2) return DType::F32;
  // The router picks experts from small logit differences: keep it exact.
  if (gguf_name.ends_with(".ffn_gate_inp.weight")) return DType::F32;
  DType t = scheme.matrices;
  if (gguf_name == "token_embd.weight") {
    t = scheme.embedding;
  } else if (gguf_name.ends_with(".attn_v.weight") || gguf_name.ends_with(".ffn_down.weight") ||
             gguf_name.ends_with(".ffn_down_exps.weight")) {
    t = scheme.more_bits;
  }
  const uint64_t row = shape.back();
  if (kernels::row_bytes(t, row)) return t;
  switch (t) {
    case DType::Q4_K:
      t = DType::Q5_0;
      break;
    case DType::Q5_K:
      t = DType::Q5_1;
      break;
    case DType::Q6_K:
      t = DType::Q8_0;
      break;
    default:
      break;
  }
  return kernels::row_bytes(t, row) ? t : DType::F16;
}

ConvertResult convert_to_gguf(const fs::path& input, const fs::path& output, const ConvertOptions& options) {
  std::error_code ec;
  if (fs::exists(output, ec) && fs::exists(input, ec) && fs::equivalent(input, output, ec)) {
    throw Error(fmt::format("{}: output would overwrite the input", output.string()));
  }
  const ModelFiles m = open_model_files(input);

  std::vector<Item> items;
  std::vector<float> rope_freqs;
  if (m.source == ModelSource::Gguf) {
    if (const GgufTensorInfo* rf = m.gguf->find_tensor("rope_freqs.weight")) {
      items.push_back({rf->name, m.gguf->tensor(rf->name), DType::F32});
    }
  } else {
    // llama.cpp encodes proportional RoPE of full layers as frequency factors:
    // 1 for the rotated pairs, 1e30 (no rotation) for the rest.
    const uint32_t pairs = m.config.head_dim_full / 2;
    const auto rotated = static_cast<uint32_t>(std::lround(m.config.rope_full.partial_rotary_factor * pairs));
    for (uint32_t i = 0; i < pairs; ++i) rope_freqs.push_back(i < rotated ? 1.0f : 1e30f);
    TensorView v;
    v.name = "rope_freqs.weight";
    v.type = DType::F32;
    v.shape = {pairs};
    v.data = std::as_bytes(std::span(rope_freqs));
    items.push_back({v.name, v, DType::F32});
  }
  for (const auto& spec : expected_tensors(m.config)) {
    const TensorView& t = m.text.at(spec.name);
    const std::string g = *hf_to_gguf_name(spec.name);
    const DType out = target_type(g, t.shape, options.scheme);
    if (out != t.type && !kernels::dtype_info(t.type).compute_supported) {
      throw Error(fmt::format("{}: tensor '{}' is {}, which this converter cannot read", input.string(), t.name,
                              kernels::dtype_name(t.type)));
    }
    items.push_back({g, t, out});
  }

  GgufWriter w(output);
  add_model_metadata(w, m.config, input.filename().string(), options.scheme);
  if (m.source == ModelSource::Gguf) {
    // Keep the tokenizer, chat template and descriptive keys of the source.
    for (const auto& [key, value] : m.gguf->metadata()) {
      if (key.rfind("tokenizer.", 0) == 0 ||
          (key.rfind("general.", 0) == 0 && key != "general.architecture" && key != "general.name" &&
           key != "general.file_type" && key != "general.alignment" && key != "general.quantization_version")) {
        w.add_metadata(key, value);
      }
    }
  } else {
    add_tokenizer_metadata(w, input, m.config);
  }
  for (const auto& it : items) w.add_tensor(it.gguf_name, it.out_type, it.source.shape);

  std::vector<float> f32;
  std::vector<std::byte> out;
  for (size_t i = 0; i < items.size(); ++i) {
    const Item& it = items[i];
    const TensorView& t = it.source;
    if (it.out_type == t.type) {
      // Straight from the mapping, no copy; in pieces so pages can be released as we go.
      constexpr size_t kCopyChunk = size_t{16} << 20;
      for (size_t at = 0; at < t.data.size(); at += kCopyChunk) {
        const auto piece = t.data.subspan(at, std::min(kCopyChunk, t.data.size() - at));
        w.write_tensor_chunk(it.gguf_name, piece);
        if (m.source == ModelSource::Gguf || it.gguf_name != "rope_freqs.weight") release_pages(piece);
      }
    } else {
      // Whole rows at a time: quantized blocks never cross a row.
      const uint64_t row = t.shape.back();
      const uint64_t rows = t.elements() / row;
      const size_t in_row = *kernels::row_bytes(t.type, row);
      const size_t out_row = *kernels::row_bytes(it.out_type, row);
      const uint64_t rows_per_chunk = std::max<uint64_t>(1, kChunkElements / row);
      f32.resize(row);
      for (uint64_t done = 0; done < rows;) {
        const uint64_t count = std::min(rows_per_chunk, rows - done);
        out.resize(count * out_row);
        for (uint64_t r = 0; r < count; ++r) {
          row_to_f32(t.type, t.data.data() + (done + r) * in_row, f32.data(), row);
          try {
            row_from_f32(it.out_type, f32.data(), out.data() + r * out_row, row, t.name);
          } catch (const Error& e) {
            throw Error(fmt::format("{}: {}", input.string(), e.what()));
          }
        }
        w.write_tensor_chunk(it.gguf_name, out);
        release_pages(t.data.subspan(done * in_row, count * in_row));
        done += count;
      }
    }
    if (options.progress) options.progress(i + 1, items.size(), it.gguf_name);
  }
  w.finish();
  ConvertResult r;
  r.tensors = items.size();
  r.bytes = fs::file_size(output);
  return r;
}

}  // namespace gemma4::formats
