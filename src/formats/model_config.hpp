// One description of a Gemma 4 text decoder, whatever file it came from: a
// Hugging Face config.json or a llama.cpp GGUF's metadata. Everything the
// model layer needs per layer (attention type, head dim, KV heads, which
// layer's KV cache it reads, MLP width, MoE) is spelled out here, so the graph
// never asks "is this E2B?". Facts: shared/reference/gemma4-text.md section 1.
#pragma once

#include "src/formats/gguf.hpp"
#include "src/formats/tensor_view.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gemma4::formats {

enum class AttentionKind : uint8_t { Sliding, Full };
std::string_view attention_kind_name(AttentionKind k);  // "sliding" / "full"

struct LayerConfig {
  AttentionKind attention = AttentionKind::Sliding;
  uint32_t head_dim = 0;
  uint32_t kv_heads = 0;
  bool has_v_proj = true;  // false on K=V full layers: V is derived from k_proj's output
  bool kv_shared = false;  // reads another layer's cache and owns none
  uint32_t kv_source = 0;  // the layer whose K/V it attends over (itself unless kv_shared)
  uint32_t ffn_dim = 0;    // dense MLP width
  bool moe = false;        // routed experts beside the dense MLP
};

struct RopeConfig {
  double theta = 10000.0;
  // Fraction of each head's dimension pairs that rotate (proportional RoPE on
  // full layers rotates 0.25 of them; the rest pass through).
  double partial_rotary_factor = 1.0;
};

struct SpecialTokens {
  int32_t pad = 0;
  int32_t bos = 2;
  int32_t eos = 1;
  std::vector<int32_t> stop;  // generation stops on any of these
  int32_t image = -1;         // multimodal placeholder ids, -1 when unknown
  int32_t audio = -1;
};

struct ModelConfig {
  std::string variant;  // "E2B", "E4B", "26B-A4B", "31B", or "custom"
  uint32_t hidden_size = 0;
  uint32_t num_layers = 0;
  uint32_t num_heads = 0;
  uint32_t vocab_size = 0;
  uint32_t max_position = 0;
  uint32_t sliding_window = 0;
  uint32_t head_dim_sliding = 0;
  uint32_t head_dim_full = 0;
  uint32_t kv_heads_sliding = 0;
  uint32_t kv_heads_full = 0;
  bool k_eq_v_full = false;  // full layers have no v_proj
  uint32_t intermediate_size = 0;
  bool double_wide_mlp = false;  // KV-shared layers have a 2x wider MLP (E2B)
  uint32_t num_kv_shared_layers = 0;
  uint32_t ple_dim = 0;  // per-layer embedding width (0: no PLE)
  uint32_t ple_vocab = 0;
  uint32_t num_experts = 0;  // 0: dense
  uint32_t top_k_experts = 0;
  uint32_t expert_ffn = 0;
  RopeConfig rope_sliding;
  RopeConfig rope_full;
  double final_logit_softcap = 0.0;  // 0: none
  double rms_norm_eps = 1e-6;
  float embed_scale = 1.0f;  // sqrt(hidden) rounded to bf16, as the reference multiplies
  SpecialTokens tokens;
  std::vector<LayerConfig> layers;

  bool has_ple() const { return ple_dim > 0; }
  bool is_moe() const { return num_experts > 0; }
  uint32_t first_kv_shared_layer() const { return num_layers - num_kv_shared_layers; }
};

// Parses a Hugging Face config.json (Gemma4ForConditionalGeneration with a
// text_config, or a text-only gemma4_text config). `label` names the file.
ModelConfig config_from_hf_json(std::string_view json_text, const std::string& label);
ModelConfig config_from_hf_file(const std::filesystem::path& config_json);
// Reads the gemma4.* metadata keys llama.cpp writes, plus what only the tensor
// table tells (vocabulary size, K=V layers, the rotated fraction in rope_freqs).
ModelConfig config_from_gguf(const GgufFile& file);

// ---- tensors

// A text-decoder tensor the config calls for, by its Hugging Face name without
// the "model.language_model." / "model." prefix.
struct TensorSpec {
  std::string name;
  std::vector<uint64_t> shape;  // outermost first
};
std::vector<TensorSpec> expected_tensors(const ModelConfig& config);

// HF name (prefix removed) <-> llama.cpp GGUF name, as llama.cpp's converter
// maps them; nullopt for names outside the Gemma 4 text decoder.
std::optional<std::string> hf_to_gguf_name(std::string_view hf);
std::optional<std::string> gguf_to_hf_name(std::string_view gguf);

// Checks that the text tensors of a checkpoint are exactly those the config
// needs, with the right shapes, and returns them by HF name (prefix removed).
// Multimodal tower tensors are skipped; the unused k/v weights of KV-shared
// layers are ignored. Throws an Error naming `label` and the tensor.
enum class NameScheme { HuggingFace, Gguf };
std::map<std::string, TensorView> bind_text_tensors(const ModelConfig& config, const std::vector<TensorView>& tensors,
                                                    NameScheme scheme, const std::string& label);

}  // namespace gemma4::formats
