// Attention (kernels/cpu/attention.hpp) on every SIMD path against a naive
// reference that materialises every score and runs a full softmax in double.
// The reference keeps the whole K/V history in plain arrays, so it also
// checks the cache plumbing: ring slots, wrap-around, F16 rounding.
//
// Tolerance: 2e-5 absolute on outputs (convex combinations of values in
// [-1, 1]); the kernel accumulates in float with an online softmax, the
// reference in double. Splits of the work range and prefill-versus-decode
// (F32 cache) must agree bit for bit.
#include "kernels/cpu/attention.hpp"

#include <gtest/gtest.h>
#include <gemma4/error.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kernels/cpu/attention_isa.hpp"
#include "kernels/cpu/fp16.hpp"
#include "kernels/cpu/isa.hpp"

using namespace gemma4::kernels;

namespace {

struct Case {
  std::string name;
  size_t n_q_heads;
  size_t n_kv_heads;
  size_t head_dim;
  size_t window;  // 0: causal
  DType dtype;
  bool ring;
  size_t slots;  // 0: just enough for a full cache
  int64_t pos0;
  size_t n_tokens;
  bool chunk_in_cache = false;  // mode 2: k_new/v_new null, chunk stored first
  float scale = 1.0f;
};

std::vector<float> random_vector(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Everything one case needs: the full K/V history, the queries, the cache.
struct Scenario {
  Case c;
  size_t row;  // floats per position (all KV heads)
  std::vector<float> k_hist, v_hist, q;
  std::vector<uint8_t> k_buf, v_buf;
  KvCache cache;

  explicit Scenario(const Case& cs) : c(cs), row(cs.n_kv_heads * cs.head_dim) {
    const size_t n_pos = static_cast<size_t>(c.pos0) + c.n_tokens;
    k_hist = random_vector(n_pos * row, 1);
    v_hist = random_vector(n_pos * row, 2);
    q = random_vector(c.n_tokens * c.n_q_heads * c.head_dim, 3);
    cache.dtype = c.dtype;
    cache.n_kv_heads = c.n_kv_heads;
    cache.head_dim = c.head_dim;
    cache.ring = c.ring;
    cache.slots = c.slots != 0 ? c.slots : n_pos;
    const size_t elem = c.dtype == DType::F16 ? 2 : 4;
    k_buf.assign(cache.slots * row * elem, 0xAB);  // garbage where nothing was stored
    v_buf.assign(cache.slots * row * elem, 0xCD);
    cache.k = k_buf.data();
    cache.v = v_buf.data();
    // Store position by position, as decoding would; a ring wraps around.
    const size_t stored = c.chunk_in_cache ? n_pos : static_cast<size_t>(c.pos0);
    for (size_t p = 0; p < stored; ++p) {
      kv_store(cache, static_cast<int64_t>(p), 1, &k_hist[p * row], &v_hist[p * row]);
    }
  }

  AttentionArgs args(float* out) const {
    AttentionArgs a;
    a.q = q.data();
    a.out = out;
    a.n_tokens = c.n_tokens;
    a.pos0 = c.pos0;
    a.n_q_heads = c.n_q_heads;
    a.n_kv_heads = c.n_kv_heads;
    a.head_dim = c.head_dim;
    a.window = c.window;
    a.scale = c.scale;
    a.cache = &cache;
    if (!c.chunk_in_cache) {
      a.k_new = &k_hist[static_cast<size_t>(c.pos0) * row];
      a.v_new = &v_hist[static_cast<size_t>(c.pos0) * row];
    }
    return a;
  }

  size_t out_size() const { return c.n_tokens * c.n_q_heads * c.head_dim; }

  // A history value as the kernel must see it: positions read from an F16
  // cache are rounded to half, the chunk's own rows (mode 1) are not.
  double seen(const std::vector<float>& hist, size_t p, size_t i) const {
    const float v = hist[p * row + i];
    const bool from_cache = c.chunk_in_cache || p < static_cast<size_t>(c.pos0);
    if (from_cache && c.dtype == DType::F16) return f16_to_f32(f32_to_f16(v));
    return v;
  }

  // Naive attention: all scores of a query, full softmax, weighted sum.
  std::vector<float> reference() const {
    std::vector<float> out(out_size());
    const size_t group = c.n_q_heads / c.n_kv_heads;
    for (size_t t = 0; t < c.n_tokens; ++t) {
      const size_t pos = static_cast<size_t>(c.pos0) + t;
      const size_t lo = c.window > 0 && pos + 1 > c.window ? pos + 1 - c.window : 0;
      for (size_t h = 0; h < c.n_q_heads; ++h) {
        const size_t kv = h / group;
        const float* qh = &q[(t * c.n_q_heads + h) * c.head_dim];
        std::vector<double> scores;
        for (size_t p = lo; p <= pos; ++p) {
          double s = 0;
          for (size_t d = 0; d < c.head_dim; ++d) s += qh[d] * seen(k_hist, p, kv * c.head_dim + d);
          scores.push_back(s * c.scale);
        }
        const double m = *std::max_element(scores.begin(), scores.end());
        double z = 0;
        for (double& s : scores) z += (s = std::exp(s - m));
        for (size_t d = 0; d < c.head_dim; ++d) {
          double o = 0;
          for (size_t p = lo; p <= pos; ++p) o += scores[p - lo] * seen(v_hist, p, kv * c.head_dim + d);
          out[(t * c.n_q_heads + h) * c.head_dim + d] = static_cast<float>(o / z);
        }
      }
    }
    return out;
  }
};

std::vector<float> run(const Scenario& s, Isa isa) {
  std::vector<float> out(s.out_size(), -999.0f);
  const AttentionArgs a = s.args(out.data());
  check_attention_args(a, 0, attention_items(a));
  attention_kernel_for(isa)(a, 0, attention_items(a));
  return out;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  float worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const float err = std::fabs(got[i] - want[i]);
    if (!(err <= worst)) worst = err, at = i;  // also catches NaN
  }
  EXPECT_LE(worst, 2e-5f) << what << ": worst error at " << at << " got " << got[at] << " want " << want[at];
}

const Case kCases[] = {
    // name, n_q, n_kv, head_dim, window, dtype, ring, slots, pos0, n_tokens
    {"decode_causal_gqa4_d256_f32", 8, 2, 256, 0, DType::F32, false, 0, 100, 1},
    {"decode_causal_gqa4_d256_f16", 8, 2, 256, 0, DType::F16, false, 0, 100, 1},
    {"decode_causal_gqa8_d512_f32", 8, 1, 512, 0, DType::F32, false, 200, 150, 1},
    {"decode_causal_gqa8_d512_f16", 8, 1, 512, 0, DType::F16, false, 0, 77, 1},
    {"decode_gqa16_two_passes", 16, 1, 256, 0, DType::F32, false, 0, 40, 1},
    {"decode_first_token", 4, 2, 256, 0, DType::F32, false, 0, 0, 1},
    {"prefill_from_scratch_d512", 4, 1, 512, 0, DType::F32, false, 0, 0, 45},
    {"prefill_chunk_causal_d256_f16", 4, 2, 256, 0, DType::F16, false, 0, 37, 20},
    {"prefill_chunk_causal_d512_f32", 8, 4, 512, 0, DType::F32, false, 0, 70, 33},
    {"decode_sliding_ring_wrapped_f32", 8, 2, 256, 16, DType::F32, true, 16, 53, 1},
    {"decode_sliding_ring_wrapped_f16", 8, 2, 256, 16, DType::F16, true, 16, 53, 1},
    {"prefill_sliding_ring_wrapped_f16", 4, 1, 256, 16, DType::F16, true, 16, 50, 40},
    {"prefill_sliding_ring_long_chunk_d512", 2, 1, 512, 40, DType::F32, true, 40, 100, 95},
    {"prefill_sliding_before_window_fills", 4, 2, 256, 64, DType::F32, true, 64, 5, 30},
    {"sliding_on_full_cache", 4, 2, 256, 24, DType::F16, false, 0, 60, 10},
    {"chunk_in_ring_cache", 4, 2, 256, 16, DType::F32, true, 16 + 9, 61, 10, true},
    {"chunk_in_full_cache_f16", 8, 2, 512, 0, DType::F16, false, 0, 33, 12, true},
    {"head_dim_48_scale", 6, 3, 48, 0, DType::F32, false, 0, 20, 5, false, 0.125f},
    {"head_dim_16_f16", 2, 1, 16, 0, DType::F16, false, 0, 40, 3},
    {"window_1_sees_only_itself", 4, 2, 256, 1, DType::F32, true, 1, 10, 5},
    {"many_heads_two_passes_d1024", 24, 2, 1024, 0, DType::F16, false, 0, 35, 2},
    {"group_wider_than_a_walk_prefill", 24, 1, 1024, 0, DType::F32, false, 0, 20, 3},
    {"group_wider_than_a_walk_decode", 24, 1, 1024, 40, DType::F16, true, 40, 77, 1},
    // Deep enough to fold several kAttentionSegment segments.
    {"decode_deep_causal_f16", 8, 1, 256, 0, DType::F16, false, 0, 1300, 1},
    {"decode_deep_sliding_ring_f32", 8, 2, 256, 600, DType::F32, true, 600, 1400, 1},
    {"prefill_chunk_across_segments_f16", 4, 2, 256, 0, DType::F16, false, 0, 500, 30},
};

class AttentionPaths : public ::testing::TestWithParam<Isa> {};

}  // namespace

