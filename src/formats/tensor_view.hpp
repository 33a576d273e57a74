// A weight as the file stores it: element type, shape and a pointer into the
// file's memory mapping. Shapes are written outermost dimension first, as
// PyTorch and safetensors write them ([out, in] for a linear weight); GGUF
// stores the reverse (ne[0] is the contiguous dimension) and its reader turns
// them around, so one shape means the same thing whatever the source.
#pragma once

#include "kernels/cpu/dtype.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace gemma4::formats {

class MappedFile;

struct TensorView {
  std::string name;
  kernels::DType type = kernels::DType::F32;
  std::vector<uint64_t> shape;      // outermost first
  std::span<const std::byte> data;  // exactly the tensor's bytes
  // The file `data` is mapped from and where the tensor starts in it, for
  // reads that bypass the mapping (MappedFile::read_at); null for bytes the
  // caller owns. The file lives as long as the reader that made the view.
  const MappedFile* file = nullptr;
  uint64_t file_offset = 0;

  uint64_t elements() const {
    uint64_t n = 1;
    for (uint64_t d : shape) n *= d;  // readers have checked this cannot overflow
    return n;
  }
};

// "[262144, 1536]"
std::string shape_string(const std::vector<uint64_t>& shape);

}  // namespace gemma4::formats
