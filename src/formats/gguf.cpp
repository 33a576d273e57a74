#include "src/formats/gguf.hpp"

#include "src/formats/utf8.hpp"

#include <gemma4/error.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

namespace gemma4::formats {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint32_t kMaxDims = 4;         // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 8;        // nesting deeper than this is not a real file
constexpr std::string_view kAlignmentKey = "general.alignment";

static_assert(std::endian::native == std::endian::little, "GGUF reading assumes a little-endian host");

// Bytes every value of a type occupies at least (strings: their length field).
uint64_t min_value_bytes(GgufType t) {
  switch (t) {
    case GgufType::U8:
    case GgufType::I8:
    case GgufType::BOOL:
      return 1;
    case GgufType::U16:
    case GgufType::I16:
      return 2;
    case GgufType::U32:
    case GgufType::I32:
    case GgufType::F32:
      return 4;
    case GgufType::U64:
    case GgufType::I64:
    case GgufType::F64:
    case GgufType::STRING:
      return 8;
    case GgufType::ARRAY:
      return 12;  // element type + count
  }
  return 1;
}

bool valid_type(uint32_t t) {
  return t <= static_cast<uint32_t>(GgufType::F64);
}

// Sequential reader over the file bytes. Every read checks the bounds first,
// so a truncated or lying file ends in an Error, never a read past the end.
class Cursor {
 public:
  Cursor(std::span<const std::byte> bytes, const std::string& label) : bytes_(bytes), label_(label) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return bytes_.size() - pos_; }

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(fmt::format("{}: {} (at byte {})", label_, what, pos_));
  }

  void need(uint64_t n, std::string_view what) const {
    if (n > remaining()) fail(fmt::format("file truncated while reading {}", what));
  }

  template <typename T>
  T read(std::string_view what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string read_string(std::string_view what) {
    const uint64_t len = read<uint64_t>(what);
    need(len, what);
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), len);
    pos_ += len;
    return s;
  }

 private:
  std::span<const std::byte> bytes_;
  const std::string& label_;
  uint64_t pos_ = 0;
};

GgufValue read_value(Cursor& c, GgufType type, const std::string& key, int depth);

GgufValue read_scalar(Cursor& c, GgufType type, const std::string& key) {
  const std::string what = fmt::format("the value of '{}'", key);
  switch (type) {
    case GgufType::U8:
      return {type, uint64_t{c.read<uint8_t>(what)}};
    case GgufType::I8:
      return {type, int64_t{c.read<int8_t>(what)}};
    case GgufType::U16:
      return {type, uint64_t{c.read<uint16_t>(what)}};
    case GgufType::I16:
      return {type, int64_t{c.read<int16_t>(what)}};
    case GgufType::U32:
      return {type, uint64_t{c.read<uint32_t>(what)}};
    case GgufType::I32:
      return {type, int64_t{c.read<int32_t>(what)}};
    case GgufType::F32:
      return {type, double{c.read<float>(what)}};
    case GgufType::U64:
      return {type, c.read<uint64_t>(what)};
    case GgufType::I64:
      return {type, c.read<int64_t>(what)};
    case GgufType::F64:
      return {type, c.read<double>(what)};
    case GgufType::BOOL: {
      const uint8_t b = c.read<uint8_t>(what);
      if (b > 1) c.fail(fmt::format("metadata '{}': bool value {} is neither 0 nor 1", key, b));
      return {type, b == 1};
    }
    case GgufType::STRING:
      return {type, c.read_string(what)};
    case GgufType::ARRAY:
      break;
  }
  c.fail(fmt::format("metadata '{}': unexpected type", key));
}

