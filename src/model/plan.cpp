#include "src/model/plan.hpp"

#include <gemma4/error.hpp>

#include <cmath>

#include "kernels/cpu/fp16.hpp"

namespace gemma4::model {

namespace {

float round_to_bf16(float x) {
  return kernels::bf16_to_f32(kernels::f32_to_bf16(x));
}

// Rotated frequency pairs: all head_dim/2 for plain RoPE; for proportional
// RoPE int(factor * head_dim // 2), as the reference computes them.
size_t rope_pairs(double factor, size_t head_dim) {
  return static_cast<size_t>(std::floor(factor * static_cast<double>(head_dim) / 2.0));
}

}  // namespace

ModelPlan make_plan(const formats::ModelConfig& cfg) {
  ModelPlan p;
  p.vocab = cfg.vocab_size;
  p.hidden = cfg.hidden_size;
  p.n_heads = cfg.num_heads;
  p.eps = static_cast<float>(cfg.rms_norm_eps);
  p.embed_scale = cfg.embed_scale;
  p.final_softcap = static_cast<float>(cfg.final_logit_softcap);
  p.ple_dim = cfg.ple_dim;
  p.ple_vocab = cfg.ple_vocab;
  p.ple_embed_scale = round_to_bf16(std::sqrt(static_cast<float>(cfg.ple_dim)));
  p.n_experts = cfg.num_experts;
  p.n_experts_used = cfg.top_k_experts;
  p.expert_dim = cfg.expert_ffn;
  if (p.n_experts > 0 && (p.n_experts_used == 0 || p.n_experts_used > p.n_experts)) {
    throw Error("model config: top-k experts must be between 1 and the number of experts");
  }
  for (const formats::LayerConfig& lc : cfg.layers) {
    LayerPlan lp;
    const bool full = lc.attention == formats::AttentionKind::Full;
    const formats::RopeConfig& rope = full ? cfg.rope_full : cfg.rope_sliding;
    lp.kind = full ? AttentionKind::full : AttentionKind::sliding;
    lp.head_dim = lc.head_dim;
    lp.n_kv_heads = lc.kv_heads;
    lp.has_v_proj = lc.has_v_proj;
    lp.kv_source = lc.kv_shared ? static_cast<int>(lc.kv_source) : -1;
    lp.ffn_dim = lc.ffn_dim;
    lp.rope_theta = static_cast<float>(rope.theta);
    lp.rope_pairs = rope_pairs(rope.partial_rotary_factor, lc.head_dim);
    lp.window = full ? 0 : cfg.sliding_window;
    if (lp.head_dim == 0 || lp.head_dim % 2 != 0 || lp.rope_pairs > lp.head_dim / 2 || lp.n_kv_heads == 0 ||
        p.n_heads % lp.n_kv_heads != 0) {
      throw Error("model config: inconsistent attention geometry (head dim, KV heads or RoPE fraction)");
    }
    p.layers.push_back(lp);
  }
  for (const LayerPlan& lp : p.layers) {
    if (lp.kv_source >= 0) {
      if (static_cast<size_t>(lp.kv_source) >= p.layers.size() || p.layers[lp.kv_source].kv_source >= 0) {
        throw Error("model config: a KV-shared layer reads a layer that owns no cache");
      }
      p.layers[lp.kv_source].kv_is_shared = true;
    }
  }
  return p;
}

}  // namespace gemma4::model
