// Kernel benchmarks: the machine's read bandwidth (the roof), GEMV on the
// real Gemma 4 shapes for every weight type (GB/s of weights streamed and
// fraction of the roof), 512-token GEMM (GFLOP/s), and one decode step of
// attention at depth 4096 against an F16 cache in memory. Threads: --threads=N
// is not a Google Benchmark flag, so the count comes from GEMMA4_THREADS
// (default 2). GEMMA4_ISA picks the kernel path as everywhere else.
//
// Run: bench_kernels --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/cpu/attention.hpp"
#include "kernels/cpu/dtype.hpp"
#include "kernels/cpu/quant.hpp"
#include "src/runtime/thread_pool.hpp"

namespace {

using gemma4::kernels::DType;
using gemma4::runtime::ThreadPool;

size_t thread_count() {
  const char* env = std::getenv("GEMMA4_THREADS");
  return env != nullptr && std::atoi(env) > 0 ? static_cast<size_t>(std::atoi(env)) : 2;
}

ThreadPool& pool() {
  static ThreadPool p(thread_count());
  return p;
}

// ---------------------------------------------------------------- the roof

// Reads every byte of `buf` once per call, split across the pool. Summing 64-bit words keeps the loop a pure
// stream of loads (the compiler vectorises it) with a result to keep.
uint64_t read_all(const std::vector<uint64_t>& buf) {
  std::atomic<uint64_t> total{0};
  // 128 KiB chunks taken in turn, as parallel_matvec takes its rows.
  pool().parallel_chunks(buf.size(), 16384, [&](size_t b, size_t e) {
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = b;
    for (; i + 4 <= e; i += 4) s0 += buf[i], s1 += buf[i + 1], s2 += buf[i + 2], s3 += buf[i + 3];
    for (; i < e; ++i) s0 += buf[i];
    total.fetch_add(s0 + s1 + s2 + s3, std::memory_order_relaxed);
  });
  return total.load();
}

// 1 GiB: far larger than the 32 MiB last-level cache.
const std::vector<uint64_t>& probe_buffer() {
  static const std::vector<uint64_t> buf = [] {
    std::vector<uint64_t> b((size_t{1} << 30) / sizeof(uint64_t));
    for (size_t i = 0; i < b.size(); ++i) b[i] = i * 0x9e3779b97f4a7c15ull;
    return b;
  }();
  return buf;
}

void BM_ReadBandwidth(benchmark::State& state) {
  const auto& buf = probe_buffer();
  for (auto _ : state) benchmark::DoNotOptimize(read_all(buf));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(buf.size() * 8));
  state.counters["threads"] = static_cast<double>(pool().size());
}
// Read bandwidth right now, in bytes/s: median of three passes over the
// probe buffer. The machine is shared, so each GEMV measures its own roof
// just before and just after it runs and reports the fraction against the
// mean of the two; that ratio is far steadier than either number alone.
double roof_now() {
  const auto& buf = probe_buffer();
  std::vector<double> rates;
  for (int i = 0; i < 3; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(read_all(buf));
    const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
    rates.push_back(static_cast<double>(buf.size() * 8) / dt.count());
  }
  std::sort(rates.begin(), rates.end());
  return rates[1];
}

BENCHMARK(BM_ReadBandwidth)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);

// ------------------------------------------------------------------ GEMV

const DType kTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_1,
                        DType::Q5_0, DType::Q5_1, DType::Q4_K, DType::Q5_K, DType::Q6_K};

struct Shape {
  int64_t rows, cols;
};
// Out x in of real matrices: E2B FFN up/down, E4B FFN up, 31B FFN up, and
// the tied 262144-token output head at E2B width.
const Shape kShapes[] = {{6144, 1536}, {1536, 6144}, {10240, 2560}, {21504, 5376}, {262144, 1536}};

