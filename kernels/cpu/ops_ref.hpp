// The scalar reference of every op in ops.hpp: plain loops, sums in double.
// It is the scalar path of the dispatcher and the yardstick the SIMD paths
// are tested against. Arguments are assumed valid (ops.cpp checks them).
#pragma once

#include <cstddef>
#include <cstdint>

namespace gemma4::kernels::ops_ref {

void rms_norm(const float* x, const float* weight, float* out, size_t rows, size_t n, float eps);
void rope(float* x, size_t rows, size_t head_dim, const float* cos, const float* sin, size_t n_pairs);
void softmax(float* x, size_t n);
void gelu_tanh(const float* x, float* out, size_t n);
void geglu(const float* gate, const float* up, float* out, size_t n);
void softcap(float* x, size_t n, float cap);
void add(const float* a, const float* b, float* out, size_t n);
void mul(const float* a, const float* b, float* out, size_t n);
void scale(const float* x, float s, float* out, size_t n);
void add_scaled(float* acc, const float* x, float s, size_t n);
size_t top_k(const float* x, size_t n, size_t k, uint32_t* indices, float* values);

// The bounded selection behind top_k, shared by every path so that they pick
// exactly the same entries: a min-heap of the best k (value, index) pairs
// seen so far, living in the caller's output arrays. Entries must be offered
// in increasing index order; then an equal value never displaces an earlier
// one, which gives the "lower index first" tie rule.
class TopKHeap {
 public:
  TopKHeap(size_t k, uint32_t* indices, float* values);

  // True once k entries are held; from then on only values strictly above
  // threshold() can enter, which lets SIMD paths skip whole blocks.
  // (Members are defined out of line on purpose: SIMD files include this
  // header, and must not carry their own copies of shared inline code.)
  bool full() const;
  float threshold() const;

  void offer(uint32_t index, float value);

  // Sorts the held entries best first and returns how many there are.
  size_t finish();

 private:
  void sift_down(size_t i);
  size_t k_;
  size_t size_ = 0;
  uint32_t* idx_;
  float* val_;
};

}  // namespace gemma4::kernels::ops_ref
