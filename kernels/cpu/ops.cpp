// Dispatch of the ops in ops.hpp to the active SIMD path, with the argument
// checks done once here rather than in every path.
#include "kernels/cpu/ops.hpp"

#include <gemma4/error.hpp>

#include <cmath>
#include <string>

#include "kernels/cpu/isa.hpp"
#include "kernels/cpu/ops_isa.hpp"

namespace gemma4::kernels {

const OpsTable& ops_table_for(Isa isa) {
  switch (isa) {
#if defined(GEMMA4_HAVE_ISA_AVX2)
    case Isa::avx2:
      return avx2::ops_table();
#endif
#if defined(GEMMA4_HAVE_ISA_AVX512)
    case Isa::avx512:
      return avx512::ops_table();
#endif
#if defined(GEMMA4_HAVE_ISA_NEON)
    case Isa::neon:
      return neon::ops_table();
#endif
    case Isa::scalar:
      return scalar::ops_table();
    default:
      break;
  }
  throw Error("ops: kernel path '" + std::string(isa_name(isa)) + "' is not part of this build");
}

namespace {

const OpsTable& active() {
  return ops_table_for(active_isa());
}

void require(bool ok, const char* what) {
  if (!ok) throw Error(std::string("ops: ") + what);
}

}  // namespace

void rms_norm(const float* x, const float* weight, float* out, size_t rows, size_t n, float eps) {
  require(eps > 0.0f && std::isfinite(eps), "rms_norm epsilon must be a positive finite number");
  if (rows == 0 || n == 0) return;
  active().rms_norm(x, weight, out, rows, n, eps);
}

void rope(float* x, size_t rows, size_t head_dim, const float* cos, const float* sin, size_t n_pairs) {
  require(head_dim % 2 == 0, "rope head_dim must be even (split-half layout)");
  require(n_pairs <= head_dim / 2, "rope rotates more pairs than head_dim/2");
  if (rows == 0 || n_pairs == 0) return;
  active().rope(x, rows, head_dim, cos, sin, n_pairs);
}

void rope_angles(int64_t pos, size_t head_dim, size_t n_pairs, float theta, float* cos, float* sin) {
  require(head_dim % 2 == 0 && head_dim > 0, "rope head_dim must be even and positive");
  require(n_pairs <= head_dim / 2, "rope rotates more pairs than head_dim/2");
  require(theta > 1.0f && std::isfinite(theta), "rope theta must be a finite number above 1");
  require(pos >= 0, "rope position must not be negative");
  for (size_t i = 0; i < n_pairs; ++i) {
    const double exponent = static_cast<double>(2 * i) / static_cast<double>(head_dim);
    const float inv_freq = static_cast<float>(std::pow(static_cast<double>(theta), -exponent));
    // float product, as the reference models form it; trig in double so the
    // only rounding left is that of the angle itself.
    const float angle = static_cast<float>(pos) * inv_freq;
    cos[i] = static_cast<float>(std::cos(static_cast<double>(angle)));
    sin[i] = static_cast<float>(std::sin(static_cast<double>(angle)));
  }
}

void softmax(float* x, size_t n) {
  if (n == 0) return;
  active().softmax(x, n);
}

void gelu_tanh(const float* x, float* out, size_t n) {
  if (n == 0) return;
  active().gelu_tanh(x, out, n);
}

void geglu(const float* gate, const float* up, float* out, size_t n) {
  if (n == 0) return;
  active().geglu(gate, up, out, n);
}

void softcap(float* x, size_t n, float cap) {
  require(cap > 0.0f && std::isfinite(cap), "softcap cap must be a positive finite number");
  if (n == 0) return;
  active().softcap(x, n, cap);
}

void add(const float* a, const float* b, float* out, size_t n) {
  if (n != 0) active().add(a, b, out, n);
}

void mul(const float* a, const float* b, float* out, size_t n) {
  if (n != 0) active().mul(a, b, out, n);
}

void scale(const float* x, float s, float* out, size_t n) {
  if (n != 0) active().scale(x, s, out, n);
}

void add_scaled(float* acc, const float* x, float s, size_t n) {
  if (n != 0) active().add_scaled(acc, x, s, n);
}

size_t top_k(const float* x, size_t n, size_t k, uint32_t* indices, float* values) {
  require(k <= n, "top_k asks for more entries than the vector holds");
  require(n <= 0xffffffffu, "top_k vector is too long for 32-bit indices");
  if (k == 0) return 0;
  return active().top_k(x, n, k, indices, values);
}

}  // namespace gemma4::kernels