// A weight matrix in `type`: 64 distinct random rows, quantized properly,
// repeated to fill all rows (quantizing 400M values per type would take
// minutes; the bytes streamed and the work per row are the same).
std::unique_ptr<unsigned char[]> make_weights(DType type, int64_t rows, int64_t cols) {
  const size_t rb = *gemma4::kernels::row_bytes(type, static_cast<uint64_t>(cols));
  const int64_t distinct = 64;
  std::mt19937 rng(42);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  std::vector<float> row(static_cast<size_t>(cols));
  std::vector<unsigned char> seed(rb * distinct);
  for (int64_t r = 0; r < distinct; ++r) {
    for (auto& v : row) v = dist(rng);
    gemma4::kernels::quantize_row(type, row.data(), seed.data() + r * rb, static_cast<size_t>(cols));
  }
  std::unique_ptr<unsigned char[]> w(new unsigned char[rb * static_cast<size_t>(rows)]);
  for (int64_t r = 0; r < rows; ++r) std::memcpy(w.get() + r * rb, seed.data() + (r % distinct) * rb, rb);
  return w;
}

std::vector<float> activations(int64_t n) {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = dist(rng);
  return x;
}

void BM_Gemv(benchmark::State& state, DType type, Shape s) {
  const auto w = make_weights(type, s.rows, s.cols);
  const auto x = activations(s.cols);
  std::vector<float> y(static_cast<size_t>(s.rows));
  gemma4::runtime::MatmulScratch scratch;
  const double roof_before = roof_now();
  for (auto _ : state) {
    gemma4::runtime::parallel_matvec(pool(), type, w.get(), static_cast<size_t>(s.rows), static_cast<size_t>(s.cols),
                                     x.data(), y.data(), scratch);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const double bytes = static_cast<double>(*gemma4::kernels::row_bytes(type, static_cast<uint64_t>(s.cols))) *
                       static_cast<double>(s.rows);
  state.SetBytesProcessed(static_cast<int64_t>(bytes * static_cast<double>(state.iterations())));
  const double roof = 0.5 * (roof_before + roof_now());  // timing has stopped here
  state.counters["weight_MiB"] = bytes / (1 << 20);
  state.counters["roof_GBps"] = roof / 1e9;
  // A rate counter divides by the run time: bytes / roof / seconds = fraction.
  state.counters["frac_of_roof"] =
      benchmark::Counter(bytes * static_cast<double>(state.iterations()) / roof, benchmark::Counter::kIsRate);
}

void BM_Gemm512(benchmark::State& state, DType type, Shape s) {
  const int64_t tokens = 512;
  const auto w = make_weights(type, s.rows, s.cols);
  const auto x = activations(s.cols * tokens);
  std::vector<float> y(static_cast<size_t>(s.rows * tokens));
  gemma4::runtime::MatmulScratch scratch;
  for (auto _ : state) {
    gemma4::runtime::parallel_matmul(pool(), type, w.get(), static_cast<size_t>(s.rows), static_cast<size_t>(s.cols),
                                     x.data(), static_cast<size_t>(tokens), y.data(), scratch);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * static_cast<double>(s.rows * s.cols * tokens) * static_cast<double>(state.iterations()) / 1e9,
      benchmark::Counter::kIsRate);
}

// ------------------------------------------------------- decode attention

// One decode step of one layer's attention deep in the context: the query
// heads of one token against an F16 cache of `depth` positions, threaded as
// the decoder does it (segments across the pool, then the merge).
struct AttnShape {
  const char* name;
  size_t n_q_heads, n_kv_heads, head_dim, window;
};
// E2B/E4B/31B full-attention layers (head_dim 512) and sliding layers
// (head_dim 256, window 512 on E2B/E4B, 1024 on 31B).
const AttnShape kAttnShapes[] = {{"e2b_full", 8, 1, 512, 0},  {"e2b_sliding", 8, 1, 256, 512},
                                 {"e4b_full", 8, 2, 512, 0},  {"e4b_sliding", 8, 2, 256, 512},
                                 {"31b_full", 32, 4, 512, 0}, {"31b_sliding", 32, 16, 256, 1024}};

// The caches of several layers are visited in turn, together larger than the
// last-level cache, so every call reads its cache from memory as a decode
// step does (the weights streamed between two layers evict it).
void BM_AttnDecode(benchmark::State& state, AttnShape s, int64_t depth) {
  namespace k = gemma4::kernels;
  const size_t slots = s.window > 0 ? s.window : static_cast<size_t>(depth) + 1;
  const size_t kv_row = s.n_kv_heads * s.head_dim;
  const size_t cache_bytes = 2 * slots * kv_row * sizeof(uint16_t);
  const size_t copies = std::max<size_t>(2, (size_t{96} << 20) / cache_bytes + 1);
  std::vector<std::vector<uint16_t>> kbuf(copies), vbuf(copies);
  std::vector<k::KvCache> caches;
  const int64_t first = depth > static_cast<int64_t>(slots) ? depth - static_cast<int64_t>(slots) : 0;
  for (size_t c = 0; c < copies; ++c) {
    kbuf[c].resize(slots * kv_row);
    vbuf[c].resize(slots * kv_row);
    caches.push_back({kbuf[c].data(), vbuf[c].data(), DType::F16, s.n_kv_heads, s.head_dim, slots, s.window > 0});
    // The keys and values the cache holds (only the last `slots` positions matter).
    for (int64_t p = first; p < depth; p += 256) {
      const size_t n = static_cast<size_t>(std::min<int64_t>(256, depth - p));
      const auto kv = activations(static_cast<int64_t>(n * kv_row));
      k::kv_store(caches.back(), p, n, kv.data(), kv.data());
    }
  }
  const auto q = activations(static_cast<int64_t>(s.n_q_heads * s.head_dim));
  const auto knew = activations(static_cast<int64_t>(kv_row));
  std::vector<float> out(s.n_q_heads * s.head_dim);
  k::AttentionArgs a;
  a.q = q.data();
  a.out = out.data();
  a.n_tokens = 1;
  a.pos0 = depth;
  a.n_q_heads = s.n_q_heads;
  a.n_kv_heads = s.n_kv_heads;
  a.head_dim = s.head_dim;
  a.window = s.window;
  a.scale = 0.05f;  // keeps the random scores in a sane range
  a.k_new = knew.data();
  a.v_new = knew.data();
  std::vector<float> scratch(k::attention_split_floats(a));
  const size_t split = k::attention_split_items(a);
  size_t next = 0;
  for (auto _ : state) {
    a.cache = &caches[next];
    next = (next + 1) % copies;
    if (pool().size() > 1 && split >= pool().size()) {
      pool().parallel_chunks(split, 1, [&](size_t b, size_t e) { k::attention_split(a, b, e, scratch.data()); });
      k::attention_split_merge(a, scratch.data());
    } else {
      pool().parallel_for(k::attention_items(a), [&a](size_t b, size_t e) { k::attention(a, b, e); });
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  const double seen = static_cast<double>(std::min<size_t>(slots, static_cast<size_t>(depth) + 1));
  const double iters = static_cast<double>(state.iterations());
  // Q.K and P.V: 2 FLOPs per multiply-add, per query head, position and dimension.
  state.counters["GFLOP/s"] = benchmark::Counter(
      4.0 * static_cast<double>(s.n_q_heads * s.head_dim) * seen * iters / 1e9, benchmark::Counter::kIsRate);
  state.counters["cache_GBps"] =
      benchmark::Counter(4.0 * static_cast<double>(kv_row) * seen * iters / 1e9, benchmark::Counter::kIsRate);
}

// Registered at start-up: one benchmark per type x shape. GEMM skips the
// output head (412 GFLOP per call; prefill only needs its last row anyway).
const bool registered = [] {
  for (DType t : kTypes) {
    for (const Shape& s : kShapes) {
      const std::string name =
          std::string(gemma4::kernels::dtype_name(t)) + "/" + std::to_string(s.rows) + "x" + std::to_string(s.cols);
      benchmark::RegisterBenchmark(("BM_Gemv/" + name).c_str(), BM_Gemv, t, s)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime()
          ->MinTime(0.5);
      if (s.rows != 262144) {
        benchmark::RegisterBenchmark(("BM_Gemm512/" + name).c_str(), BM_Gemm512, t, s)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime()
            ->Iterations(1);
      }
    }
  }
  for (const AttnShape& s : kAttnShapes) {
    benchmark::RegisterBenchmark((std::string("BM_AttnDecode/") + s.name + "/d4096").c_str(), BM_AttnDecode, s,
                                 int64_t{4096})
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime()
        ->MinTime(0.5);
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
