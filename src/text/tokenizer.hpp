// Gemma 4's tokenizer: BPE over UTF-8 characters with byte fallback, spaces
// written as "▁" (U+2581), no prefix space, special tokens as single ids.
//
// One implementation behind three sources (docs/tokenizer.md):
//   - tokenizer.model: a SentencePiece ModelProto (BPE); the merge list is
//     derived from the piece scores the way transformers converts such a model;
//   - tokenizer.json: Hugging Face `tokenizers` (vocab + merges + added tokens);
//   - GGUF tokenizer metadata (tokenizer.ggml.* arrays, as llama.cpp writes them).
// Encoding follows Hugging Face `tokenizers` exactly (merge ranks, leftmost on
// ties); tests/text/tokenizer_test.cpp checks every id against it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace gemma4::formats {
class GgufFile;
}

namespace gemma4::text {

// What a vocabulary entry is. The numbering is SentencePiece's and GGUF's
// token_type (1..6).
enum class TokenKind : std::uint8_t {
  kNormal = 1,       // an ordinary piece: characters and merges produce it
  kUnknown = 2,      // <unk>
  kControl = 3,      // a special token: <bos>, <|turn>, ...
  kUserDefined = 4,  // always matched as a whole in the input, never split or merged
  kUnused = 5,       // never produced by encoding
  kByte = 6,         // <0xXX>: one raw byte, for characters without a piece
};

// True for the tokens that user text can only produce when the caller asks
// (EncodeOptions::parse_special) and that decoding may skip: control and unknown.
constexpr bool is_special_kind(TokenKind kind) {
  return kind == TokenKind::kControl || kind == TokenKind::kUnknown;
}

struct EncodeOptions {
  // false (default): special-token text such as "<|turn>" in the input is
  // ordinary text and is split into ordinary pieces, so user input can never
  // forge a turn or a tool call. true: such text becomes the special token's id.
  bool parse_special = false;
};

struct DecodeOptions {
  bool skip_special = false;  // leave out control and unknown tokens
};

// The tokenizer arrays of a GGUF file (tokenizer.ggml.*), as plain vectors, so
// that whoever reads the GGUF file hands them over without this layer knowing
// the file format. Empty vectors mean "key absent".
struct GgufTokenizerData {
  std::string model;                      // tokenizer.ggml.model: "gemma4" (BPE + merges) or "llama" (scores)
  std::vector<std::string> tokens;        // tokenizer.ggml.tokens
  std::vector<float> scores;              // tokenizer.ggml.scores
  std::vector<std::int32_t> token_types;  // tokenizer.ggml.token_type (1..6, as TokenKind)
  std::vector<std::string> merges;        // tokenizer.ggml.merges: "left right"
  std::optional<std::int64_t> bos_id, eos_id, pad_id, unk_id;  // tokenizer.ggml.*_token_id
  bool add_space_prefix = false;                               // tokenizer.ggml.add_space_prefix
};

// Reads the tokenizer.ggml.* keys of a parsed GGUF file; Error naming the key
// when one is missing or of the wrong type.
GgufTokenizerData gguf_tokenizer_data(const formats::GgufFile& file);

// Everything a loader extracts; the Tokenizer is built from this.
struct TokenizerData {
  std::string source;  // file name or "GGUF metadata": named in error messages
  std::vector<std::string> pieces;
  std::vector<TokenKind> kinds;
  // Merge list in rank order (first = applied first), as pairs of piece ids.
  std::vector<std::pair<std::int32_t, std::int32_t>> merges;
  bool byte_fallback = true;  // characters without a piece become <0xXX> tokens (else <unk>)
  bool escape_spaces = true;  // " " is written "▁" before lookup
  std::optional<std::int32_t> bos_id, eos_id, pad_id, unk_id;
};

class Tokenizer {
 public:
  // Each loader throws gemma4::Error naming the file and the problem.
  static Tokenizer from_sentencepiece(const std::filesystem::path& path);
  static Tokenizer from_sentencepiece_bytes(std::string_view bytes, const std::string& source = "tokenizer.model");
  static Tokenizer from_hf_json(const std::filesystem::path& path);
  static Tokenizer from_hf_json_text(std::string_view json, const std::string& source = "tokenizer.json");
  static Tokenizer from_gguf(const GgufTokenizerData& data);
  // A model folder: tokenizer.model when present, else tokenizer.json.
  static Tokenizer from_directory(const std::filesystem::path& dir);

  explicit Tokenizer(TokenizerData data);
  // Move-only: the lookup tables point into the piece strings.
  Tokenizer(Tokenizer&&) = default;
  Tokenizer& operator=(Tokenizer&&) = default;
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Text (any bytes: ill-formed UTF-8 becomes byte tokens) to ids. No <bos> is
  // added: the chat renderer places it.
  std::vector<std::int32_t> encode(std::string_view text, EncodeOptions options = {}) const;

