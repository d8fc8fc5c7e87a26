// audit/json_check.h — a strict structural JSON validator.
//
// json-kind values are stored as the text the caller gave; the store only
// has to be sure that text is one well-formed JSON value (RFC 8259), so that
// every reader can parse what it gets back, and parses it to the same
// document. No DOM is built.
#ifndef QUIPU_AUDIT_JSON_CHECK_H_
#define QUIPU_AUDIT_JSON_CHECK_H_

#include <string_view>

#include "quipu/status.h"

namespace quipu::audit {

// OK if `text` is exactly one JSON value with optional surrounding
// whitespace. Strings must be valid escapes with no raw control characters;
// arrays and objects may nest at most kMaxJsonDepth levels (so the
// recursion here is bounded); an object may not hold two equal keys (after
// unescaping: readers disagree on which one wins); numbers must pass
// ParseNumber (quipu/audit_types.h). Else InvalidArgument saying what is
// wrong and at which byte.
Status CheckJson(std::string_view text);

}  // namespace quipu::audit

#endif  // QUIPU_AUDIT_JSON_CHECK_H_
