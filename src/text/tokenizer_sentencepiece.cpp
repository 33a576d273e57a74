// tokenizer.model: a SentencePiece ModelProto (sentencepiece_model.proto),
// read with a small protobuf wire-format reader of our own (Debian's
// libsentencepiece-dev ships no ModelProto header, and we only need a few
// fields). Only BPE models with the normaliser Gemma uses are accepted:
// identity mapping, no dummy prefix, whitespace kept and escaped as "▁".
#include "src/text/tokenizer.hpp"

#include "src/text/tokenizer_internal.hpp"

#include <gemma4/error.hpp>

#include <fmt/format.h>

#include <cstring>

namespace gemma4::text {

namespace {

// Field numbers from sentencepiece_model.proto.
constexpr std::uint32_t kModelPieces = 1, kModelTrainerSpec = 2, kModelNormalizerSpec = 3;
constexpr std::uint32_t kPieceText = 1, kPieceScore = 2, kPieceType = 3;
constexpr std::uint32_t kTrainerModelType = 3, kTrainerTreatWhitespaceAsSuffix = 24, kTrainerByteFallback = 35,
                        kTrainerUnkId = 40, kTrainerBosId = 41, kTrainerEosId = 42, kTrainerPadId = 43;
constexpr std::uint32_t kNormName = 1, kNormCharsmap = 2, kNormAddDummyPrefix = 3, kNormRemoveExtraSpaces = 4,
                        kNormEscapeSpaces = 5;
constexpr std::uint64_t kModelTypeBpe = 2;

enum WireType : std::uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

// One field of a message: its number, wire type and value (an integer for
// varint/fixed, the bytes for length-delimited).
struct Field {
  std::uint32_t number = 0;
  std::uint32_t wire = 0;
  std::uint64_t value = 0;
  std::string_view bytes;
};

// Walks the fields of one protobuf message, checking every length against
// what is left, so a corrupt file ends in an Error, never in a read past the end.
class WireReader {
 public:
  WireReader(std::string_view data, const std::string& source, std::string what)
      : data_(data), source_(source), what_(std::move(what)) {}

  bool next(Field& f) {
    if (pos_ == data_.size()) return false;
    const std::uint64_t key = varint();
    f.number = static_cast<std::uint32_t>(key >> 3);
    f.wire = static_cast<std::uint32_t>(key & 7);
    if (f.number == 0 || key >> 32 != 0) fail("invalid field number");
    switch (f.wire) {
      case kVarint:
        f.value = varint();
        break;
      case kFixed64:
        f.value = fixed(8);
        break;
      case kFixed32:
        f.value = fixed(4);
        break;
      case kLengthDelimited: {
        const std::uint64_t size = varint();
        if (size > data_.size() - pos_) fail(fmt::format("field {} is longer than the data left", f.number));
        f.bytes = data_.substr(pos_, static_cast<std::size_t>(size));
        pos_ += static_cast<std::size_t>(size);
        break;
      }
      default:
        fail(fmt::format("field {} has unsupported wire type {}", f.number, f.wire));
    }
    return true;
  }

  [[noreturn]] void fail(const std::string& why) const {
    throw Error(fmt::format("{}: corrupt SentencePiece model ({} at byte {}): {}", source_, what_, pos_, why));
  }

  // Checks that a field has the wire type its declaration implies.
  void expect(const Field& f, std::uint32_t wire) const {
    if (f.wire != wire) fail(fmt::format("field {} has wire type {}, expected {}", f.number, f.wire, wire));
  }

 private:
  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ == data_.size()) fail("truncated varint");
      const auto b = static_cast<std::uint8_t>(data_[pos_++]);
      v |= static_cast<std::uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    fail("varint longer than 10 bytes");
  }

  std::uint64_t fixed(std::size_t n) {
    if (data_.size() - pos_ < n) fail("truncated fixed-size field");
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i)
      v |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(data_[pos_ + i])) << (8 * i);
    pos_ += n;
    return v;
  }

  std::string_view data_;
  std::size_t pos_ = 0;
  const std::string& source_;
  std::string what_;  // which message this is, for error messages
};

TokenKind piece_kind(std::uint64_t type, const WireReader& r) {
  if (type < 1 || type > 6) r.fail(fmt::format("piece type {} is not one of 1..6", type));
  return static_cast<TokenKind>(type);
}

// An int32 field: protobuf writes negative values as 10-byte varints.
std::int32_t as_int32(std::uint64_t v) {
  return static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
}

}  // namespace

Tokenizer Tokenizer::from_sentencepiece(const std::filesystem::path& path) {
  return from_sentencepiece_bytes(detail::read_tokenizer_file(path), path.string());
}