  // Ids to text, as Hugging Face decodes them: "▁" becomes " ", runs of byte
  // tokens are joined into UTF-8, and a run that is not valid UTF-8 becomes one
  // U+FFFD per byte. The result is always valid UTF-8. Throws for ids outside
  // the vocabulary.
  std::string decode(std::span<const std::int32_t> ids, DecodeOptions options = {}) const;

  // The bytes one token stands for (a byte token: its single byte, which alone
  // may not be valid UTF-8; others: the piece with "▁" as " "). For streaming:
  // concatenate and emit only complete UTF-8 characters.
  std::string token_bytes(std::int32_t id) const;

  std::int32_t vocab_size() const { return static_cast<std::int32_t>(pieces_.size()); }
  const std::string& piece(std::int32_t id) const;  // the vocabulary entry as stored
  TokenKind kind(std::int32_t id) const;
  bool is_special(std::int32_t id) const { return is_special_kind(kind(id)); }
  std::optional<std::int32_t> piece_id(std::string_view piece) const;  // any entry, first id wins
  // A control, unknown or user-defined token by its text, e.g. "<|turn>" -> 105.
  std::optional<std::int32_t> special_id(std::string_view text) const;

  std::optional<std::int32_t> bos_id() const { return bos_id_; }
  std::optional<std::int32_t> eos_id() const { return eos_id_; }
  std::optional<std::int32_t> pad_id() const { return pad_id_; }
  std::optional<std::int32_t> unk_id() const { return unk_id_; }

  // The merge list in rank order, without merges into or out of special tokens
  // (for tests and tools).
  const std::vector<std::pair<std::int32_t, std::int32_t>>& merges() const { return merges_; }

 private:
  struct MergeResult {
    std::int32_t rank;
    std::int32_t id;
  };
  struct WholeToken {  // a token matched as a whole in the input
    std::string_view text;
    std::int32_t id;
    bool special;  // only matched when EncodeOptions::parse_special
  };

  void encode_text(std::string_view text, std::vector<std::int32_t>& out) const;
  void apply_merges(std::vector<std::int32_t>& symbols) const;
  const WholeToken* match_whole(std::string_view text, std::size_t pos, bool parse_special) const;
  void check_id(std::int32_t id) const;

  std::string source_;
  std::vector<std::string> pieces_;
  std::vector<TokenKind> kinds_;
  std::vector<std::pair<std::int32_t, std::int32_t>> merges_;
  std::unordered_map<std::string_view, std::int32_t> piece_ids_;   // every entry, first id wins
  std::unordered_map<std::string_view, std::int32_t> normal_ids_;  // normal entries: characters
  std::unordered_map<std::uint64_t, MergeResult> merge_map_;       // (left << 32 | right)
  std::vector<WholeToken> whole_tokens_;
  std::unordered_map<std::string_view, std::size_t> whole_index_;  // text -> whole_tokens_ index
  std::vector<std::size_t> whole_lengths_[256];  // per first byte: the lengths of its tokens, longest first
  std::int32_t byte_ids_[256];
  std::vector<std::uint8_t> byte_value_;  // per id; for kByte tokens
  bool byte_fallback_ = true;
  bool escape_spaces_ = true;
  std::optional<std::int32_t> bos_id_, eos_id_, pad_id_, unk_id_;
};

// Decodes ids as they arrive (generation): the concatenated outputs of push()
// and finish() equal decode() of all the ids. A run of byte tokens is held back
// until a non-byte token (or finish) ends it, because decode() turns a run
// that is not valid UTF-8 into U+FFFD per byte.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, DecodeOptions options = {})
      : tokenizer_(&tokenizer), options_(options) {}
  std::string push(std::int32_t id);  // text now complete; throws for an id outside the vocabulary
  std::string finish();               // whatever is held back

 private:
  const Tokenizer* tokenizer_;
  DecodeOptions options_;
  std::string bytes_;  // the current run of byte tokens
};

// The merge list a scored vocabulary implies (SentencePiece BPE models carry
// scores, not merges), built the way transformers converts such a model to
// tokenizer.json (generate_merges): every split of a piece, between two
// characters, into two pieces; ordered by the merged piece's score (highest
// first), then by the length of the left half (longest first), else by piece
// id and then by the ids of the halves. A repeated piece counts at its first id.
std::vector<std::pair<std::int32_t, std::int32_t>> merges_from_scores(const std::vector<std::string>& pieces,
                                                                      const std::vector<float>& scores);

}  // namespace gemma4::text
