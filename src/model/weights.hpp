// The decoder's weights, bound by name to tensors of a loaded file (views into
// its memory mapping: nothing is copied) and checked against the plan's shapes
// before any compute.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "src/formats/tensor_view.hpp"
#include "src/model/plan.hpp"

namespace gemma4::model {

using formats::TensorView;

// Finds a tensor by its Hugging Face name without the checkpoint's prefix
// ("embed_tokens.weight", "layers.3.self_attn.q_proj.weight"); null if absent.
// Each file format supplies one (safetensors: prefix; GGUF: name mapping).
using TensorLookup = std::function<const TensorView*(std::string_view hf_name)>;

struct LayerWeights {
  const TensorView* attn_norm = nullptr;       // input_layernorm
  const TensorView* q = nullptr;               // [n_heads*d, H]
  const TensorView* k = nullptr;               // [n_kv*d, H]   (null on KV-shared layers)
  const TensorView* v = nullptr;               // [n_kv*d, H]   (null on K=V and KV-shared layers)
  const TensorView* o = nullptr;               // [H, n_heads*d]
  const TensorView* q_norm = nullptr;          // [d]
  const TensorView* k_norm = nullptr;          // [d]           (null on KV-shared layers)
  const TensorView* post_attn_norm = nullptr;  // post_attention_layernorm
  const TensorView* ffn_norm = nullptr;        // pre_feedforward_layernorm
  const TensorView* gate = nullptr;            // [ffn, H]
  const TensorView* up = nullptr;              // [ffn, H]
  const TensorView* down = nullptr;            // [H, ffn]
  const TensorView* post_ffn_norm = nullptr;   // post_feedforward_layernorm
  // Mixture of experts.
  const TensorView* post_ffn_norm_1 = nullptr;  // dense branch output norm
  const TensorView* pre_ffn_norm_2 = nullptr;   // experts' input norm
  const TensorView* post_ffn_norm_2 = nullptr;  // experts' output norm
  const TensorView* router = nullptr;           // [n_experts, H]
  const TensorView* router_scale = nullptr;     // [H]
  const TensorView* expert_scale = nullptr;     // [n_experts]
  std::vector<TensorView> expert_gate_up;       // per expert [2*expert_dim, H] (gate rows first)
  std::vector<TensorView> expert_down;          // per expert [H, expert_dim]
  // Per-Layer Embeddings.
  const TensorView* ple_gate = nullptr;      // per_layer_input_gate [P, H]
  const TensorView* ple_proj = nullptr;      // per_layer_projection [H, P]
  const TensorView* ple_norm = nullptr;      // post_per_layer_input_norm [H]
  const TensorView* layer_scalar = nullptr;  // [1]
};

struct Weights {
  const TensorView* embed = nullptr;           // [vocab, H], also the output head (tied)
  const TensorView* final_norm = nullptr;      // [H]
  const TensorView* ple_embed = nullptr;       // embed_tokens_per_layer [ple_vocab, L*P]
  const TensorView* ple_model_proj = nullptr;  // per_layer_model_projection [L*P, H]
  const TensorView* ple_proj_norm = nullptr;   // per_layer_projection_norm [P]
  std::vector<LayerWeights> layers;
};

// Binds and validates every weight the plan needs. Throws gemma4::Error naming
// the tensor when one is missing or has the wrong shape. Tensors the plan does
// not use (e.g. the k/v projections some files keep on KV-shared layers) are
// ignored.
Weights bind_weights(const ModelPlan& plan, const TensorLookup& lookup);

// Reads a small F32/F16/BF16 tensor (norm weights, scalars) as floats.
std::vector<float> read_floats(const TensorView& t);

}  // namespace gemma4::model
