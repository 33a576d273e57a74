// Embedding gather (kernels/cpu/ops_embed.hpp) from tables in every weight
// type. Expected rows: the type's own dequantisation times the scale (exact),
// and, independently, the original values within the type's rounding step
// (a fraction of the row's largest magnitude, listed per type below; the
// random rows span [-1, 1], so that magnitude is about 1).
#include "kernels/cpu/ops_embed.hpp"

#include <gtest/gtest.h>
#include <gemma4/error.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/quant.hpp"

using namespace gemma4::kernels;

namespace {

struct TypeCase {
  DType type;
  // Of max |row|: half a quantisation step, rounded up; a full step for Q4_0
  // and Q5_0, whose symmetric grid (-8..7, -16..15) clamps one side.
  float tolerance;
};

const TypeCase kTypes[] = {
    {DType::F32, 0.0f},   {DType::F16, 1e-3f},  {DType::BF16, 4e-3f}, {DType::Q8_0, 0.01f},
    {DType::Q4_0, 0.13f}, {DType::Q4_1, 0.1f},  {DType::Q5_0, 0.07f}, {DType::Q5_1, 0.05f},
    {DType::Q4_K, 0.1f},  {DType::Q5_K, 0.05f}, {DType::Q6_K, 0.03f},
};

constexpr size_t kRows = 7;
constexpr size_t kRowLen = 512;

std::vector<float> random_table() {
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> t(kRows * kRowLen);
  for (float& x : t) x = dist(rng);
  return t;
}

}  // namespace

TEST(EmbeddingGather, EveryWeightType) {
  const std::vector<float> values = random_table();
  const uint32_t ids[] = {3, 0, 6, 3};
  const float scale = 39.25f;  // E2B's sqrt(1536) rounded to bf16
  for (const TypeCase& tc : kTypes) {
    const std::string name(dtype_name(tc.type));
    const size_t bytes = *row_bytes(tc.type, kRowLen);
    std::vector<uint8_t> table(kRows * bytes);
    for (size_t r = 0; r < kRows; ++r) quantize_row(tc.type, &values[r * kRowLen], &table[r * bytes], kRowLen);

    std::vector<float> out(4 * kRowLen, -1.0f);
    embedding_gather(tc.type, table.data(), kRows, kRowLen, ids, 4, scale, out.data());
    for (size_t i = 0; i < 4; ++i) {
      std::vector<float> row(kRowLen);
      dequantize_row(tc.type, &table[ids[i] * bytes], row.data(), kRowLen);
      for (size_t j = 0; j < kRowLen; ++j) {
        ASSERT_EQ(out[i * kRowLen + j], row[j] * scale) << name << " id " << ids[i] << " element " << j;
        const float orig = values[ids[i] * kRowLen + j];
        ASSERT_LE(std::fabs(out[i * kRowLen + j] / scale - orig), tc.tolerance + 1e-7f)
            << name << " id " << ids[i] << " element " << j;
      }
    }
  }
}

TEST(EmbeddingGather, ScaleOneCopiesF32RowsExactly) {
  const std::vector<float> values = random_table();
  const uint32_t ids[] = {6, 1};
  std::vector<float> out(2 * kRowLen);
  embedding_gather(DType::F32, values.data(), kRows, kRowLen, ids, 2, 1.0f, out.data());
  EXPECT_EQ(0, std::memcmp(out.data(), &values[6 * kRowLen], kRowLen * sizeof(float)));
  EXPECT_EQ(0, std::memcmp(&out[kRowLen], &values[1 * kRowLen], kRowLen * sizeof(float)));
}

TEST(EmbeddingGather, BadInputThrowsNamedErrors) {
  const std::vector<float> values = random_table();
  std::vector<float> out(kRowLen);
  const uint32_t bad_id = 7;
  try {
    embedding_gather(DType::F32, values.data(), kRows, kRowLen, &bad_id, 1, 1.0f, out.data());
    FAIL() << "id past the table did not throw";
  } catch (const gemma4::Error& e) {
    EXPECT_NE(std::string(e.what()).find("token id 7"), std::string::npos) << e.what();
  }
  const uint32_t id = 0;
  EXPECT_THROW(embedding_gather(DType::Q4_K, values.data(), kRows, 100, &id, 1, 1.0f, out.data()), gemma4::Error);
  EXPECT_THROW(embedding_gather(DType::Q2_K, values.data(), kRows, 256, &id, 1, 1.0f, out.data()), gemma4::Error);
}
