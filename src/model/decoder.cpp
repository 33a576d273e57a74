// The Gemma 4 forward pass, written to be read next to the reference
// (transformers models/gemma4/modeling_gemma4.py, Gemma4TextModel):
//
//   x = embed(tokens) * embed_scale
//   pli = per-layer inputs (PLE models)
//   for each layer:
//     x = x + post_attn_norm(attention(attn_norm(x)))
//     x = x + post_ffn_norm(ffn(ffn_norm(x)))          (MoE: dense + experts)
//     x = x + ple_norm(ple_proj(gelu(ple_gate(x)) * pli[layer]))   (PLE models)
//     x = x * layer_scalar
//   logits = softcap(final_norm(x) · embedᵀ)
//
// The residual stream stays in F32 throughout.
#include "src/model/decoder.hpp"

#include <gemma4/error.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <istream>
#include <ostream>

#include "kernels/cpu/fp16.hpp"
#include "kernels/cpu/ops.hpp"
#include "src/model/linear.hpp"

namespace gemma4::model {

namespace {

std::vector<float> floats_or_empty(const TensorView* t) {
  return t ? read_floats(*t) : std::vector<float>{};
}

}  // namespace

Decoder::Decoder(ModelPlan plan, Weights weights) : plan_(std::move(plan)), weights_(std::move(weights)) {
  final_norm_ = read_floats(*weights_.final_norm);
  ple_proj_norm_ = floats_or_empty(weights_.ple_proj_norm);
  for (const LayerWeights& lw : weights_.layers) {
    LayerConsts c;
    c.attn_norm = read_floats(*lw.attn_norm);
    c.q_norm = read_floats(*lw.q_norm);
    c.k_norm = floats_or_empty(lw.k_norm);
    c.post_attn_norm = read_floats(*lw.post_attn_norm);
    c.ffn_norm = read_floats(*lw.ffn_norm);
    c.post_ffn_norm = read_floats(*lw.post_ffn_norm);
    c.post_ffn_norm_1 = floats_or_empty(lw.post_ffn_norm_1);
    c.pre_ffn_norm_2 = floats_or_empty(lw.pre_ffn_norm_2);
    c.post_ffn_norm_2 = floats_or_empty(lw.post_ffn_norm_2);
    c.router_scale = floats_or_empty(lw.router_scale);
    c.expert_scale = floats_or_empty(lw.expert_scale);
    c.ple_norm = floats_or_empty(lw.ple_norm);
    c.layer_scalar = read_floats(*lw.layer_scalar).at(0);
    consts_.push_back(std::move(c));
  }
  for (const LayerPlan& lp : plan_.layers) {
    const RopeKind kind{lp.head_dim, lp.rope_pairs, lp.rope_theta};
    auto it = std::find(rope_kinds_.begin(), rope_kinds_.end(), kind);
    if (it == rope_kinds_.end()) it = rope_kinds_.insert(it, kind);
    rope_kind_.push_back(static_cast<size_t>(it - rope_kinds_.begin()));
  }
}

size_t Decoder::rope_offset(const Context& c, size_t k) const {
  return k * c.max_chunk_ * (plan_.max_head_dim() / 2);
}

Context::Context(const Decoder& decoder, size_t n_ctx, size_t max_chunk, size_t n_threads, kernels::DType kv_type)
    : pool_(std::make_unique<runtime::ThreadPool>(n_threads)), n_ctx_(n_ctx), max_chunk_(max_chunk), kv_type_(kv_type) {
  const ModelPlan& p = decoder.plan();
  if (n_ctx == 0 || max_chunk == 0) throw Error("context size and chunk size must be at least 1");
  if (kv_type != kernels::DType::F32 && kv_type != kernels::DType::F16) {
    throw Error("the KV cache holds f32 or f16 elements");
  }
  const size_t elem = kv_type == kernels::DType::F16 ? 2 : 4;
  const size_t L = p.layers.size(), T = max_chunk, H = p.hidden;
  k_store_.resize(L);
  v_store_.resize(L);
  caches_.resize(L);
  chunk_k_.resize(L);
  chunk_v_.resize(L);
  size_t max_q = 0, max_kv = 0;
  for (size_t i = 0; i < L; ++i) {
    const LayerPlan& lp = p.layers[i];
    max_q = std::max(max_q, p.n_heads * lp.head_dim);
    max_kv = std::max(max_kv, lp.n_kv_heads * lp.head_dim);
    if (lp.kv_source >= 0) continue;  // reads another layer's cache
    kernels::KvCache& c = caches_[i];
    c.dtype = kv_type;
    c.n_kv_heads = lp.n_kv_heads;
    c.head_dim = lp.head_dim;
    // A sliding layer needs only its window: a ring of exactly `window` slots.
    c.ring = lp.window > 0 && lp.window < n_ctx;
    c.slots = c.ring ? lp.window : n_ctx;
    k_store_[i].assign(c.slots * lp.n_kv_heads * lp.head_dim * elem, 0);
    v_store_[i].assign(c.slots * lp.n_kv_heads * lp.head_dim * elem, 0);
    c.k = k_store_[i].data();
    c.v = v_store_[i].data();
    if (lp.kv_is_shared) {
      chunk_k_[i].resize(T * lp.n_kv_heads * lp.head_dim);
      chunk_v_[i].resize(T * lp.n_kv_heads * lp.head_dim);
    }
  }
  const size_t ffn = std::max(p.max_ffn_dim(), 2 * p.expert_dim);
  x_.resize(T * H);
  xn_.resize(T * H);
  tmp_.resize(T * H);
  q_.resize(T * max_q);
  k_.resize(T * max_kv);
  v_.resize(T * max_kv);
  attn_.resize(T * max_q);
  gate_.resize(T * ffn);
  up_.resize(T * ffn);
  if (p.ple_dim > 0) {
    ple_.resize(T * L * p.ple_dim);
    ple_tok_.resize(T * L * p.ple_dim);
  }
  if (p.n_experts > 0) {
    moe_in_.resize(T * H);
    moe_out_.resize(T * H);
    // Decode: the k chosen experts side by side; prefill: one expert's tokens.
    const size_t slots = std::max(p.n_experts_used, T);
    expert_buf_.resize(slots * 2 * p.expert_dim);
    expert_out_.resize(slots * H);
    moe_gather_.resize(T * H);
    router_.assign(T * p.n_experts, 0.0f);
  }
  // Split attention of one token: segments of its positions x query heads.
  const size_t segments = n_ctx / static_cast<size_t>(kernels::kAttentionSegment) + 2;
  attn_split_.assign(segments * p.n_heads * (p.max_head_dim() + 2), 0.0f);
  cos_.assign(decoder.rope_kinds_.size() * T * p.max_head_dim() / 2, 0.0f);
  sin_.assign(decoder.rope_kinds_.size() * T * p.max_head_dim() / 2, 0.0f);
}

size_t Context::kv_bytes() const {
  size_t n = 0;
  for (size_t i = 0; i < k_store_.size(); ++i) n += k_store_[i].size() + v_store_[i].size();
  return n;
}

size_t Context::buffer_bytes() const {
  size_t floats = 0;
  for (const auto* v : {&x_,          &xn_,         &tmp_,    &q_,          &k_,      &v_,       &attn_,
                        &gate_,       &up_,         &ple_,    &ple_tok_,    &moe_in_, &moe_out_, &moe_gather_,
                        &expert_buf_, &expert_out_, &router_, &attn_split_, &cos_,    &sin_}) {
    floats += v->size();
  }
  for (size_t i = 0; i < chunk_k_.size(); ++i) floats += chunk_k_[i].size() + chunk_v_[i].size();
  return floats * sizeof(float) + scratch_.bytes.size() + row_buf_.size();
}

void Context::write_state(std::ostream& out) const {
  // The element size is part of each layer's byte count, so an F16 state
  // does not load into an F32 context (or the other way round).
  const uint64_t header[3] = {n_ctx_, n_past_, k_store_.size()};
  out.write(reinterpret_cast<const char*>(header), sizeof header);
  for (size_t i = 0; i < k_store_.size(); ++i) {
    const uint64_t n = k_store_[i].size();
    out.write(reinterpret_cast<const char*>(&n), sizeof n);
    out.write(reinterpret_cast<const char*>(k_store_[i].data()), static_cast<std::streamsize>(n));
    out.write(reinterpret_cast<const char*>(v_store_[i].data()), static_cast<std::streamsize>(n));
  }
}

void Context::read_state(std::istream& in, const std::string& label) {
  uint64_t header[3] = {};
  in.read(reinterpret_cast<char*>(header), sizeof header);
  if (!in) throw Error(fmt::format("{}: truncated context state", label));
  if (header[0] != n_ctx_ || header[2] != k_store_.size() || header[1] > n_ctx_) {
    throw Error(fmt::format("{}: saved for a context of {} tokens and {} layers, this one has {} tokens and {} layers",
                            label, header[0], header[2], n_ctx_, k_store_.size()));
  }
  for (size_t i = 0; i < k_store_.size(); ++i) {
    uint64_t n = 0;
    in.read(reinterpret_cast<char*>(&n), sizeof n);
    if (!in || n != k_store_[i].size())
      throw Error(fmt::format("{}: layer {} cache does not match this model", label, i));
    in.read(reinterpret_cast<char*>(k_store_[i].data()), static_cast<std::streamsize>(n));
    in.read(reinterpret_cast<char*>(v_store_[i].data()), static_cast<std::streamsize>(n));
    if (!in) throw Error(fmt::format("{}: truncated context state", label));
  }
  n_past_ = header[1];
}

std::vector<float> Decoder::forward(Context& ctx, std::span<const int32_t> tokens, Logits which) const {
  if (tokens.empty()) throw Error("forward: no tokens given");
  if (ctx.n_past_ + tokens.size() > ctx.n_ctx_) {
    throw Error(fmt::format("the context holds {} tokens and {} are used: {} more do not fit (raise the context size)",
                            ctx.n_ctx_, ctx.n_past_, tokens.size()));
  }
  for (int32_t t : tokens) {
    if (t < 0 || static_cast<size_t>(t) >= plan_.vocab) {
      throw Error(fmt::format("token id {} is outside the vocabulary (0..{})", t, plan_.vocab - 1));
    }
  }
  const size_t V = plan_.vocab;
  std::vector<float> logits;
  if (which == Logits::all) logits.resize(tokens.size() * V);
  if (which == Logits::last) logits.resize(V);
  for (size_t done = 0; done < tokens.size();) {
    const size_t n = std::min(ctx.max_chunk_, tokens.size() - done);
    const bool final_chunk = done + n == tokens.size();
    Logits chunk_which = which == Logits::all ? Logits::all : (final_chunk ? which : Logits::none);
    float* out = which == Logits::all ? logits.data() + done * V : logits.data();
    forward_chunk(ctx, tokens.data() + done, n, chunk_which, out);
    done += n;
  }
  return logits;
}

void Decoder::forward_chunk(Context& c, const int32_t* tokens, size_t n, Logits which, float* logits) const {
  const ModelPlan& p = plan_;
  const size_t H = p.hidden, L = p.layers.size();
  const int64_t pos0 = static_cast<int64_t>(c.n_past_);

  // Token embeddings, scaled by sqrt(H) (rounded to bf16 like the reference).
  for (size_t t = 0; t < n; ++t) {
    table_row(*weights_.embed, static_cast<size_t>(tokens[t]), &c.x_[t * H]);
  }
  c.for_rows(n,
             [&](size_t lo, size_t hi) { kernels::scale(&c.x_[lo * H], p.embed_scale, &c.x_[lo * H], (hi - lo) * H); });

  // RoPE angles of the chunk's positions, once per kind of rotation.
  for (size_t k = 0; k < rope_kinds_.size(); ++k) {
    const RopeKind& rk = rope_kinds_[k];
    float* cos = &c.cos_[rope_offset(c, k)];
    float* sin = &c.sin_[rope_offset(c, k)];
    c.for_rows(n, [&](size_t lo, size_t hi) {
      for (size_t t = lo; t < hi; ++t) {
        kernels::rope_angles(pos0 + static_cast<int64_t>(t), rk.head_dim, rk.pairs, rk.theta, &cos[t * rk.pairs],
                             &sin[t * rk.pairs]);
      }
    });
  }

  // Layers that read another layer's KV cache write none, so for all but the
  // last token their output is never used: when only the last token's logits
  // are wanted they run for that token alone, and not at all when no logits
  // are wanted. The layers whose caches they read keep this chunk's K/V
  // (chunk_k_/chunk_v_) until then; see attention_block. The layer before
  // them (`tail`; the last layer where there are none; L: no such layer,
  // when every row's logits are wanted) feeds its output only to them: it
  // runs for the same rows, apart from its keys and values, which all rows
  // get and store at once (a source layer stores them again with its chunk).
  const size_t first_shared = p.first_kv_shared();
  const size_t tail = which == Logits::all || first_shared == 0 ? L : first_shared - 1;
  const size_t past_tail = which == Logits::last ? n - 1 : n;  // the first row that goes on past it

  // Per-Layer Embeddings: a token-identity part and a context part projected
  // from the embedding, combined once per token and read by every layer;
  // rows that go no further than `tail` get the parts of the layers before it.
  if (p.ple_dim > 0) {
    const size_t P = p.ple_dim, LP = L * P;
    for (size_t t = 0; t < n; ++t) {
      table_row_read(*weights_.ple_embed, static_cast<size_t>(tokens[t]), &c.ple_tok_[t * LP], c.row_buf_);
    }
    kernels::scale(c.ple_tok_.data(), p.ple_embed_scale, c.ple_tok_.data(), n * LP);
    auto project = [&](size_t row0, size_t rows, size_t layers) {
      const size_t width = layers * P;
      linear_rows(c.exec(), *weights_.ple_model_proj, width, &c.x_[row0 * H], rows, &c.ple_[row0 * LP], LP);
      c.for_rows(rows, [&](size_t lo, size_t hi) {
        for (size_t t = row0 + lo; t < row0 + hi; ++t) {
          float* e = &c.ple_[t * LP];
          kernels::scale(e, 1.0f / std::sqrt(static_cast<float>(H)), e, width);
          kernels::rms_norm(e, ple_proj_norm_.data(), e, layers, P, p.eps);
          kernels::add(e, &c.ple_tok_[t * LP], e, width);
          kernels::scale(e, 1.0f / std::sqrt(2.0f), e, width);
        }
      });
    };
    if (tail == L) {
      project(0, n, L);
    } else {
      if (past_tail > 0 && tail > 0) project(0, past_tail, tail);
      if (past_tail < n) project(past_tail, n - past_tail, L);
    }
  }

  auto store_sources = [&] {
    for (size_t i = 0; i < first_shared; ++i) {
      if (p.layers[i].kv_is_shared)
        kernels::kv_store(c.caches_[i], pos0, n, c.chunk_k_[i].data(), c.chunk_v_[i].data());
    }
  };
  size_t row0 = 0, rows = n;
  bool sources_stored = false;
  for (size_t l = 0; l < L; ++l) {
    if (l == first_shared) {
      if (which == Logits::none) break;
      if (which == Logits::last && n > 1) {
        // Only the last row goes on: the shared layers then read every key
        // from the (now complete) caches.
        store_sources();
        sources_stored = true;
        row0 = n - 1;
        rows = 1;
      }
    }
    // The other rows need just the tail layer's keys and values (it comes
    // before the shared layers, so it has a cache of its own). On E2B that is
    // one of the 15 layers a prompt runs for every token.
    size_t out0 = row0;
    if (l == tail) out0 = past_tail;
    attention_block(c, l, row0, rows, out0, pos0);
    const size_t out_rows = row0 + rows - out0;
    if (out_rows == 0) continue;
    if (p.n_experts > 0) {
      moe_block(c, l, out0, out_rows);
    } else {
      ffn_block(c, l, out0, out_rows);
    }
    if (p.ple_dim > 0) ple_block(c, l, out0, out_rows);
    float* out = &c.x_[out0 * H];
    c.for_rows(out_rows, [&](size_t lo, size_t hi) {
      kernels::scale(&out[lo * H], consts_[l].layer_scalar, &out[lo * H], (hi - lo) * H);
    });
  }
  if (!sources_stored) store_sources();
  c.n_past_ += n;

  if (which == Logits::none) return;
  // Final norm, tied output head, softcap.
  const size_t out_row0 = which == Logits::all ? 0 : n - 1;
  const size_t out_rows = which == Logits::all ? n : 1;
  kernels::rms_norm(&c.x_[out_row0 * H], final_norm_.data(), &c.xn_[0], out_rows, H, p.eps);
  linear(c.exec(), *weights_.embed, c.xn_.data(), out_rows, logits);
  if (p.final_softcap > 0.0f) kernels::softcap(logits, out_rows * p.vocab, p.final_softcap);
}

namespace {
// Rounds x to the nearest F16 values (what an F16 cache will hold).
void round_to_f16(float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] = kernels::f16_to_f32(kernels::f32_to_f16(x[i]));
}
}  // namespace

