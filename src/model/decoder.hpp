// The Gemma 4 text decoder: a loaded model (plan + weights) and the state of
// one conversation (KV caches and position). One Decoder can serve many
// Contexts; each Context belongs to one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cpu/attention.hpp"
#include "src/model/linear.hpp"
#include "src/model/plan.hpp"
#include "src/model/weights.hpp"

namespace gemma4::model {

// Which logits a forward call returns.
enum class Logits {
  none,  // only extend the KV caches (all but the last chunk of a prompt)
  last,  // the last token's row: what generation needs
  all,   // every token's row (perplexity, parity tests)
};

// An allocator whose value-less construct leaves the element uninitialized,
// so that vector::resize allocates without writing (and without touching
// the pages of a large buffer until it is used).
template <typename T>
struct UninitializedAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = UninitializedAllocator<U>;
  };
  UninitializedAllocator() = default;
  template <typename U>
  UninitializedAllocator(const UninitializedAllocator<U>&) noexcept {}
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

class Context;

class Decoder {
 public:
  Decoder(ModelPlan plan, Weights weights);

  const ModelPlan& plan() const { return plan_; }
  const Weights& weights() const { return weights_; }

  // Runs `tokens` at positions ctx.n_past() onward and appends them to the
  // context. Long inputs go through in chunks of ctx.max_chunk() tokens.
  // Returns the requested logits, [rows][vocab] row-major, after the final
  // softcap. Throws gemma4::Error when a token id is out of range or the
  // context is full (the message says how many tokens fit).
  std::vector<float> forward(Context& ctx, std::span<const int32_t> tokens, Logits which) const;

 private:
  friend class Context;  // sizes its buffers from rope_kinds_

  struct LayerConsts {  // small per-layer vectors, converted to F32 once at load
    std::vector<float> attn_norm, q_norm, k_norm, post_attn_norm, ffn_norm, post_ffn_norm;
    std::vector<float> post_ffn_norm_1, pre_ffn_norm_2, post_ffn_norm_2, router_scale, expert_scale;
    std::vector<float> ple_norm;
    float layer_scalar = 1.0f;
  };

  void forward_chunk(Context& ctx, const int32_t* tokens, size_t n, Logits which, float* logits) const;
  void attention_block(Context& ctx, size_t layer, size_t row0, size_t rows, size_t out0, int64_t pos0) const;
  void dense_mlp(Context& ctx, size_t layer, const float* x, size_t rows, const std::vector<float>& post_norm) const;
  void ffn_block(Context& ctx, size_t layer, size_t row0, size_t rows) const;
  void moe_block(Context& ctx, size_t layer, size_t row0, size_t rows) const;
  void ple_block(Context& ctx, size_t layer, size_t row0, size_t rows) const;
  static void run_attention(Context& ctx, const kernels::AttentionArgs& args);

  // The distinct rotations of the layers (E2B: one for its sliding layers,
  // one for its full ones): each chunk computes their angles once.
  struct RopeKind {
    size_t head_dim, pairs;
    float theta;
    bool operator==(const RopeKind&) const = default;
  };
  // Where kind k's angles start in Context::cos_ and sin_.
  size_t rope_offset(const Context& c, size_t k) const;

  ModelPlan plan_;
  Weights weights_;
  std::vector<LayerConsts> consts_;
  std::vector<RopeKind> rope_kinds_;
  std::vector<size_t> rope_kind_;  // per layer, an index into rope_kinds_
  std::vector<float> final_norm_, ple_proj_norm_;
};

// The state of one sequence: per-layer KV caches sized for the model (sliding
// layers keep a ring of exactly `window` positions, KV-shared layers own none,
// full layers hold n_ctx positions) and the scratch buffers of a forward pass.
class Context {
 public:
  // n_threads: CPU threads for this context's forward passes (0: every core).
  // kv_type: F32 or F16 cache elements. With F16 the new keys and values are
  // rounded to F16 before attention reads them, so a token sees the same
  // numbers whether its neighbours were in its chunk or came from the cache.
  Context(const Decoder& decoder, size_t n_ctx, size_t max_chunk = 64, size_t n_threads = 0,
          kernels::DType kv_type = kernels::DType::F32);

  size_t n_past() const { return n_past_; }
  size_t n_ctx() const { return n_ctx_; }
  size_t max_chunk() const { return max_chunk_; }
  // Forgets the sequence (the caches are simply overwritten later).
  void reset() { n_past_ = 0; }
  // Bytes held by the KV caches.
  size_t kv_bytes() const;
  // Work buffers allocated now (grows to its maximum over the first steps).
  size_t buffer_bytes() const;

  // The position and every cache's contents, as raw bytes (the file format
  // of gemma4::Context::save wraps them). read_state needs a context of the
  // same model and size; it throws gemma4::Error naming `label` otherwise.
  void write_state(std::ostream& out) const;
  void read_state(std::istream& in, const std::string& label);

 private:
  friend class Decoder;
  Exec exec() { return Exec{*pool_, scratch_}; }
  // Per-row work f(begin, end) on rows [0, rows): split across the threads
  // for a prompt chunk, inline for a few rows (waking the threads would cost
  // more than the work). Each row comes out the same whichever thread has it.
  template <typename F>
  void for_rows(size_t rows, F f) {
    constexpr size_t kMinRows = 16;
    if (rows < kMinRows || pool_->size() == 1) {
      if (rows > 0) f(size_t{0}, rows);
      return;
    }
    pool_->parallel_for(rows, std::move(f));
  }

  std::unique_ptr<runtime::ThreadPool> pool_;
  runtime::MatmulScratch scratch_;
  size_t n_ctx_ = 0;
  size_t max_chunk_ = 0;
  size_t n_past_ = 0;

  kernels::DType kv_type_;
  std::vector<std::vector<unsigned char>> k_store_, v_store_;  // per layer (empty on KV-shared layers)
  std::vector<kernels::KvCache> caches_;
  // Per layer whose cache others read: the current chunk's K/V, kept until
  // the shared layers have used them (see Decoder::forward_chunk).
  std::vector<std::vector<float, UninitializedAllocator<float>>> chunk_k_, chunk_v_;

  // Scratch, [max_chunk][...] row-major. Sized for a whole chunk but left
  // uninitialized (every pass writes what it reads): zero-filling touched
  // every page, ~110 MiB of resident memory for E2B at 512-token chunks that
  // a generation of one token at a time never uses.
  std::vector<float, UninitializedAllocator<float>> x_, xn_, tmp_, q_, k_, v_, attn_, gate_, up_;
  std::vector<float, UninitializedAllocator<float>> ple_, ple_tok_;
  std::vector<float, UninitializedAllocator<float>> moe_in_, moe_out_, moe_gather_, expert_buf_, expert_out_, router_;
  std::vector<float, UninitializedAllocator<float>> attn_split_;  // segment states of split attention
  // RoPE angles of the chunk's positions, [kind][max_chunk][pairs] (kinds:
  // Decoder::rope_kinds_).
  std::vector<float, UninitializedAllocator<float>> cos_, sin_;
  std::vector<std::byte> row_buf_;  // a per-layer embedding row read from the file
};

}  // namespace gemma4::model
