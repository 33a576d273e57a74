#include <gemma4/convert.hpp>

#include "src/formats/convert.hpp"

namespace gemma4 {

ConvertSummary convert_model(const ConvertRequest& request) {
  formats::ConvertOptions options;
  options.scheme = formats::convert_scheme(request.type);
  options.progress = request.progress;
  const auto r = formats::convert_to_gguf(request.input, request.output, options);
  return {r.tensors, r.bytes};
}

}  // namespace gemma4
