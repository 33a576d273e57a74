// A read-only memory mapping of a whole file. Weights are read straight from
// the mapping (zero copy); the kernel pages them in on first touch. The file
// stays open too, so that lookup tables read a row at a time can be read
// with pread() instead (read_at): rows read that way never enter the
// process's mapping, where the kernel maps whole neighbourhoods around each
// touched page and the resident set grows by far more than the rows used.
#pragma once

#include <cstddef>
#include <cstdint>
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

  // Copies out.size() bytes from `offset` in the file into `out`. Throws
  // gemma4::Error naming the file for a range past its end or a failed read.
  // Safe to call from several threads at once.
  void read_at(uint64_t offset, std::span<std::byte> out) const;

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace gemma4::formats