TEST_P(AttentionPaths, MatchesNaiveReference) {
  for (const Case& c : kCases) {
    const Scenario s(c);
    expect_close(run(s, GetParam()), s.reference(), c.name + " on " + std::string(isa_name(GetParam())));
  }
}

// Decoding 90 tokens one at a time through a ring of exactly `window` slots
// checks every wrap-around state against the reference's full history.
TEST_P(AttentionPaths, SlidingDecodeThroughManyWraps) {
  Case c{"ring_decode", 4, 2, 256, 12, DType::F16, true, 12, 0, 1};
  const size_t n_steps = 90;
  Case whole = c;
  whole.pos0 = static_cast<int64_t>(n_steps);
  const Scenario full(whole);  // the history all steps share
  for (size_t step = 0; step < n_steps; step += 7) {
    Case cs = c;
    cs.pos0 = static_cast<int64_t>(step);
    const Scenario s(cs);
    ASSERT_EQ(0, std::memcmp(s.k_hist.data(), full.k_hist.data(), (step + 1) * s.row * sizeof(float)));
    expect_close(run(s, GetParam()), s.reference(), "ring decode step " + std::to_string(step));
  }
}

// Any split of the work range gives the same bits (what a thread pool needs).
TEST_P(AttentionPaths, WorkSplitsAreBitwiseIdentical) {
  const Scenario s(Case{"split", 8, 2, 256, 0, DType::F16, false, 0, 50, 6});
  const std::vector<float> whole = run(s, GetParam());
  std::vector<float> pieces(s.out_size(), -999.0f);
  const AttentionArgs a = s.args(pieces.data());
  const size_t items = attention_items(a);
  std::mt19937 rng(7);
  size_t begin = 0;
  while (begin < items) {
    const size_t end = std::min(items, begin + 1 + rng() % 5);  // odd splits cut through head groups
    attention_kernel_for(GetParam())(a, begin, end);
    begin = end;
  }
  EXPECT_EQ(0, std::memcmp(whole.data(), pieces.data(), whole.size() * sizeof(float)));
}

