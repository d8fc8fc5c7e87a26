// util/quote.h — user input quoted into an error message.
//
// Messages end up on one line of a terminal or a log, and are printed as C
// strings: an input echoed raw can bury the message (a 100 KB name), break
// the line (a newline) or cut it short (a NUL). Every message that repeats
// something a caller supplied quotes it with QuoteInput.
#ifndef QUIPU_UTIL_QUOTE_H_
#define QUIPU_UTIL_QUOTE_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace quipu {

// Input bytes shown before QuoteInput cuts the rest off.
inline constexpr size_t kQuoteMaxBytes = 64;

// `input` between single quotes, with control bytes (NUL included), DEL, '\''
// and '\\' written as \xNN, \' and \\ so the result is one printable line
// that never holds a NUL. Longer inputs show their first `max_bytes` bytes
// (fewer if that would split a UTF-8 sequence) followed by "…(N bytes)",
// N being the input's full length.
std::string QuoteInput(std::string_view input, size_t max_bytes = kQuoteMaxBytes);

}  // namespace quipu

#endif  // QUIPU_UTIL_QUOTE_H_
