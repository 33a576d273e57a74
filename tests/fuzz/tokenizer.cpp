// Fuzz target for the tokenizer. The first byte picks what the rest is:
//   0: text to encode with the test vocabulary (tests/data/text/tokenizer), plain
//      and with special tokens parsed; the ids must decode back to the text;
//   1: token ids (4 bytes each, little-endian) to decode;
//   2: a tokenizer.json to load;
//   3: a tokenizer.model (SentencePiece protobuf) to load.
// Bad ids and bad files must end in gemma4::Error; anything else is a bug.
#include "src/text/tokenizer.hpp"
#include "src/text/tokenizer_internal.hpp"

#include <gemma4/error.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

using gemma4::text::Tokenizer;

namespace {

const Tokenizer& test_tokenizer() {
  static const Tokenizer tok =
      Tokenizer::from_hf_json(std::string(GEMMA4_TEST_DATA_DIR) + "/text/tokenizer/tokenizer.json");
  return tok;
}

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "tokenizer fuzz: %s\n", what);
    std::abort();
  }
}

// The text as decoding gives it back: a "▁" in the input reads back as a space.
std::string spaces_for_marks(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    if (s.substr(i, 3) == "\xE2\x96\x81") {
      out += ' ';
      i += 3;
    } else {
      out += s[i++];
    }
  }
  return out;
}

// `strict`: the test vocabulary, which has every byte token and only merges
// into normal pieces, so the text must come back exactly. A fuzzed vocabulary
// may lack byte tokens (then <unk> loses text) or merge into special tokens.
void encode_and_check(const Tokenizer& tok, std::string_view text, bool strict) {
  const std::string expected = spaces_for_marks(text);
  for (const bool parse_special : {false, true}) {
    const std::vector<std::int32_t> ids = tok.encode(text, {.parse_special = parse_special});
    std::string bytes;
    for (const std::int32_t id : ids) {
      check(id >= 0 && id < tok.vocab_size(), "encode produced an id outside the vocabulary");
      check(!strict || parse_special || !tok.is_special(id), "plain text produced a special token");
      bytes += tok.token_bytes(id);
    }
    check(!strict || bytes == expected, "the token bytes do not spell the input");
    const std::string decoded = tok.decode(ids);
    check(gemma4::text::detail::is_valid_utf8(decoded), "decode produced invalid UTF-8");
    if (strict && gemma4::text::detail::is_valid_utf8(text)) check(decoded == expected, "decode(encode(text)) != text");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0] % 4) {
      case 0:
        encode_and_check(test_tokenizer(), rest, true);
        break;
      case 1: {
        std::vector<std::int32_t> ids(rest.size() / 4);
        if (!ids.empty()) std::memcpy(ids.data(), rest.data(), ids.size() * 4);
        const std::string text = test_tokenizer().decode(ids);
        check(gemma4::text::detail::is_valid_utf8(text), "decode produced invalid UTF-8");
        gemma4::text::StreamDecoder stream(test_tokenizer());
        std::string streamed;
        for (const std::int32_t id : ids) streamed += stream.push(id);
        check(streamed + stream.finish() == text, "streamed decoding differs from decode()");
        break;
      }
      case 2:
        encode_and_check(Tokenizer::from_hf_json_text(rest), "a <bos> b\xff", false);
        break;
      case 3:
        encode_and_check(Tokenizer::from_sentencepiece_bytes(rest), "a <bos> b\xff", false);
        break;
    }
  } catch (const gemma4::Error&) {
    // Bad ids or a bad file: reported, as it should be.
  }
  return 0;
}