// Attention work items (token, head) split across the context's threads.
void Decoder::run_attention(Context& c, const kernels::AttentionArgs& a) {
  // One token deep in the context: its positions in segments across the
  // threads, so each reads only part of the cache (same bits either way).
  const size_t split = kernels::attention_split_items(a);
  if (c.pool_->size() > 1 && split >= c.pool_->size()) {
    const size_t floats = kernels::attention_split_floats(a);
    if (c.attn_split_.size() < floats) c.attn_split_.resize(floats);
    float* scratch = c.attn_split_.data();
    // One segment at a time from a shared counter: a static split of, say,
    // 9 segments gives one thread 5 and the other 4.
    c.pool_->parallel_chunks(split, 1,
                             [&](size_t begin, size_t end) { kernels::attention_split(a, begin, end, scratch); });
    kernels::attention_split_merge(a, scratch);
    return;
  }
  c.pool_->parallel_for(kernels::attention_items(a),
                        [&a](size_t begin, size_t end) { kernels::attention(a, begin, end); });
}

// Keys and values of rows [row0, row0 + rows); queries, attention and the
// output for rows [out0, row0 + rows) only (out0 > row0 only on a layer with
// its own cache).
void Decoder::attention_block(Context& c, size_t l, size_t row0, size_t rows, size_t out0, int64_t pos0) const {
  const ModelPlan& p = plan_;
  const LayerPlan& lp = p.layers[l];
  const LayerWeights& w = weights_.layers[l];
  const LayerConsts& k = consts_[l];
  const size_t H = p.hidden, d = lp.head_dim, nq = p.n_heads, nkv = lp.n_kv_heads;
  const int64_t qpos0 = pos0 + static_cast<int64_t>(row0);
  const size_t skip = out0 - row0, q_rows = rows - skip;  // rows without and with queries
  float* x = &c.x_[row0 * H];

  c.for_rows(rows, [&](size_t lo, size_t hi) {
    kernels::rms_norm(&x[lo * H], k.attn_norm.data(), &c.xn_[lo * H], hi - lo, H, p.eps);
  });

  // RoPE angles of these positions (forward_chunk computed those of the
  // chunk for this layer's kind of rotation).
  const size_t pairs = lp.rope_pairs;
  const size_t angles = rope_offset(c, rope_kind_[l]) + row0 * pairs;
  const float* cos = &c.cos_[angles];
  const float* sin = &c.sin_[angles];

  // Projections: queries, and keys and values where the layer has its own
  // cache (V is the raw K projection on K=V layers), as one pass.
  const bool own_kv = lp.kv_source < 0;
  float* kb = lp.kv_is_shared ? c.chunk_k_[l].data() : c.k_.data();
  float* vb = lp.kv_is_shared ? c.chunk_v_[l].data() : c.v_.data();
  {
    LinearJob proj[3];
    size_t n_proj = 0;
    if (skip == 0) proj[n_proj++] = {w.q, c.xn_.data(), c.q_.data()};
    if (own_kv) proj[n_proj++] = {w.k, c.xn_.data(), kb};
    if (own_kv && w.v != nullptr) proj[n_proj++] = {w.v, c.xn_.data(), vb};
    linears(c.exec(), std::span<const LinearJob>(proj, n_proj), rows);
    if (skip > 0 && q_rows > 0) linear(c.exec(), *w.q, &c.xn_[skip * H], q_rows, c.q_.data());
    if (own_kv && w.v == nullptr) std::memcpy(vb, kb, rows * nkv * d * sizeof(float));
  }

  // Queries: per-head RMSNorm with weight, RoPE.
  c.for_rows(q_rows, [&](size_t lo, size_t hi) {
    for (size_t t = lo; t < hi; ++t) {
      float* q = &c.q_[t * nq * d];
      kernels::rms_norm(q, k.q_norm.data(), q, nq, d, p.eps);
      kernels::rope(q, nq, d, &cos[(skip + t) * pairs], &sin[(skip + t) * pairs], pairs);
    }
  });

  kernels::AttentionArgs a;
  a.q = c.q_.data();
  a.out = c.attn_.data();
  a.n_tokens = q_rows;
  a.pos0 = qpos0 + static_cast<int64_t>(skip);
  a.n_q_heads = nq;
  a.n_kv_heads = nkv;
  a.head_dim = d;
  a.window = lp.window;
  a.scale = 1.0f;  // Gemma 4: the Q/K norms carry the scale

  if (own_kv) {
    // Keys of this layer get their norm and RoPE, values a weightless norm.
    c.for_rows(rows, [&](size_t lo, size_t hi) {
      for (size_t t = lo; t < hi; ++t) {
        float* kt = kb + t * nkv * d;
        float* vt = vb + t * nkv * d;
        kernels::rms_norm(kt, k.k_norm.data(), kt, nkv, d, p.eps);
        kernels::rope(kt, nkv, d, &cos[t * pairs], &sin[t * pairs], pairs);
        kernels::rms_norm(vt, nullptr, vt, nkv, d, p.eps);
        if (c.kv_type_ == kernels::DType::F16) {
          round_to_f16(kt, nkv * d);
          round_to_f16(vt, nkv * d);
        }
      }
    });
    // Rows without queries go into the cache first, where the queries after
    // them read them (as they would had they come in an earlier chunk).
    if (skip > 0) kernels::kv_store(c.caches_[l], qpos0, skip, kb, vb);
    const size_t kv_skip = skip * nkv * d;
    if (q_rows > 0) {
      a.k_new = kb + kv_skip;
      a.v_new = vb + kv_skip;
      a.cache = &c.caches_[l];
      run_attention(c, a);
    }
    // Layers read by KV-shared layers store their whole chunk later
    // (forward_chunk), the rows stored above included.
    if (!lp.kv_is_shared && q_rows > 0) {
      kernels::kv_store(c.caches_[l], a.pos0, q_rows, kb + kv_skip, vb + kv_skip);
    }
  } else {
    const size_t src = static_cast<size_t>(lp.kv_source);
    a.cache = &c.caches_[src];
    if (rows == 1 && row0 > 0) {
      // Last-token-only pass: the source cache already holds the whole chunk.
      a.k_new = nullptr;
      a.v_new = nullptr;
    } else {
      a.k_new = c.chunk_k_[src].data() + row0 * nkv * d;
      a.v_new = c.chunk_v_[src].data() + row0 * nkv * d;
    }
    run_attention(c, a);
  }
  if (q_rows == 0) return;

  linear(c.exec(), *w.o, c.attn_.data(), q_rows, c.tmp_.data());
  c.for_rows(q_rows, [&](size_t lo, size_t hi) {
    float* o = &c.tmp_[lo * H];
    kernels::rms_norm(o, k.post_attn_norm.data(), o, hi - lo, H, p.eps);
    kernels::add(&x[(skip + lo) * H], o, &x[(skip + lo) * H], (hi - lo) * H);
  });
}