GgufValue read_value(Cursor& c, GgufType type, const std::string& key, int depth) {
  if (type != GgufType::ARRAY) return read_scalar(c, type, key);
  if (depth >= kMaxArrayDepth)
    c.fail(fmt::format("metadata '{}': arrays nested more than {} deep", key, kMaxArrayDepth));
  const uint32_t elem = c.read<uint32_t>("an array element type");
  if (!valid_type(elem)) c.fail(fmt::format("metadata '{}': unknown array element type {}", key, elem));
  const auto elem_type = static_cast<GgufType>(elem);
  const uint64_t count = c.read<uint64_t>("an array length");
  // Reject impossible counts before allocating anything for them.
  if (count > c.remaining() / min_value_bytes(elem_type)) {
    c.fail(fmt::format("metadata '{}': array of {} {} values does not fit in the file", key, count,
                       gguf_type_name(elem_type)));
  }
  GgufArray arr;
  arr.elem_type = elem_type;
  arr.items.reserve(count);
  for (uint64_t i = 0; i < count; ++i) arr.items.push_back(read_value(c, elem_type, key, depth + 1));
  return {GgufType::ARRAY, std::move(arr)};
}

uint64_t align_up(uint64_t v, uint64_t a) {
  return (v + a - 1) / a * a;
}

[[noreturn]] void type_error(const std::string& label, std::string_view key, const GgufValue& v,
                             std::string_view expected) {
  throw Error(fmt::format("{}: metadata '{}' has type {}, expected {}", label, key, gguf_type_name(v.type), expected));
}

}  // namespace

