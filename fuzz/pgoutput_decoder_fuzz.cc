// libFuzzer target for the pgoutput decoder. The input is a sequence of messages, each
// prefixed by a 2-byte big-endian length, decoded by one Decoder so that the relation cache
// and the stream state carry across messages as they do on a real connection. Any input must
// decode or fail with a Status; crashes, leaks and undefined behaviour are bugs.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pg/pgoutput.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pg2iceberg::pg::Decoder decoder;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  while (in.size() >= 2) {
    size_t len = (static_cast<uint8_t>(in[0]) << 8) | static_cast<uint8_t>(in[1]);
    in.remove_prefix(2);
    if (len > in.size()) len = in.size();
    auto msg = decoder.Decode(in.substr(0, len));
    if (msg.ok()) {
      // Touch the result so the decoder's output is fully materialised.
      if (const auto* ins = std::get_if<pg2iceberg::pg::InsertMsg>(&*msg)) {
        volatile size_t n = ins->new_tuple.size();
        (void)n;
      }
    }
    in.remove_prefix(len);
  }
  return 0;
}
