// json/input.h — the one parser for the JSON quipu reads from outside: events,
// schemas, queries and json values, whether they come from the CLI (emit,
// define-type, query arguments) or from HTTP request bodies (quipu serve).
//
// The input is untrusted and arbitrary (a line of up to 1 MiB), so its rules
// are enforced while parsing, by a SAX handler, before anything that
// recurses (serializing, comparing, copying) walks the document:
//   - arrays and objects nest at most kMaxJsonDepth levels, counting the
//     document's own top level;
//   - no object holds a key twice (the last would silently win, and a
//     canonical form cannot hold both);
//   - every number passes quipu::ParseNumber (finite binary64, integers
//     exact).
// The stricter library check on write (audit/json_check.h) can then never
// refuse a value this parser accepted, and no exception leaves it.
#ifndef QUIPU_JSON_INPUT_H_
#define QUIPU_JSON_INPUT_H_

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "quipu/status.h"

namespace quipu::json {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

// Parses one JSON document under the rules above. Errors, all
// InvalidArgument: "invalid JSON in <what>: ..." for a syntax error (with
// its position) or trailing garbage; "<what>: nested deeper than 512
// levels", "<what>: duplicate key \"k\"" and ParseNumber's message (with
// "<what>: " before it) for the rules.
Result<Json> ParseJson(std::string_view text, std::string_view what);

// The form json values are stored and compared in: compact, object keys
// sorted (nlohmann::json keeps them sorted), numbers as parsed. Two
// documents that differ only in spacing or key order give the same text.
std::string CanonicalJson(const Json& value);

}  // namespace quipu::json

#endif  // QUIPU_JSON_INPUT_H_
