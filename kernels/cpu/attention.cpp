// Argument checks, dispatch and the KV store for attention.hpp. The kernel
// itself is in attention_simd.cpp.
#include "kernels/cpu/attention.hpp"

#include <gemma4/error.hpp>

#include <cstring>
#include <string>

#include "kernels/cpu/attention_isa.hpp"
#include "kernels/cpu/fp16.hpp"

namespace gemma4::kernels {

namespace {

// Positions and chunk lengths stay below 2^62 so that pos0 + n_tokens never
// overflows (no real context comes anywhere near).
constexpr int64_t kMaxPosition = int64_t{1} << 62;

void require(bool ok, const std::string& what) {
  if (!ok) throw Error("attention: " + what);
}

void check_cache(const KvCache& c) {
  require(c.k != nullptr && c.v != nullptr, "KV cache has no K or V buffer");
  require(c.dtype == DType::F32 || c.dtype == DType::F16,
          "KV cache type " + std::string(dtype_name(c.dtype)) + " is not supported (F32 or F16)");
  require(c.slots > 0, "KV cache has no slots");
  require(c.n_kv_heads > 0 && c.head_dim > 0, "KV cache has no heads");
}

}  // namespace

size_t attention_items(const AttentionArgs& args) {
  return args.n_tokens * args.n_q_heads;
}

size_t kv_slot(const KvCache& cache, int64_t pos) {
  const auto p = static_cast<size_t>(pos);
  return cache.ring ? p % cache.slots : p;
}

void kv_store(const KvCache& cache, int64_t pos0, size_t n_tokens, const float* k, const float* v) {
  check_cache(cache);
  require(pos0 >= 0, "negative position " + std::to_string(pos0));
  require(pos0 < kMaxPosition && n_tokens < static_cast<size_t>(kMaxPosition),
          "position " + std::to_string(pos0) + " + " + std::to_string(n_tokens) + " tokens is out of range");
  if (n_tokens == 0) return;
  require(k != nullptr && v != nullptr, "kv_store without K or V rows");
  if (!cache.ring) {
    require(static_cast<size_t>(pos0) + n_tokens <= cache.slots,
            "positions up to " + std::to_string(static_cast<size_t>(pos0) + n_tokens - 1) +
                " do not fit a KV cache of " + std::to_string(cache.slots) + " slots");
  }
  const size_t row = cache.n_kv_heads * cache.head_dim;  // one slot
  for (size_t t = 0; t < n_tokens; ++t) {
    const size_t slot = kv_slot(cache, pos0 + static_cast<int64_t>(t));
    const float* ks = k + t * row;
    const float* vs = v + t * row;
    if (cache.dtype == DType::F32) {
      std::memcpy(static_cast<float*>(cache.k) + slot * row, ks, row * sizeof(float));
      std::memcpy(static_cast<float*>(cache.v) + slot * row, vs, row * sizeof(float));
    } else {
      uint16_t* kd = static_cast<uint16_t*>(cache.k) + slot * row;
      uint16_t* vd = static_cast<uint16_t*>(cache.v) + slot * row;
      for (size_t i = 0; i < row; ++i) {
        kd[i] = f32_to_f16(ks[i]);
        vd[i] = f32_to_f16(vs[i]);
      }
    }
  }
}

void check_attention_args(const AttentionArgs& a, size_t begin, size_t end) {
  require(a.head_dim % 16 == 0 && a.head_dim >= 16 && a.head_dim <= 1024,
          "head_dim " + std::to_string(a.head_dim) + " is not a multiple of 16 in [16, 1024]");
  require(a.n_kv_heads > 0, "no KV heads");
  require(a.n_q_heads % a.n_kv_heads == 0, std::to_string(a.n_q_heads) + " query heads cannot share " +
                                               std::to_string(a.n_kv_heads) + " KV heads evenly");
  require(a.pos0 >= 0, "negative position " + std::to_string(a.pos0));
  require(a.pos0 < kMaxPosition && a.n_tokens < static_cast<size_t>(kMaxPosition),
          "position " + std::to_string(a.pos0) + " + " + std::to_string(a.n_tokens) + " tokens is out of range");
  require(begin <= end && end <= attention_items(a), "work range [" + std::to_string(begin) + ", " +
                                                         std::to_string(end) + ") is outside the " +
                                                         std::to_string(attention_items(a)) + " items");
  if (begin == end) return;
  require(a.q != nullptr && a.out != nullptr, "missing query or output buffer");
  require((a.k_new == nullptr) == (a.v_new == nullptr), "k_new and v_new must be given together");
  const bool chunk_in_cache = a.k_new == nullptr;
  const auto pos0 = static_cast<size_t>(a.pos0);
  if (!chunk_in_cache && pos0 == 0 && a.cache == nullptr) return;  // prefill from scratch
  require(a.cache != nullptr, "positions before " + std::to_string(a.pos0) + " need a KV cache");
  const KvCache& c = *a.cache;
  check_cache(c);
  require(c.n_kv_heads == a.n_kv_heads && c.head_dim == a.head_dim,
          "KV cache has " + std::to_string(c.n_kv_heads) + " heads of " + std::to_string(c.head_dim) + ", the layer " +
              std::to_string(a.n_kv_heads) + " of " + std::to_string(a.head_dim));
  const size_t last = chunk_in_cache ? pos0 + a.n_tokens : pos0;  // one past the last position read from it
  if (c.ring) {
    require(a.window > 0, "a ring KV cache needs a sliding window");
    const size_t need = chunk_in_cache ? a.window + a.n_tokens - 1 : a.window;
    require(c.slots >= need, "ring KV cache of " + std::to_string(c.slots) + " slots is too small for window " +
                                 std::to_string(a.window) + " with " + std::to_string(a.n_tokens) + " tokens (needs " +
                                 std::to_string(need) + ")");
  } else {
    require(c.slots >= last,
            "KV cache of " + std::to_string(c.slots) + " slots does not reach position " + std::to_string(last - 1));
  }
}

AttentionFn attention_kernel_for(Isa isa) {
  switch (isa) {
#if defined(GEMMA4_HAVE_ISA_AVX2)
    case Isa::avx2:
      return avx2::attention_run;
#endif
#if defined(GEMMA4_HAVE_ISA_AVX512)
    case Isa::avx512:
      return avx512::attention_run;
#endif
#if defined(GEMMA4_HAVE_ISA_NEON)
    case Isa::neon:
      return neon::attention_run;
#endif
    case Isa::scalar:
      return scalar::attention_run;
    default:
      break;
  }
  throw Error("attention: kernel path '" + std::string(isa_name(isa)) + "' is not part of this build");
}

void attention(const AttentionArgs& args, size_t begin, size_t end) {
  check_attention_args(args, begin, end);
  if (begin == end) return;
  attention_kernel_for(active_isa())(args, begin, end);
}

void attention(const AttentionArgs& args) {
  attention(args, 0, attention_items(args));
}

AttentionSplitFns attention_split_kernels_for(Isa isa) {
  switch (isa) {
#if defined(GEMMA4_HAVE_ISA_AVX2)
    case Isa::avx2:
      return {avx2::attention_split_run, avx2::attention_split_merge};
#endif
#if defined(GEMMA4_HAVE_ISA_AVX512)
    case Isa::avx512:
      return {avx512::attention_split_run, avx512::attention_split_merge};
#endif
#if defined(GEMMA4_HAVE_ISA_NEON)
    case Isa::neon:
      return {neon::attention_split_run, neon::attention_split_merge};
#endif
    case Isa::scalar:
      return {scalar::attention_split_run, scalar::attention_split_merge};
    default:
      break;
  }
  throw Error("attention: kernel path '" + std::string(isa_name(isa)) + "' is not part of this build");
}

namespace {
// The segments one token sees: its window start to its position.
size_t token_segment_count(const AttentionArgs& a) {
  int64_t lo = 0;
  if (a.window > 0 && a.pos0 + 1 > static_cast<int64_t>(a.window)) lo = a.pos0 - static_cast<int64_t>(a.window) + 1;
  return static_cast<size_t>(a.pos0 / kAttentionSegment - lo / kAttentionSegment + 1);
}
}  // namespace

size_t attention_split_items(const AttentionArgs& args) {
  if (args.n_tokens != 1 || args.pos0 < 0) return 0;
  return token_segment_count(args) * args.n_kv_heads;
}

size_t attention_split_floats(const AttentionArgs& args) {
  if (args.n_tokens != 1 || args.pos0 < 0) return 0;
  return token_segment_count(args) * args.n_q_heads * (args.head_dim + 2);
}

void attention_split(const AttentionArgs& args, size_t begin, size_t end, float* scratch) {
  check_attention_args(args, 0, attention_items(args));
  require(args.n_tokens == 1, "the split attention form takes one token");
  require(begin <= end && end <= attention_split_items(args), "split attention: item range out of bounds");
  require(scratch != nullptr, "split attention: no scratch");
  if (begin == end) return;
  attention_split_kernels_for(active_isa()).run(args, begin, end, scratch);
}

void attention_split_merge(const AttentionArgs& args, const float* scratch) {
  require(args.n_tokens == 1 && scratch != nullptr && args.out != nullptr, "split attention: bad merge arguments");
  attention_split_kernels_for(active_isa()).merge(args, scratch);
}

}  // namespace gemma4::kernels