std::string shape_string(const std::vector<uint64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

std::string_view gguf_type_name(GgufType t) {
  switch (t) {
    case GgufType::U8:
      return "u8";
    case GgufType::I8:
      return "i8";
    case GgufType::U16:
      return "u16";
    case GgufType::I16:
      return "i16";
    case GgufType::U32:
      return "u32";
    case GgufType::I32:
      return "i32";
    case GgufType::F32:
      return "f32";
    case GgufType::BOOL:
      return "bool";
    case GgufType::STRING:
      return "string";
    case GgufType::ARRAY:
      return "array";
    case GgufType::U64:
      return "u64";
    case GgufType::I64:
      return "i64";
    case GgufType::F64:
      return "f64";
  }
  return "unknown";
}

GgufFile GgufFile::open(const std::filesystem::path& path) {
  GgufFile f;
  f.file_ = std::make_shared<const MappedFile>(path);
  f.bytes_ = f.file_->bytes();
  f.label_ = path.string();
  f.parse_all();
  return f;
}

GgufFile GgufFile::parse(std::span<const std::byte> bytes, std::string label) {
  GgufFile f;
  f.bytes_ = bytes;
  f.label_ = std::move(label);
  f.parse_all();
  return f;
}

void GgufFile::parse_all() {
  Cursor c(bytes_, label_);
  const uint32_t magic = c.read<uint32_t>("the magic number");
  if (magic != kMagic) c.fail("not a GGUF file (wrong magic number)");
  version_ = c.read<uint32_t>("the version");
  if (version_ == 1) c.fail("GGUF version 1 is not supported (re-convert the model with a current llama.cpp)");
  if (version_ != 2 && version_ != 3) {
    // A big-endian GGUF has its version byte-swapped.
    if (__builtin_bswap32(version_) == 2 || __builtin_bswap32(version_) == 3)
      c.fail("big-endian GGUF files are not supported");
    c.fail(fmt::format("unsupported GGUF version {} (expected 2 or 3)", version_));
  }
  const uint64_t n_tensors = c.read<uint64_t>("the tensor count");
  const uint64_t n_kv = c.read<uint64_t>("the metadata count");
  // Each metadata entry takes at least 13 bytes, each tensor entry at least 24.
  if (n_kv > c.remaining() / 13) c.fail(fmt::format("metadata count {} does not fit in the file", n_kv));
  if (n_tensors > c.remaining() / 24) c.fail(fmt::format("tensor count {} does not fit in the file", n_tensors));

  metadata_.reserve(n_kv);
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = c.read_string("a metadata key");
    if (key.empty()) c.fail("empty metadata key");
    if (!is_valid_utf8(key)) c.fail("metadata key is not valid UTF-8");
    if (metadata_index_.count(key) != 0) c.fail(fmt::format("duplicate metadata key '{}'", key));
    const uint32_t type = c.read<uint32_t>("a metadata type");
    if (!valid_type(type)) c.fail(fmt::format("metadata '{}' has unknown type {}", key, type));
    GgufValue v = read_value(c, static_cast<GgufType>(type), key, 0);
    metadata_index_.emplace(key, metadata_.size());
    metadata_.emplace_back(std::move(key), std::move(v));
  }

  if (const GgufValue* a = find(kAlignmentKey)) {
    if (a->type != GgufType::U32) type_error(label_, kAlignmentKey, *a, "u32");
    const uint64_t align = std::get<uint64_t>(a->value);
    if (align == 0 || !std::has_single_bit(align)) {
      throw Error(fmt::format("{}: alignment {} is not a power of two", label_, align));
    }
    alignment_ = static_cast<uint32_t>(align);
  }

  tensors_.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo t;
    t.name = c.read_string("a tensor name");
    if (t.name.empty()) c.fail("empty tensor name");
    if (!is_valid_utf8(t.name)) c.fail("tensor name is not valid UTF-8");
    if (tensor_index_.count(t.name) != 0) c.fail(fmt::format("duplicate tensor '{}'", t.name));
    const uint32_t n_dims = c.read<uint32_t>("a tensor's dimension count");
    if (n_dims == 0 || n_dims > kMaxDims) {
      c.fail(fmt::format("tensor '{}' has {} dimensions (1 to {} allowed)", t.name, n_dims, kMaxDims));
    }
    uint64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t ne = c.read<uint64_t>("a tensor dimension");
      if (ne == 0) c.fail(fmt::format("tensor '{}' has a zero dimension", t.name));
      // ggml counts elements in int64_t: the product must stay below 2^63.
      if (ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / elements) {
        c.fail(fmt::format("tensor '{}': dimensions overflow", t.name));
      }
      elements *= ne;
      t.ne.push_back(ne);
    }
    const uint32_t type_id = c.read<uint32_t>("a tensor type");
    const auto info = kernels::dtype_info(type_id);
    if (!info) c.fail(fmt::format("tensor '{}' has unknown type {}", t.name, type_id));
    t.type = info->type;
    t.offset = c.read<uint64_t>("a tensor offset");
    const auto row = kernels::row_bytes(t.type, t.ne[0]);
    if (!row) {
      c.fail(fmt::format("tensor '{}': row of {} elements is not a multiple of the {} block size {}", t.name, t.ne[0],
                         info->name, info->block_elems));
    }
    const uint64_t rows = elements / t.ne[0];
    if (*row != 0 && rows > std::numeric_limits<uint64_t>::max() / *row) {
      c.fail(fmt::format("tensor '{}': byte size overflows", t.name));
    }
    t.nbytes = *row * rows;
    tensor_index_.emplace(t.name, tensors_.size());
    tensors_.push_back(std::move(t));
  }

  data_offset_ = align_up(c.pos(), alignment_);
  // A file with no tensors (an empty model or pure metadata) may end right here.
  const uint64_t size = bytes_.size();
  if (!tensors_.empty() && data_offset_ > size) {
    throw Error(fmt::format("{}: file truncated before the tensor data", label_));
  }
  const uint64_t data_size = size >= data_offset_ ? size - data_offset_ : 0;

  for (const auto& t : tensors_) {
    if (t.offset % alignment_ != 0) {
      throw Error(fmt::format("{}: tensor '{}' offset {} is not a multiple of the alignment {}", label_, t.name,
                              t.offset, alignment_));
    }
    if (t.offset > data_size || t.nbytes > data_size - t.offset) {
      throw Error(
          fmt::format("{}: tensor '{}' data (offset {}, {} bytes) lies beyond the end of the file "
                      "(truncated file?)",
                      label_, t.name, t.offset, t.nbytes));
    }
  }
  // No two tensors may share bytes.
  std::vector<const GgufTensorInfo*> by_offset;
  for (const auto& t : tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const auto* prev = by_offset[i - 1];
    if (prev->offset + prev->nbytes > by_offset[i]->offset) {
      throw Error(fmt::format("{}: tensors '{}' and '{}' overlap", label_, prev->name, by_offset[i]->name));
    }
  }
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = metadata_index_.find(key);
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