Tokenizer Tokenizer::from_sentencepiece_bytes(std::string_view bytes, const std::string& source) {
  TokenizerData data;
  data.source = source;
  std::vector<float> scores;
  // SentencePiece's defaults for fields a file leaves out.
  std::uint64_t model_type = 1;  // UNIGRAM
  bool byte_fallback = false, add_dummy_prefix = true, remove_extra_spaces = true, escape_spaces = true;
  bool suffix_spaces = false;
  std::int32_t bos = 1, eos = 2, pad = -1;
  std::string_view charsmap;

  WireReader model(bytes, source, "ModelProto");
  Field f;
  while (model.next(f)) {
    if (f.number == kModelPieces) {
      model.expect(f, kLengthDelimited);
      WireReader piece(f.bytes, source, fmt::format("piece {}", data.pieces.size()));
      std::string text;
      float score = 0;
      TokenKind kind = TokenKind::kNormal;
      Field p;
      while (piece.next(p)) {
        if (p.number == kPieceText) {
          piece.expect(p, kLengthDelimited);
          text = p.bytes;
        } else if (p.number == kPieceScore) {
          piece.expect(p, kFixed32);
          const auto bits = static_cast<std::uint32_t>(p.value);
          std::memcpy(&score, &bits, sizeof score);
        } else if (p.number == kPieceType) {
          piece.expect(p, kVarint);
          kind = piece_kind(p.value, piece);
        }
      }
      data.pieces.push_back(std::move(text));
      data.kinds.push_back(kind);
      scores.push_back(score);
    } else if (f.number == kModelTrainerSpec) {
      model.expect(f, kLengthDelimited);
      WireReader spec(f.bytes, source, "trainer_spec");
      Field t;
      while (spec.next(t)) {
        if (t.wire != kVarint) continue;  // strings and floats: nothing we need
        switch (t.number) {
          case kTrainerModelType:
            model_type = t.value;
            break;
          case kTrainerTreatWhitespaceAsSuffix:
            suffix_spaces = t.value != 0;
            break;
          case kTrainerByteFallback:
            byte_fallback = t.value != 0;
            break;
          case kTrainerUnkId:
            data.unk_id = as_int32(t.value);
            break;
          case kTrainerBosId:
            bos = as_int32(t.value);
            break;
          case kTrainerEosId:
            eos = as_int32(t.value);
            break;
          case kTrainerPadId:
            pad = as_int32(t.value);
            break;
          default:
            break;
        }
      }
    } else if (f.number == kModelNormalizerSpec) {
      model.expect(f, kLengthDelimited);
      WireReader norm(f.bytes, source, "normalizer_spec");
      Field n;
      while (norm.next(n)) {
        if (n.number == kNormCharsmap && n.wire == kLengthDelimited) charsmap = n.bytes;
        if (n.wire != kVarint) continue;
        if (n.number == kNormAddDummyPrefix) add_dummy_prefix = n.value != 0;
        if (n.number == kNormRemoveExtraSpaces) remove_extra_spaces = n.value != 0;
        if (n.number == kNormEscapeSpaces) escape_spaces = n.value != 0;
      }
    }
  }

  const auto unsupported = [&](const std::string& what) {
    throw Error(fmt::format("{}: unsupported SentencePiece model: {}", source, what));
  };
  if (data.pieces.empty()) unsupported("it has no pieces (is this a SentencePiece model file?)");
  if (model_type != kModelTypeBpe)
    unsupported(fmt::format("model type {} (only BPE, type 2, is supported)", model_type));
  if (add_dummy_prefix) unsupported("add_dummy_prefix is on (Gemma adds no prefix space)");
  if (remove_extra_spaces) unsupported("remove_extra_whitespaces is on (Gemma keeps every space)");
  if (!charsmap.empty()) unsupported("the normalizer has a character map (Gemma's is the identity)");
  if (suffix_spaces) unsupported("treat_whitespace_as_suffix is on");

  const auto n = static_cast<std::int32_t>(data.pieces.size());
  const auto in_range = [&](std::int32_t id) {
    return id >= 0 && id < n ? std::optional<std::int32_t>(id) : std::nullopt;
  };
  data.bos_id = in_range(bos);
  data.eos_id = in_range(eos);
  data.pad_id = in_range(pad);
  if (data.unk_id) data.unk_id = in_range(*data.unk_id);
  data.byte_fallback = byte_fallback;
  data.escape_spaces = escape_spaces;
  data.merges = merges_from_scores(data.pieces, scores);
  return Tokenizer(std::move(data));
}

}  // namespace gemma4::text
