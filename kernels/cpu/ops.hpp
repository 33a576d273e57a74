// Elementwise and row-wise operations of the Gemma 4 decoder on F32
// activations: RMSNorm, RoPE, softmax, GELU-tanh, GeGLU, logit softcap,
// top-k and the add/scale helpers around the residual stream.
//
// Each function runs on the SIMD path chosen by kernels::active_isa() (see
// isa.hpp). The scalar path is the plain reference in ops_ref.hpp; the AVX2,
// AVX-512 and NEON paths live in ops_simd.cpp, compiled once per path.
//
// Arguments are raw pointers and lengths because these sit in the hot loop.
// Lengths of 0 are allowed and do nothing. Where `out` may alias an input the
// comment says so; otherwise the ranges must not overlap. Obviously wrong
// arguments (a k larger than the vector, a non-positive epsilon or cap, a
// rotated-pair count beyond half the head) throw gemma4::Error.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gemma4::kernels {

// RMSNorm of `rows` rows of length n, as Gemma 4 defines it (weights used
// directly, no 1 + w; eps inside the root):
//   out = x * (mean(x^2) + eps)^-1/2 * weight
// `weight` (length n, shared by all rows) may be null for the weightless
// variant (Gemma 4's v_norm and router norm). out may equal x.
void rms_norm(const float* x, const float* weight, float* out, size_t rows, size_t n, float eps);

// Rotary position embedding, split-half ("NeoX") layout: coordinate i pairs
// with i + head_dim/2. The table for one position holds n_pairs cosines and
// sines; pair i (i < n_pairs) is rotated by angle[i], pairs n_pairs..head_dim/2
// pass through unchanged. That covers both Gemma 4 variants:
//   sliding layers: n_pairs = head_dim/2 (every pair rotated);
//   full layers ("proportional"): n_pairs = 64 of 256 pairs rotated, with
//   frequencies computed from the full head_dim (see rope_angles).
// Rotates `rows` heads of head_dim floats laid out back to back, in place.
void rope(float* x, size_t rows, size_t head_dim, const float* cos, const float* sin, size_t n_pairs);

// Fills cos[i], sin[i] for i < n_pairs at position `pos` with
//   inv_freq[i] = theta^(-2i / head_dim),  angle = pos * inv_freq[i]
// Note the denominator is the full head_dim even when n_pairs < head_dim/2.
// The angle is formed in float, as the reference implementations do, then its
// cosine and sine are taken in double and rounded. Portable (no SIMD path):
// it runs once per token, not per head.
void rope_angles(int64_t pos, size_t head_dim, size_t n_pairs, float theta, float* cos, float* sin);

// Softmax in place over n values (max-subtracted, so large inputs are safe).
// A vector that is all -inf is left as all zeros rather than NaN.
void softmax(float* x, size_t n);

// GELU with the tanh approximation (PyTorch "gelu_pytorch_tanh"):
//   0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).   out may equal x.
void gelu_tanh(const float* x, float* out, size_t n);

// GeGLU: out = gelu_tanh(gate) * up. out may equal gate or up.
void geglu(const float* gate, const float* up, float* out, size_t n);

// Logit softcap in place: x = cap * tanh(x / cap). cap must be > 0.
void softcap(float* x, size_t n, float cap);

// out = a + b, out = a * b, out = s * x (out may equal any input).
void add(const float* a, const float* b, float* out, size_t n);
void mul(const float* a, const float* b, float* out, size_t n);
void scale(const float* x, float s, float* out, size_t n);

// acc += s * x (weighted sums, e.g. combining MoE expert outputs).
void add_scaled(float* acc, const float* x, float s, size_t n);

// The k largest values of x with their indices, largest first; equal values
// are ordered by lower index first. NaNs are never selected. Returns how many
// were written: k, or fewer when x has fewer than k non-NaN values.
// Requires k <= n.
size_t top_k(const float* x, size_t n, size_t k, uint32_t* indices, float* values);

}  // namespace gemma4::kernels