std::optional<uint64_t> GgufFile::get_uint_opt(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  if (const auto* u = std::get_if<uint64_t>(&v->value)) return *u;
  if (const auto* i = std::get_if<int64_t>(&v->value)) {
    if (*i < 0) throw Error(fmt::format("{}: metadata '{}' is negative ({})", label_, key, *i));
    return static_cast<uint64_t>(*i);
  }
  type_error(label_, key, *v, "an integer");
}

uint64_t GgufFile::get_uint(std::string_view key) const {
  auto v = get_uint_opt(key);
  if (!v) throw Error(fmt::format("{}: missing metadata '{}'", label_, key));
  return *v;
}

std::optional<double> GgufFile::get_float_opt(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  if (const auto* d = std::get_if<double>(&v->value)) return *d;
  if (const auto* u = std::get_if<uint64_t>(&v->value)) return static_cast<double>(*u);
  if (const auto* i = std::get_if<int64_t>(&v->value)) return static_cast<double>(*i);
  type_error(label_, key, *v, "a number");
}

double GgufFile::get_float(std::string_view key) const {
  auto v = get_float_opt(key);
  if (!v) throw Error(fmt::format("{}: missing metadata '{}'", label_, key));
  return *v;
}

bool GgufFile::get_bool(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) throw Error(fmt::format("{}: missing metadata '{}'", label_, key));
  if (const auto* b = std::get_if<bool>(&v->value)) return *b;
  type_error(label_, key, *v, "bool");
}

std::optional<std::string> GgufFile::get_string_opt(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  if (const auto* s = std::get_if<std::string>(&v->value)) return *s;
  type_error(label_, key, *v, "string");
}

const std::string& GgufFile::get_string(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) throw Error(fmt::format("{}: missing metadata '{}'", label_, key));
  if (const auto* s = std::get_if<std::string>(&v->value)) return *s;
  type_error(label_, key, *v, "string");
}

const GgufArray& GgufFile::get_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) throw Error(fmt::format("{}: missing metadata '{}'", label_, key));
  if (const auto* a = std::get_if<GgufArray>(&v->value)) return *a;
  type_error(label_, key, *v, "array");
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

TensorView GgufFile::tensor(std::string_view name) const {
  const GgufTensorInfo* t = find_tensor(name);
  if (t == nullptr) throw Error(fmt::format("{}: no tensor named '{}'", label_, name));
  TensorView v;
  v.name = t->name;
  v.type = t->type;
  v.shape.assign(t->ne.rbegin(), t->ne.rend());
  v.data = bytes_.subspan(data_offset_ + t->offset, t->nbytes);
  if (file_) {
    v.file = file_.get();
    v.file_offset = data_offset_ + t->offset;
  }
  return v;
}

std::vector<TensorView> GgufFile::tensors() const {
  std::vector<TensorView> out;
  out.reserve(tensors_.size());
  for (const auto& t : tensors_) out.push_back(tensor(t.name));
  return out;
}

// ---------------------------------------------------------------- writer