// The dense GeGLU MLP of layer l on the residual rows x: writes
// down(gelu(gate(n)) * up(n)) with n = ffn_norm(x) into c.tmp_, then its
// post-norm `post_norm` (post_feedforward_layernorm, or _1 in MoE layers).
void Decoder::dense_mlp(Context& c, size_t l, const float* x, size_t rows, const std::vector<float>& post_norm) const {
  const ModelPlan& p = plan_;
  const LayerWeights& w = weights_.layers[l];
  const size_t H = p.hidden, F = p.layers[l].ffn_dim;
  c.for_rows(rows, [&](size_t lo, size_t hi) {
    kernels::rms_norm(&x[lo * H], consts_[l].ffn_norm.data(), &c.xn_[lo * H], hi - lo, H, p.eps);
  });
  const LinearJob gate_up[] = {{w.gate, c.xn_.data(), c.gate_.data()}, {w.up, c.xn_.data(), c.up_.data()}};
  linears(c.exec(), gate_up, rows);
  c.for_rows(rows, [&](size_t lo, size_t hi) {
    kernels::geglu(&c.gate_[lo * F], &c.up_[lo * F], &c.gate_[lo * F], (hi - lo) * F);
  });
  linear(c.exec(), *w.down, c.gate_.data(), rows, c.tmp_.data());
  c.for_rows(rows, [&](size_t lo, size_t hi) {
    kernels::rms_norm(&c.tmp_[lo * H], post_norm.data(), &c.tmp_[lo * H], hi - lo, H, p.eps);
  });
}

