// cli/common.h — helpers shared by the `quipu` verbs.
//
// Verbs are thin: each parses its flags, calls library functions and prints.
// What they share lives here: how a verb's outcome reaches main() (which turns
// it into the exit code), the --durability flag, the check every unsigned
// number on the command line goes through, and a buffered writer that
// writes straight to a file descriptor, because ingest and dump print one line
// per record and must keep up with the log.
#ifndef QUIPU_CLI_COMMON_H_
#define QUIPU_CLI_COMMON_H_

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "quipu/options.h"
#include "quipu/status.h"
#include "util/hex.h"

namespace quipu::cli {

// The verb that ran and how it ended. main() prints a failure as
// "quipu <verb>: <status>" and exits 1.
struct VerbOutcome {
  std::string verb;  // empty if no verb ran; "token create" for a nested one
  Status status;
};

// The outcome recorded by the verb that ran in this process.
const VerbOutcome& LastOutcome();

// Makes `action` the body of subcommand `verb`; its Status becomes LastOutcome().
void SetAction(CLI::App* verb, std::function<Status()> action);

// The first non-OK of the two, else OK: for cleanup steps that must run
// even after an error without hiding it.
inline Status FirstError(const Status& a, const Status& b) { return a.ok() ? b : a; }

// Adds `--durability POLICY` to `verb`, stored in `*spec` (default "always").
// Spellings DurabilityPolicy::Parse rejects are usage errors.
void AddDurabilityFlag(CLI::App* verb, std::string* spec);

// The check for every unsigned number a verb takes (flag or positional):
// plain decimal digits, at most 20 of them, with a value in [min, max].
// Anything else ("-1", "+5", " 5", "0x10", "1e3", a value past `max`) is a
// usage error naming the option. CLI11 alone would convert with strtoull,
// which wraps "-1" to 2^64 - 1, reads "010" as octal and saturates on
// overflow: so `->check(Unsigned(...))` goes on every unsigned option, and
// `max` must fit the option's type.
CLI::Validator Unsigned(uint64_t min = 0, uint64_t max = std::numeric_limits<uint64_t>::max());

// Creates directory `path` and any missing parents through Env::Default(),
// like `mkdir -p`: OK if it already exists as a directory.
Status CreateDirectories(const std::string& path);

// True if `text` is well-formed UTF-8 (no overlong forms, surrogates or code
// points above U+10FFFF), i.e. JSON can carry it as a string.
bool IsValidUtf8(std::string_view text);

using quipu::HexEncode;  // util/hex.h: lower-case hex of bytes

// `text` made safe to print on a terminal: control characters (C0, DEL and
// C1) and bytes that are not UTF-8 become escapes, so stored text can neither
// forge a line nor drive the terminal. Plain style: "\n", "\t", "\r",
// "\x1b", "\u0085" (a C1 code point), "\xff" (a stray byte), and '\'
// itself becomes "\\" so an escape cannot be faked. JSON style, for text
// that is already JSON: control characters become "\u00XX" (valid inside a
// JSON string, where they can only be) and '\' is left alone.
enum class EscapeStyle { kPlain, kJson };
std::string EscapeControls(std::string_view text, EscapeStyle style = EscapeStyle::kPlain);

// Lays out `rows` (the first one is the header) in columns separated by two
// spaces: the first column left-aligned, the others right-aligned, except
// that the last column is left-aligned when `text_last` is set (free text).
// Every cell goes through EscapeControls, so no table prints a raw control
// character whatever the data; cells of column `json_column` hold JSON and
// are escaped in JSON style.
inline constexpr size_t kNoJsonColumn = static_cast<size_t>(-1);
std::string FormatTable(const std::vector<std::vector<std::string>>& rows, bool text_last,
                        size_t json_column = kNoJsonColumn);

// Collects output in memory and writes it to `fd` in large write(2) calls:
// when more than `flush_at` bytes are pending, and on Flush(). Not thread
// safe; callers that share one add their own lock.
class FdWriter {
 public:
  explicit FdWriter(int fd, size_t flush_at = 1 << 20);
  FdWriter(const FdWriter&) = delete;
  FdWriter& operator=(const FdWriter&) = delete;

  // The first write error, if any, sticks: later calls keep returning it.
  Status Write(std::string_view text);
  // Writes "<word> <number>\n", the shape of ingest's progress lines.
  Status WriteNumberLine(std::string_view word, uint64_t number);
  Status Flush();

 private:
  Status MaybeFlush();

  int fd_;
  size_t flush_at_;
  std::string pending_;
  Status error_;
};

// Writes `text` to stdout at once (FdWriter, flushed).
Status PrintStdout(const std::string& text);

}  // namespace quipu::cli

#endif  // QUIPU_CLI_COMMON_H_