namespace {

template <typename T>
void put(std::ofstream& out, T v) {
  out.write(reinterpret_cast<const char*>(&v), sizeof(T));
}

void put_string(std::ofstream& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out.write(s.data(), static_cast<std::streamsize>(s.size()));
}

void put_value(std::ofstream& out, const GgufValue& v, const std::string& key) {
  auto as_u = [&] { return std::get<uint64_t>(v.value); };
  auto as_i = [&] { return std::get<int64_t>(v.value); };
  try {
    switch (v.type) {
      case GgufType::U8:
        put<uint8_t>(out, static_cast<uint8_t>(as_u()));
        return;
      case GgufType::I8:
        put<int8_t>(out, static_cast<int8_t>(as_i()));
        return;
      case GgufType::U16:
        put<uint16_t>(out, static_cast<uint16_t>(as_u()));
        return;
      case GgufType::I16:
        put<int16_t>(out, static_cast<int16_t>(as_i()));
        return;
      case GgufType::U32:
        put<uint32_t>(out, static_cast<uint32_t>(as_u()));
        return;
      case GgufType::I32:
        put<int32_t>(out, static_cast<int32_t>(as_i()));
        return;
      case GgufType::U64:
        put<uint64_t>(out, as_u());
        return;
      case GgufType::I64:
        put<int64_t>(out, as_i());
        return;
      case GgufType::F32:
        put<float>(out, static_cast<float>(std::get<double>(v.value)));
        return;
      case GgufType::F64:
        put<double>(out, std::get<double>(v.value));
        return;
      case GgufType::BOOL:
        put<uint8_t>(out, std::get<bool>(v.value) ? 1 : 0);
        return;
      case GgufType::STRING:
        put_string(out, std::get<std::string>(v.value));
        return;
      case GgufType::ARRAY: {
        const auto& a = std::get<GgufArray>(v.value);
        put<uint32_t>(out, static_cast<uint32_t>(a.elem_type));
        put<uint64_t>(out, a.items.size());
        for (const auto& item : a.items) {
          if (item.type != a.elem_type) {
            throw Error(fmt::format("GGUF writer: array '{}' mixes {} into an array of {}", key,
                                    gguf_type_name(item.type), gguf_type_name(a.elem_type)));
          }
          put_value(out, item, key);
        }
        return;
      }
    }
  } catch (const std::bad_variant_access&) {
  }
  throw Error(fmt::format("GGUF writer: metadata '{}' holds a value that does not match its type {}", key,
                          gguf_type_name(v.type)));
}

}  // namespace

GgufWriter::GgufWriter(std::filesystem::path path, uint32_t alignment) : path_(std::move(path)), alignment_(alignment) {
  if (alignment_ == 0 || !std::has_single_bit(alignment_)) {
    throw Error(fmt::format("GGUF writer: alignment {} is not a power of two", alignment_));
  }
}