void Decoder::ffn_block(Context& c, size_t l, size_t row0, size_t rows) const {
  const size_t H = plan_.hidden;
  float* x = &c.x_[row0 * H];
  dense_mlp(c, l, x, rows, consts_[l].post_ffn_norm);
  c.for_rows(rows, [&](size_t lo, size_t hi) { kernels::add(&x[lo * H], &c.tmp_[lo * H], &x[lo * H], (hi - lo) * H); });
}

void Decoder::moe_block(Context& c, size_t l, size_t row0, size_t rows) const {
  const ModelPlan& p = plan_;
  const LayerWeights& w = weights_.layers[l];
  const LayerConsts& k = consts_[l];
  const size_t H = p.hidden, E = p.n_experts, I = p.expert_dim;
  float* x = &c.x_[row0 * H];  // the residual r: both branches read it

  // Dense branch, into c.tmp_.
  dense_mlp(c, l, x, rows, k.post_ffn_norm_1);

  // Router input: weightless norm of r, times its scale and H^-1/2. Experts
  // read their own norm of r (xn_ is free again: the dense branch is done).
  float* expert_in = c.xn_.data();
  const float root = 1.0f / std::sqrt(static_cast<float>(H));
  c.for_rows(rows, [&](size_t lo, size_t hi) {
    kernels::rms_norm(&x[lo * H], nullptr, &c.moe_in_[lo * H], hi - lo, H, p.eps);
    for (size_t t = lo; t < hi; ++t) {
      float* z = &c.moe_in_[t * H];
      kernels::mul(z, k.router_scale.data(), z, H);
      kernels::scale(z, root, z, H);
    }
    kernels::rms_norm(&x[lo * H], k.pre_ffn_norm_2.data(), &expert_in[lo * H], hi - lo, H, p.eps);
  });

  // Routing: the router's logits of all the rows as one matrix product;
  // per token, softmax over all experts, the top k renormalised and scaled
  // per expert.
  const size_t K = p.n_experts_used;
  std::vector<uint32_t> idx(rows * K);
  std::vector<float> weight(rows * K);
  std::vector<size_t> got(rows);
  linear(c.exec(), *w.router, c.moe_in_.data(), rows, c.router_.data());
  for (size_t t = 0; t < rows; ++t) {
    float* logits = &c.router_[t * E];
    kernels::softmax(logits, E);
    got[t] = kernels::top_k(logits, E, K, &idx[t * K], &weight[t * K]);
    float sum = 0.0f;
    for (size_t j = 0; j < got[t]; ++j) sum += weight[t * K + j];
    for (size_t j = 0; j < got[t]; ++j) weight[t * K + j] = weight[t * K + j] / sum * k.expert_scale[idx[t * K + j]];
  }
  std::fill(c.moe_out_.begin(), c.moe_out_.begin() + rows * H, 0.0f);

  if (rows == 1) {
    // One token: its experts' gate/up projections as one parallel pass, then
    // their down projections as another.
    std::vector<LinearJob> jobs(got[0]);
    for (size_t j = 0; j < got[0]; ++j) jobs[j] = {&w.expert_gate_up[idx[j]], expert_in, &c.expert_buf_[j * 2 * I]};
    linears(c.exec(), jobs, 1);
    for (size_t j = 0; j < got[0]; ++j) {
      float* h = &c.expert_buf_[j * 2 * I];
      kernels::geglu(h, h + I, h, I);
      jobs[j] = {&w.expert_down[idx[j]], h, &c.expert_out_[j * H]};
    }
    linears(c.exec(), jobs, 1);
    // Summed in ascending expert order, as the many-token path below does,
    // so a token's output does not depend on how the prompt was chunked.
    std::vector<size_t> order(got[0]);
    for (size_t j = 0; j < order.size(); ++j) order[j] = j;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return idx[a] < idx[b]; });
    for (size_t j : order) kernels::add_scaled(c.moe_out_.data(), &c.expert_out_[j * H], weight[j], H);
  } else {
    // Many tokens: per expert, gather the tokens routed to it and run them
    // as one matrix product, so each chosen expert's weights are read once
    // per chunk rather than once per token.
    std::vector<std::vector<std::pair<uint32_t, float>>> routed(E);  // expert -> (token, weight)
    for (size_t t = 0; t < rows; ++t) {
      for (size_t j = 0; j < got[t]; ++j)
        routed[idx[t * K + j]].push_back({static_cast<uint32_t>(t), weight[t * K + j]});
    }
    for (size_t e = 0; e < E; ++e) {
      const auto& toks = routed[e];
      if (toks.empty()) continue;
      const size_t n = toks.size();
      for (size_t i = 0; i < n; ++i) {
        std::copy_n(&expert_in[toks[i].first * H], H, &c.moe_gather_[i * H]);
      }
      linear(c.exec(), w.expert_gate_up[e], c.moe_gather_.data(), n, c.expert_buf_.data());
      c.for_rows(n, [&](size_t lo, size_t hi) {
        for (size_t i = lo; i < hi; ++i) {
          float* h = &c.expert_buf_[i * 2 * I];
          kernels::geglu(h, h + I, h, I);
        }
      });
      // geglu left each token's I values at the start of its 2I-wide row:
      // pack them so the down projection reads [n][I].
      for (size_t i = 1; i < n; ++i) std::copy_n(&c.expert_buf_[i * 2 * I], I, &c.expert_buf_[i * I]);
      linear(c.exec(), w.expert_down[e], c.expert_buf_.data(), n, c.expert_out_.data());
      for (size_t i = 0; i < n; ++i) {
        kernels::add_scaled(&c.moe_out_[toks[i].first * H], &c.expert_out_[i * H], toks[i].second, H);
      }
    }
  }
  // Both branches combined, the shared post-norm, residual.
  c.for_rows(rows, [&](size_t lo, size_t hi) {
    float* moe = &c.moe_out_[lo * H];
    float* o = &c.tmp_[lo * H];
    kernels::rms_norm(moe, k.post_ffn_norm_2.data(), moe, hi - lo, H, p.eps);
    kernels::add(o, moe, o, (hi - lo) * H);
    kernels::rms_norm(o, k.post_ffn_norm.data(), o, hi - lo, H, p.eps);
    kernels::add(&x[lo * H], o, &x[lo * H], (hi - lo) * H);
  });
}

void Decoder::ple_block(Context& c, size_t l, size_t row0, size_t rows) const {
  const ModelPlan& p = plan_;
  const LayerWeights& w = weights_.layers[l];
  const size_t H = p.hidden, P = p.ple_dim, LP = p.layers.size() * P;
  float* x = &c.x_[row0 * H];
  linear(c.exec(), *w.ple_gate, x, rows, c.gate_.data());
  c.for_rows(rows, [&](size_t lo, size_t hi) {
    for (size_t t = lo; t < hi; ++t) {
      float* g = &c.gate_[t * P];
      kernels::gelu_tanh(g, g, P);
      kernels::mul(g, &c.ple_[(row0 + t) * LP + l * P], g, P);
    }
  });
  linear(c.exec(), *w.ple_proj, c.gate_.data(), rows, c.tmp_.data());
  c.for_rows(rows, [&](size_t lo, size_t hi) {
    float* o = &c.tmp_[lo * H];
    kernels::rms_norm(o, consts_[l].ple_norm.data(), o, hi - lo, H, p.eps);
    kernels::add(&x[lo * H], o, &x[lo * H], (hi - lo) * H);
  });
}

}  // namespace gemma4::model
