// What the forward pass needs to know about a model, layer by layer: derived
// once from the file's ModelConfig, then read by the graph. Nothing here
// depends on a model's name: E2B, E4B, 26B-A4B and 31B differ only in these
// numbers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "src/formats/model_config.hpp"

namespace gemma4::model {

enum class AttentionKind { sliding, full };

struct LayerPlan {
  AttentionKind kind = AttentionKind::sliding;
  size_t head_dim = 0;  // 256 sliding / 512 full in the released models
  size_t n_kv_heads = 0;
  bool has_v_proj = true;     // false on K=V full layers: V is the raw K projection
  int kv_source = -1;         // -1: owns its KV cache; else the layer whose cache it reads
  bool kv_is_shared = false;  // another layer reads this layer's cache
  size_t ffn_dim = 0;         // dense GeGLU width (double on E2B's KV-shared layers)
  float rope_theta = 10000.0f;
  size_t rope_pairs = 0;  // rotated frequency pairs (head_dim/2, or fewer when proportional)
  size_t window = 0;      // 0 for full attention
};

struct ModelPlan {
  size_t vocab = 0;
  size_t hidden = 0;
  size_t n_heads = 0;
  float eps = 1e-6f;
  float embed_scale = 1.0f;    // sqrt(hidden) rounded to bf16, as the reference computes it
  float final_softcap = 0.0f;  // 0: none
  // Per-Layer Embeddings (0: none).
  size_t ple_dim = 0;
  size_t ple_vocab = 0;
  float ple_embed_scale = 1.0f;  // sqrt(ple_dim) rounded to bf16
  // Mixture of experts (0: dense).
  size_t n_experts = 0;
  size_t n_experts_used = 0;
  size_t expert_dim = 0;
  std::vector<LayerPlan> layers;

  // First layer that reads another layer's KV cache (layers.size() if none):
  // every layer from here on is KV-shared.
  size_t first_kv_shared() const {
    for (size_t i = 0; i < layers.size(); ++i) {
      if (layers[i].kv_source >= 0) return i;
    }
    return layers.size();
  }
  size_t max_head_dim() const {
    size_t d = 0;
    for (const auto& l : layers) d = l.head_dim > d ? l.head_dim : d;
    return d;
  }
  size_t max_ffn_dim() const {
    size_t d = 0;
    for (const auto& l : layers) d = l.ffn_dim > d ? l.ffn_dim : d;
    return d;
  }
};

// The plan for a model described by `config`. Throws gemma4::Error on an
// inconsistent config.
ModelPlan make_plan(const formats::ModelConfig& config);

}  // namespace gemma4::model
