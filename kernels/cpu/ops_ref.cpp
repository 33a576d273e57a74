#include "kernels/cpu/ops_ref.hpp"

#include <cmath>
#include <limits>
#include <utility>

namespace gemma4::kernels::ops_ref {

void rms_norm(const float* x, const float* weight, float* out, size_t rows, size_t n, float eps) {
  for (size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* yr = out + r * n;
    double sum_sq = 0.0;
    for (size_t i = 0; i < n; ++i) sum_sq += static_cast<double>(xr[i]) * xr[i];
    const float inv_rms = static_cast<float>(1.0 / std::sqrt(sum_sq / static_cast<double>(n) + eps));
    for (size_t i = 0; i < n; ++i) {
      const float v = xr[i] * inv_rms;
      yr[i] = weight != nullptr ? v * weight[i] : v;
    }
  }
}

void rope(float* x, size_t rows, size_t head_dim, const float* cos, const float* sin, size_t n_pairs) {
  const size_t half = head_dim / 2;
  for (size_t r = 0; r < rows; ++r) {
    float* lo = x + r * head_dim;
    float* hi = lo + half;
    for (size_t i = 0; i < n_pairs; ++i) {
      const float a = lo[i];
      const float b = hi[i];
      lo[i] = a * cos[i] - b * sin[i];
      hi[i] = b * cos[i] + a * sin[i];
    }
  }
}

void softmax(float* x, size_t n) {
  if (n == 0) return;
  float max = -std::numeric_limits<float>::infinity();
  for (size_t i = 0; i < n; ++i) max = std::fmax(max, x[i]);
  if (max == -std::numeric_limits<float>::infinity()) {
    // Everything masked: no distribution to speak of; zeros keep NaN out.
    for (size_t i = 0; i < n; ++i) x[i] = 0.0f;
    return;
  }
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (size_t i = 0; i < n; ++i) x[i] *= inv;
}

namespace {
float gelu_one(float x) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  constexpr float kCubic = 0.044715f;
  const float inner = kSqrt2OverPi * (x + kCubic * x * x * x);
  return 0.5f * x * (1.0f + std::tanh(inner));
}
}  // namespace

void gelu_tanh(const float* x, float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = gelu_one(x[i]);
}

void geglu(const float* gate, const float* up, float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = gelu_one(gate[i]) * up[i];
}

void softcap(float* x, size_t n, float cap) {
  for (size_t i = 0; i < n; ++i) x[i] = cap * std::tanh(x[i] / cap);
}

void add(const float* a, const float* b, float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void mul(const float* a, const float* b, float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = a[i] * b[i];
}

void scale(const float* x, float s, float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = x[i] * s;
}

void add_scaled(float* acc, const float* x, float s, size_t n) {
  for (size_t i = 0; i < n; ++i) acc[i] += s * x[i];
}

// ---- top-k ----

TopKHeap::TopKHeap(size_t k, uint32_t* indices, float* values) : k_(k), idx_(indices), val_(values) {}

bool TopKHeap::full() const {
  return size_ == k_;
}

float TopKHeap::threshold() const {
  return val_[0];
}

namespace {
// Heap order: the root is the worst entry (smallest value; of equal values,
// the highest index).
bool worse(float va, uint32_t ia, float vb, uint32_t ib) {
  return va < vb || (va == vb && ia > ib);
}
}  // namespace

void TopKHeap::sift_down(size_t i) {
  for (;;) {
    const size_t l = 2 * i + 1;
    const size_t r = l + 1;
    size_t m = i;
    if (l < size_ && worse(val_[l], idx_[l], val_[m], idx_[m])) m = l;
    if (r < size_ && worse(val_[r], idx_[r], val_[m], idx_[m])) m = r;
    if (m == i) return;
    std::swap(val_[i], val_[m]);
    std::swap(idx_[i], idx_[m]);
    i = m;
  }
}

void TopKHeap::offer(uint32_t index, float value) {
  if (std::isnan(value) || k_ == 0) return;
  if (size_ < k_) {
    size_t i = size_++;
    val_[i] = value;
    idx_[i] = index;
    while (i > 0) {  // sift up
      const size_t p = (i - 1) / 2;
      if (!worse(val_[i], idx_[i], val_[p], idx_[p])) break;
      std::swap(val_[i], val_[p]);
      std::swap(idx_[i], idx_[p]);
      i = p;
    }
    return;
  }
  // Later indices lose ties, so only a strictly larger value gets in.
  if (!(value > val_[0])) return;
  val_[0] = value;
  idx_[0] = index;
  sift_down(0);
}

size_t TopKHeap::finish() {
  // Heap sort: moving the worst root to the end each time leaves the array
  // ordered best first.
  const size_t count = size_;
  while (size_ > 1) {
    --size_;
    std::swap(val_[0], val_[size_]);
    std::swap(idx_[0], idx_[size_]);
    sift_down(0);
  }
  size_ = count;
  return count;
}

size_t top_k(const float* x, size_t n, size_t k, uint32_t* indices, float* values) {
  TopKHeap heap(k, indices, values);
  for (size_t i = 0; i < n; ++i) heap.offer(static_cast<uint32_t>(i), x[i]);
  return heap.finish();
}

}  // namespace gemma4::kernels::ops_ref
