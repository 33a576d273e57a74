// A read-only memory mapping of a whole file. Weights are read straight from
// the mapping (zero copy); the kernel pages them in on first touch.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>

namespace gemma4::formats {

class MappedFile {
 public:
  // Maps `path` read-only; throws gemma4::Error naming the file when it cannot.
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const std::byte> bytes() const { return {data_, size_}; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace gemma4::formats