GgufWriter::~GgufWriter() {
  if (begun_ && !finished_) {
    out_.close();
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
}

void GgufWriter::add_metadata(std::string key, GgufValue value) {
  if (begun_) throw Error("GGUF writer: metadata added after the header was written");
  if (key == kAlignmentKey) throw Error("GGUF writer: set the alignment through the constructor");
  for (const auto& [k, v] : metadata_) {
    if (k == key) throw Error(fmt::format("GGUF writer: duplicate metadata key '{}'", key));
  }
  metadata_.emplace_back(std::move(key), std::move(value));
}

void GgufWriter::add_tensor(std::string name, kernels::DType type, std::vector<uint64_t> shape) {
  if (begun_) throw Error("GGUF writer: tensor added after the header was written");
  if (shape.empty() || shape.size() > kMaxDims) {
    throw Error(fmt::format("GGUF writer: tensor '{}' has {} dimensions", name, shape.size()));
  }
  for (const auto& t : tensors_) {
    if (t.name == name) throw Error(fmt::format("GGUF writer: duplicate tensor '{}'", name));
  }
  GgufTensorInfo t;
  t.name = std::move(name);
  t.type = type;
  t.ne.assign(shape.rbegin(), shape.rend());
  const auto row = kernels::row_bytes(type, t.ne[0]);
  if (!row) {
    throw Error(fmt::format("GGUF writer: tensor '{}' row of {} elements does not fit {} blocks", t.name, t.ne[0],
                            kernels::dtype_name(type)));
  }
  uint64_t rows = 1;
  for (size_t i = 1; i < t.ne.size(); ++i) rows *= t.ne[i];
  t.nbytes = *row * rows;
  uint64_t offset = 0;
  if (!tensors_.empty()) {
    const auto& last = tensors_.back();
    offset = (last.offset + last.nbytes + alignment_ - 1) / alignment_ * alignment_;
  }
  t.offset = offset;
  tensors_.push_back(std::move(t));
}

void GgufWriter::begin() {
  if (begun_) return;
  out_.open(path_, std::ios::binary | std::ios::trunc);
  if (!out_) throw Error(fmt::format("{}: cannot create file", path_.string()));
  begun_ = true;
  put<uint32_t>(out_, kMagic);
  put<uint32_t>(out_, 3);
  put<uint64_t>(out_, tensors_.size());
  const bool custom_alignment = alignment_ != 32;
  put<uint64_t>(out_, metadata_.size() + (custom_alignment ? 1 : 0));
  if (custom_alignment) {
    put_string(out_, std::string(kAlignmentKey));
    put<uint32_t>(out_, static_cast<uint32_t>(GgufType::U32));
    put<uint32_t>(out_, alignment_);
  }
  for (const auto& [key, value] : metadata_) {
    put_string(out_, key);
    put<uint32_t>(out_, static_cast<uint32_t>(value.type));
    put_value(out_, value, key);
  }
  for (const auto& t : tensors_) {
    put_string(out_, t.name);
    put<uint32_t>(out_, static_cast<uint32_t>(t.ne.size()));
    for (uint64_t ne : t.ne) put<uint64_t>(out_, ne);
    put<uint32_t>(out_, static_cast<uint32_t>(t.type));
    put<uint64_t>(out_, t.offset);
  }
  const auto header_end = static_cast<uint64_t>(out_.tellp());
  const std::string pad(align_up(header_end, alignment_) - header_end, '\0');
  out_.write(pad.data(), static_cast<std::streamsize>(pad.size()));
  if (!out_) throw Error(fmt::format("{}: write failed", path_.string()));
}

void GgufWriter::write_tensor(std::string_view name, std::span<const std::byte> data) {
  if (next_tensor_ < tensors_.size() && tensors_[next_tensor_].name == name && tensor_written_ == 0 &&
      data.size() != tensors_[next_tensor_].nbytes) {
    throw Error(fmt::format("GGUF writer: tensor '{}' needs {} bytes, got {}", name, tensors_[next_tensor_].nbytes,
                            data.size()));
  }
  write_tensor_chunk(name, data);
}

void GgufWriter::write_tensor_chunk(std::string_view name, std::span<const std::byte> chunk) {
  begin();
  if (next_tensor_ >= tensors_.size()) throw Error(fmt::format("GGUF writer: tensor '{}' was not declared", name));
  const auto& t = tensors_[next_tensor_];
  if (t.name != name) {
    throw Error(fmt::format("GGUF writer: expected tensor '{}' next, got '{}'", t.name, name));
  }
  if (chunk.size() > t.nbytes - tensor_written_) {
    throw Error(fmt::format("GGUF writer: tensor '{}' needs {} bytes, got more", t.name, t.nbytes));
  }
  if (tensor_written_ == 0) {
    const std::string pad(t.offset - written_, '\0');
    out_.write(pad.data(), static_cast<std::streamsize>(pad.size()));
    written_ = t.offset;
  }
  out_.write(reinterpret_cast<const char*>(chunk.data()), static_cast<std::streamsize>(chunk.size()));
  if (!out_) throw Error(fmt::format("{}: write failed (disk full?)", path_.string()));
  tensor_written_ += chunk.size();
  written_ += chunk.size();
  if (tensor_written_ == t.nbytes) {
    ++next_tensor_;
    tensor_written_ = 0;
  }
}

void GgufWriter::finish() {
  begin();
  if (next_tensor_ != tensors_.size()) {
    throw Error(
        fmt::format("GGUF writer: only {} of {} tensors were written completely", next_tensor_, tensors_.size()));
  }
  out_.close();
  if (!out_) throw Error(fmt::format("{}: write failed", path_.string()));
  finished_ = true;
}

}  // namespace gemma4::formats
