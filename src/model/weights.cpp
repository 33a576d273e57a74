#include "src/model/weights.hpp"

#include <gemma4/error.hpp>

#include <fmt/format.h>

#include "kernels/cpu/dtype.hpp"
#include "kernels/cpu/quant.hpp"

namespace gemma4::model {
namespace {

class Binder {
 public:
  explicit Binder(const TensorLookup& lookup) : lookup_(lookup) {}

  // The tensor `name`, which must have exactly `shape`.
  const TensorView* need(const std::string& name, std::vector<uint64_t> shape) {
    const TensorView* t = lookup_(name);
    if (t == nullptr)
      throw Error(fmt::format("model file has no tensor '{}' (expected shape {})", name, formats::shape_string(shape)));
    check_shape(*t, name, shape);
    return t;
  }

 private:
  static void check_shape(const TensorView& t, const std::string& name, const std::vector<uint64_t>& shape) {
    // A [1] scalar may be stored as a 0-d tensor.
    const bool scalar_ok = shape == std::vector<uint64_t>{1} && t.elements() == 1;
    if (t.shape != shape && !scalar_ok) {
      throw Error(fmt::format("tensor '{}' has shape {}, but the model config needs {}", name,
                              formats::shape_string(t.shape), formats::shape_string(shape)));
    }
  }
  const TensorLookup& lookup_;
};

// Views of expert e's slice of a 3-D [n_experts, rows, cols] tensor.
std::vector<TensorView> split_experts(const TensorView& t, size_t n_experts, uint64_t rows, uint64_t cols) {
  const auto row = kernels::row_bytes(t.type, cols);
  if (!row) {
    throw Error(fmt::format("tensor '{}': rows of {} elements do not fit type {}'s blocks", t.name, cols,
                            kernels::dtype_name(t.type)));
  }
  const size_t bytes = *row * rows;
  if (t.data.size() != bytes * n_experts) {
    throw Error(fmt::format("tensor '{}' holds {} bytes, expected {}", t.name, t.data.size(), bytes * n_experts));
  }
  std::vector<TensorView> out;
  for (size_t e = 0; e < n_experts; ++e) {
    out.push_back(TensorView{fmt::format("{}[{}]", t.name, e), t.type, {rows, cols}, t.data.subspan(e * bytes, bytes)});
  }
  return out;
}

}  // namespace

Weights bind_weights(const ModelPlan& plan, const TensorLookup& lookup) {
  Binder b(lookup);
  const uint64_t H = plan.hidden, V = plan.vocab, L = plan.layers.size();
  Weights w;
  w.embed = b.need("embed_tokens.weight", {V, H});
  w.final_norm = b.need("norm.weight", {H});
  if (plan.ple_dim > 0) {
    const uint64_t P = plan.ple_dim;
    w.ple_embed = b.need("embed_tokens_per_layer.weight", {plan.ple_vocab, L * P});
    w.ple_model_proj = b.need("per_layer_model_projection.weight", {L * P, H});
    w.ple_proj_norm = b.need("per_layer_projection_norm.weight", {P});
  }
  for (size_t i = 0; i < L; ++i) {
    const LayerPlan& lp = plan.layers[i];
    const std::string p = fmt::format("layers.{}.", i);
    const uint64_t d = lp.head_dim, nq = plan.n_heads * d, nkv = lp.n_kv_heads * d;
    LayerWeights lw;
    lw.attn_norm = b.need(p + "input_layernorm.weight", {H});
    lw.q = b.need(p + "self_attn.q_proj.weight", {nq, H});
    lw.q_norm = b.need(p + "self_attn.q_norm.weight", {d});
    lw.o = b.need(p + "self_attn.o_proj.weight", {H, nq});
    if (lp.kv_source < 0) {
      lw.k = b.need(p + "self_attn.k_proj.weight", {nkv, H});
      lw.k_norm = b.need(p + "self_attn.k_norm.weight", {d});
      if (lp.has_v_proj) lw.v = b.need(p + "self_attn.v_proj.weight", {nkv, H});
    }
    lw.post_attn_norm = b.need(p + "post_attention_layernorm.weight", {H});
    lw.ffn_norm = b.need(p + "pre_feedforward_layernorm.weight", {H});
    lw.gate = b.need(p + "mlp.gate_proj.weight", {lp.ffn_dim, H});
    lw.up = b.need(p + "mlp.up_proj.weight", {lp.ffn_dim, H});
    lw.down = b.need(p + "mlp.down_proj.weight", {H, lp.ffn_dim});
    lw.post_ffn_norm = b.need(p + "post_feedforward_layernorm.weight", {H});
    if (plan.n_experts > 0) {
      const uint64_t E = plan.n_experts, I = plan.expert_dim;
      lw.post_ffn_norm_1 = b.need(p + "post_feedforward_layernorm_1.weight", {H});
      lw.pre_ffn_norm_2 = b.need(p + "pre_feedforward_layernorm_2.weight", {H});
      lw.post_ffn_norm_2 = b.need(p + "post_feedforward_layernorm_2.weight", {H});
      lw.router = b.need(p + "router.proj.weight", {E, H});
      lw.router_scale = b.need(p + "router.scale", {H});
      lw.expert_scale = b.need(p + "router.per_expert_scale", {E});
      lw.expert_gate_up = split_experts(*b.need(p + "experts.gate_up_proj", {E, 2 * I, H}), E, 2 * I, H);
      lw.expert_down = split_experts(*b.need(p + "experts.down_proj", {E, H, I}), E, H, I);
    }
    if (plan.ple_dim > 0) {
      const uint64_t P = plan.ple_dim;
      lw.ple_gate = b.need(p + "per_layer_input_gate.weight", {P, H});
      lw.ple_proj = b.need(p + "per_layer_projection.weight", {H, P});
      lw.ple_norm = b.need(p + "post_per_layer_input_norm.weight", {H});
    }
    lw.layer_scalar = b.need(p + "layer_scalar", {1});
    w.layers.push_back(std::move(lw));
  }
  return w;
}

std::vector<float> read_floats(const TensorView& t) {
  const uint64_t n = t.elements();
  std::vector<float> out(n);
  kernels::dequantize_row(t.type, t.data.data(), out.data(), n);
  return out;
}

}  // namespace gemma4::model
