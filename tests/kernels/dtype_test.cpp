#include "kernels/cpu/dtype.hpp"

#include <gtest/gtest.h>

using namespace gemma4::kernels;

TEST(DType, BlockGeometryMatchesGgml) {
  EXPECT_EQ(*row_bytes(DType::Q4_0, 64), 36u);
  EXPECT_EQ(*row_bytes(DType::Q8_0, 32), 34u);
  EXPECT_EQ(*row_bytes(DType::Q4_K, 512), 288u);
  EXPECT_EQ(*row_bytes(DType::Q6_K, 256), 210u);
  EXPECT_EQ(*row_bytes(DType::BF16, 3), 6u);
  EXPECT_FALSE(row_bytes(DType::Q4_K, 100).has_value());
}

TEST(DType, IdsRoundTripAndUnknownIdsAreRejected) {
  EXPECT_EQ(dtype_info(30u)->type, DType::BF16);
  EXPECT_EQ(dtype_info(12u)->name, "q4_K");
  EXPECT_FALSE(dtype_info(4u).has_value());  // Q4_2: removed from ggml long ago
  EXPECT_FALSE(dtype_info(1000u).has_value());
  EXPECT_EQ(dtype_from_name("Q4_k"), DType::Q4_K);
  EXPECT_FALSE(dtype_from_name("q4_2").has_value());
}