// Two threads running halves of the range at the same time (the kernel keeps
// no shared state) give the same bits as one thread.
TEST_P(AttentionPaths, ConcurrentHalvesAreBitwiseIdentical) {
  const Scenario s(Case{"threads", 8, 2, 512, 64, DType::F16, true, 64, 300, 9});
  const std::vector<float> whole = run(s, GetParam());
  std::vector<float> halves(s.out_size(), -999.0f);
  const AttentionArgs a = s.args(halves.data());
  const size_t items = attention_items(a);
  const AttentionFn kernel = attention_kernel_for(GetParam());
  std::thread other([&] { kernel(a, items / 2 + 1, items); });  // cuts through a token's heads
  kernel(a, 0, items / 2 + 1);
  other.join();
  EXPECT_EQ(0, std::memcmp(whole.data(), halves.data(), whole.size() * sizeof(float)));
}

// With an F32 cache, prefilling a chunk gives the same bits as decoding its
// tokens one by one (keys are visited in the same blocks either way).
TEST_P(AttentionPaths, PrefillEqualsTokenByTokenDecode) {
  for (size_t window : {size_t{0}, size_t{20}}) {
    const Case shallow{"prefill", 4, 2, 256, window, DType::F32, window > 0, window > 0 ? window : 0, 10, 40};
    const Case deep{"prefill_deep", 4, 2, 256, window, DType::F32, window > 0, window > 0 ? window : 0, 500, 40};
    for (const Case& c : {shallow, deep}) {
      const Scenario s(c);
      const std::vector<float> prefill = run(s, GetParam());
      for (size_t t = 0; t < c.n_tokens; t += 13) {
        Case one = c;
        one.pos0 = c.pos0 + static_cast<int64_t>(t);
        one.n_tokens = 1;
        Scenario d(one);
        // Same history and the same query row as in the chunk.
        std::copy_n(&s.q[t * c.n_q_heads * c.head_dim], c.n_q_heads * c.head_dim, d.q.begin());
        const std::vector<float> decoded = run(d, GetParam());
        EXPECT_EQ(0,
                  std::memcmp(decoded.data(), &prefill[t * c.n_q_heads * c.head_dim], decoded.size() * sizeof(float)))
            << c.name << " window " << window << " token " << t;
      }
    }
  }
}

