// util/hex.h — lower-case hex encoding of byte strings and its strict inverse,
// for hashes, signatures and payloads shown to people and put in JSON.
#ifndef QUIPU_UTIL_HEX_H_
#define QUIPU_UTIL_HEX_H_

#include <string>
#include <string_view>

namespace quipu {

// Two lower-case hex digits per byte.
std::string HexEncode(std::string_view bytes);

// Decodes `hex` (either case) into `*out`. False, leaving `*out` unspecified,
// if its length is odd or a character is not a hex digit.
bool HexDecode(std::string_view hex, std::string* out);

}  // namespace quipu

#endif  // QUIPU_UTIL_HEX_H_
