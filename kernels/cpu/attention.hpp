// Scaled dot-product attention of one decoder layer on the CPU: grouped-query
// heads, causal or sliding-window masks, online softmax over a KV cache.
//
// KV cache layout (one layer, K and V in separate buffers of the same shape):
//
//   k[slot][kv_head][head_dim], v[slot][kv_head][head_dim]   (F32 or F16)
//
//   full cache  (ring = false): position p lives in slot p; `slots` is the
//                               longest context the cache can hold.
//   ring cache  (ring = true):  position p lives in slot p % slots. A sliding
//                               layer with window W needs exactly W slots
//                               (slots = W) when each chunk's own K/V is passed
//                               in k_new/v_new, see AttentionArgs.
//
// One slot holds all KV heads of a position next to each other, so writing a
// token is one contiguous store and a kernel reading one KV head strides by
// n_kv_heads * head_dim. Within a head, the head_dim values are contiguous.
//
// Masks: the query at position p sees the keys at positions
//   causal (window = 0):   0 .. p
//   sliding (window = W):  max(0, p - W + 1) .. p      (W keys including its own)
// which is how Gemma 4 defines them (reference doc §3.3).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/dtype.hpp"

namespace gemma4::kernels {

// A view of one layer's K/V buffers (the owner allocates them).
struct KvCache {
  void* k = nullptr;
  void* v = nullptr;
  DType dtype = DType::F32;  // F32 or F16
  size_t n_kv_heads = 0;
  size_t head_dim = 0;
  size_t slots = 0;
  bool ring = false;
};

// The slot that holds position `pos`.
size_t kv_slot(const KvCache& cache, int64_t pos);

// Writes the K and V rows of n_tokens consecutive positions pos0, pos0+1, ...
// into their slots, converting to the cache's type (F16 rounds to nearest
// even). k and v are F32, laid out [n_tokens][n_kv_heads][head_dim]. In a
// ring, later positions overwrite the slots of positions `slots` earlier.
// Throws gemma4::Error if a position does not fit a full cache.
void kv_store(const KvCache& cache, int64_t pos0, size_t n_tokens, const float* k, const float* v);

struct AttentionArgs {
  // Queries of n_tokens consecutive positions pos0 .. pos0+n_tokens-1, already
  // normalised and rotated: [n_tokens][n_q_heads][head_dim].
  const float* q = nullptr;
  // Output, same layout as q.
  float* out = nullptr;
  size_t n_tokens = 0;
  int64_t pos0 = 0;
  size_t n_q_heads = 0;
  size_t n_kv_heads = 0;  // query head h reads KV head h / (n_q_heads / n_kv_heads)
  size_t head_dim = 0;    // a multiple of 16, at most 1024 (Gemma 4: 256 and 512)
  size_t window = 0;      // 0: causal; W: sliding window of W positions
  float scale = 1.0f;     // score = scale * q.k (Gemma 4 uses 1.0)

  // Where the keys and values come from. Two ways:
  //  1. k_new/v_new given (F32, [n_tokens][n_kv_heads][head_dim]): the chunk's
  //     own keys are read from there and only positions < pos0 from `cache`,
  //     which must not have been updated with the chunk yet (call kv_store
  //     afterwards). This lets a ring of exactly `window` slots serve a chunk
  //     of any length. `cache` may be null when pos0 == 0.
  //  2. k_new/v_new null: every position, the chunk's included, is read from
  //     `cache` (kv_store first). Used by layers that share another layer's
  //     cache. A ring must then have at least window + n_tokens - 1 slots so
  //     that storing the chunk overwrote nothing a query still needs.
  // The kernel trusts that the cache holds the positions it reads.
  const float* k_new = nullptr;
  const float* v_new = nullptr;
  const KvCache* cache = nullptr;
};

// Work items are (token, query head) pairs numbered t * n_q_heads + h.
size_t attention_items(const AttentionArgs& args);

// Computes items [begin, end): a thread pool splits the range between its
// workers. Each item's result depends only on its inputs, never on the range
// it was computed in, so any split gives bitwise identical output. Checks the
// arguments (throws gemma4::Error naming the problem) before touching memory.
void attention(const AttentionArgs& args, size_t begin, size_t end);

// All items on the calling thread.
void attention(const AttentionArgs& args);

// Every row walks its positions in segments of kAttentionSegment (aligned to
// multiples of it), each with its own online-softmax state, folded into the
// total in segment order. For one token (decode) deep in the context the
// segments can instead be computed in parallel, each thread reading only its
// part of the cache, and folded afterwards in the same order: the same bits.
constexpr int64_t kAttentionSegment = 256;

// Items of the split form for a single token: (segment, KV head) pairs; 0
// when args has more than one token.
size_t attention_split_items(const AttentionArgs& args);
// Floats of scratch the split form needs.
size_t attention_split_floats(const AttentionArgs& args);
// Computes items [begin, end) into scratch (any split across threads).
void attention_split(const AttentionArgs& args, size_t begin, size_t end, float* scratch);
// Folds the segments of every query head in order and writes args.out.
void attention_split_merge(const AttentionArgs& args, const float* scratch);

}  // namespace gemma4::kernels
