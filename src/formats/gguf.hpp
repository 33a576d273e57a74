// GGUF (versions 2 and 3), the file format of llama.cpp/ggml: a header, typed
// key/value metadata, a table of tensors, then the aligned tensor data.
// GgufFile maps a file and validates every structure before exposing it;
// GgufWriter writes one tensor at a time so a converter never holds a whole
// model in memory. Layout facts: ggml's docs/gguf.md.
#pragma once

#include "src/formats/mapped_file.hpp"
#include "src/formats/tensor_view.hpp"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace gemma4::formats {

// Metadata value types, numbered as in the file.
enum class GgufType : uint32_t {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
};
std::string_view gguf_type_name(GgufType t);

struct GgufValue;
// An array holds values of one type; arrays of arrays are allowed.
struct GgufArray {
  GgufType elem_type = GgufType::U8;
  std::vector<GgufValue> items;
};

struct GgufValue {
  GgufType type = GgufType::U8;
  // Integers are kept widened (unsigned / signed), floats as double; `type`
  // remembers the exact width so the writer reproduces the file.
  std::variant<uint64_t, int64_t, double, bool, std::string, GgufArray> value;

  static GgufValue u32(uint32_t v) { return {GgufType::U32, uint64_t{v}}; }
  static GgufValue i32(int32_t v) { return {GgufType::I32, int64_t{v}}; }
  static GgufValue u64(uint64_t v) { return {GgufType::U64, v}; }
  static GgufValue f32(float v) { return {GgufType::F32, double{v}}; }
  static GgufValue boolean(bool v) { return {GgufType::BOOL, v}; }
  static GgufValue string(std::string v) { return {GgufType::STRING, std::move(v)}; }
  static GgufValue array(GgufType elem, std::vector<GgufValue> items) {
    return {GgufType::ARRAY, GgufArray{elem, std::move(items)}};
  }
};

// One entry of the tensor table.
struct GgufTensorInfo {
  std::string name;
  kernels::DType type = kernels::DType::F32;
  std::vector<uint64_t> ne;  // as stored: ne[0] is the contiguous dimension
  uint64_t offset = 0;       // from the start of the data section
  uint64_t nbytes = 0;
};

class GgufFile {
 public:
  // Maps and parses `path`. Throws gemma4::Error naming the file and the problem.
  static GgufFile open(const std::filesystem::path& path);
  // Parses bytes already in memory (they must outlive the result); `label`
  // names them in error messages. Used by the fuzzer and tests.
  static GgufFile parse(std::span<const std::byte> bytes, std::string label);

  const std::string& label() const { return label_; }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }

  // Metadata in file order, and lookup by key.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  const GgufValue* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }
  // Typed getters: throw an Error naming the key when it is missing or of
  // another type. Integer getters accept any integer type whose value fits.
  uint64_t get_uint(std::string_view key) const;
  std::optional<uint64_t> get_uint_opt(std::string_view key) const;
  double get_float(std::string_view key) const;  // any float or integer type
  std::optional<double> get_float_opt(std::string_view key) const;
  bool get_bool(std::string_view key) const;
  const std::string& get_string(std::string_view key) const;
  std::optional<std::string> get_string_opt(std::string_view key) const;
  const GgufArray& get_array(std::string_view key) const;

  const std::vector<GgufTensorInfo>& tensor_infos() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;
  // A zero-copy view of a tensor (shape outermost first); throws if absent.
  TensorView tensor(std::string_view name) const;
  std::vector<TensorView> tensors() const;

 private:
  GgufFile() = default;
  void parse_all();

  std::shared_ptr<const MappedFile> file_;  // null when parsing caller-owned bytes
  std::span<const std::byte> bytes_;
  std::string label_;
  uint32_t version_ = 0;
  uint32_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::map<std::string, size_t, std::less<>> metadata_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

// Writes a GGUF v3 file: declare all metadata and tensors, then write each
// tensor's bytes in the declared order. Only the current tensor is in memory.
class GgufWriter {
 public:
  explicit GgufWriter(std::filesystem::path path, uint32_t alignment = 32);
  ~GgufWriter();

  void add_metadata(std::string key, GgufValue value);
  // `shape` outermost first, like TensorView::shape.
  void add_tensor(std::string name, kernels::DType type, std::vector<uint64_t> shape);
  // Writes the header, metadata and tensor table (called by the first write_tensor).
  void begin();
  // The next declared tensor's bytes; their size must match its type and shape.
  void write_tensor(std::string_view name, std::span<const std::byte> data);
  // The same in consecutive pieces (a converter streams rows); the tensor is
  // complete when its byte count is reached.
  void write_tensor_chunk(std::string_view name, std::span<const std::byte> chunk);
  // Checks every tensor was written, flushes and closes. Without finish() the
  // destructor removes the partial file.
  void finish();

 private:
  std::filesystem::path path_;
  uint32_t alignment_;
  std::ofstream out_;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<GgufTensorInfo> tensors_;
  size_t next_tensor_ = 0;
  bool begun_ = false;
  bool finished_ = false;
  uint64_t written_ = 0;         // data-section bytes written so far (for padding)
  uint64_t tensor_written_ = 0;  // bytes of the current tensor written so far
};

}  // namespace gemma4::formats