// Decode deep in the context split by segments (any item split, the
// segments folded afterwards) gives the same bits as the plain walk.
TEST_P(AttentionPaths, SplitBySegmentsIsBitwiseIdentical) {
  const Isa saved = active_isa();
  set_active_isa(GetParam());
  for (const Case& c : {Case{"deep", 8, 1, 512, 0, DType::F16, false, 0, 2100, 1},
                        Case{"deep_gqa", 8, 2, 256, 0, DType::F32, false, 0, 1025, 1},
                        Case{"deep_window", 8, 2, 256, 700, DType::F16, true, 700, 1800, 1},
                        Case{"shallow", 4, 2, 256, 0, DType::F16, false, 0, 30, 1}}) {
    const Scenario s(c);
    const std::vector<float> whole = run(s, GetParam());
    std::vector<float> split(s.out_size(), -999.0f);
    const AttentionArgs a = s.args(split.data());
    const size_t items = attention_split_items(a);
    ASSERT_GT(items, 0u) << c.name;
    std::vector<float> scratch(attention_split_floats(a), -7.0f);
    std::mt19937 rng(11);
    for (size_t begin = 0; begin < items;) {
      const size_t end = std::min(items, begin + 1 + rng() % 3);
      attention_split(a, begin, end, scratch.data());
      begin = end;
    }
    attention_split_merge(a, scratch.data());
    EXPECT_EQ(0, std::memcmp(whole.data(), split.data(), whole.size() * sizeof(float))) << c.name;
  }
  set_active_isa(saved);
}

// The public entry point runs the active path.
TEST_P(AttentionPaths, PublicEntryUsesActivePath) {
  const Isa saved = active_isa();
  set_active_isa(GetParam());
  const Scenario s(kCases[8]);
  std::vector<float> out(s.out_size());
  attention(s.args(out.data()));
  set_active_isa(saved);
  const std::vector<float> direct = run(s, GetParam());
  EXPECT_EQ(0, std::memcmp(out.data(), direct.data(), out.size() * sizeof(float)));
}

INSTANTIATE_TEST_SUITE_P(EverySupportedPath, AttentionPaths, ::testing::ValuesIn(supported_isas()),
                         [](const ::testing::TestParamInfo<Isa>& info) { return std::string(isa_name(info.param)); });

// ---- bad arguments ----

namespace {
void expect_error(const AttentionArgs& a, const std::string& fragment) {
  try {
    attention(a);
    ADD_FAILURE() << "no error; expected one mentioning '" << fragment << "'";
  } catch (const gemma4::Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}
}  // namespace

TEST(AttentionArgs, BadShapesAndCachesThrowNamedErrors) {
  const Scenario s(Case{"bad", 4, 2, 256, 0, DType::F32, false, 0, 10, 3});
  std::vector<float> out(s.out_size());
  AttentionArgs a = s.args(out.data());

  AttentionArgs bad = a;
  bad.head_dim = 100;
  expect_error(bad, "head_dim 100");
  bad = a;
  bad.n_kv_heads = 3;
  expect_error(bad, "3 KV heads");
  bad = a;
  bad.pos0 = -1;
  expect_error(bad, "negative position");
  bad = a;
  bad.pos0 = int64_t{1} << 62;
  expect_error(bad, "out of range");
  bad = a;
  bad.cache = nullptr;
  expect_error(bad, "need a KV cache");
  bad = a;
  bad.v_new = nullptr;
  expect_error(bad, "together");

  KvCache small = s.cache;
  small.slots = 5;  // positions 0..9 do not fit
  bad = a;
  bad.cache = &small;
  expect_error(bad, "does not reach position 9");

  KvCache wrong_heads = s.cache;
  wrong_heads.n_kv_heads = 1;
  bad = a;
  bad.cache = &wrong_heads;
  expect_error(bad, "KV cache has 1 heads");

  KvCache bf16 = s.cache;
  bf16.dtype = DType::BF16;
  bad = a;
  bad.cache = &bf16;
  expect_error(bad, "bf16");

  KvCache ring = s.cache;
  ring.ring = true;
  bad = a;
  bad.cache = &ring;
  expect_error(bad, "needs a sliding window");
  bad.window = 64;
  ring.slots = 32;
  expect_error(bad, "too small for window 64");

  EXPECT_THROW(attention(a, 0, attention_items(a) + 1), gemma4::Error);
  EXPECT_THROW(attention(a, 5, 4), gemma4::Error);
  EXPECT_NO_THROW(attention(a, 3, 3));  // an empty range is fine

  // kv_store refuses positions past the end of a full cache.
  const std::vector<float> row(s.row, 0.5f);
  EXPECT_THROW(kv_store(s.cache, static_cast<int64_t>(s.cache.slots), 1, row.data(), row.data()), gemma4::Error);
}
