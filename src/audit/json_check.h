// audit/json_check.h — a strict structural JSON validator.
//
// json-kind values are stored as the text the caller gave; the store only
// has to be sure that text is one well-formed JSON value (RFC 8259), so that
// every reader can parse what it gets back. No DOM is built.
#ifndef QUIPU_AUDIT_JSON_CHECK_H_
#define QUIPU_AUDIT_JSON_CHECK_H_

#include <string_view>

#include "quipu/status.h"

namespace quipu::audit {

// OK if `text` is exactly one JSON value with optional surrounding
// whitespace. Strings must be valid escapes with no raw control characters;
// nesting deeper than 512 levels is refused. Else InvalidArgument saying
// what is wrong and at which byte.
Status CheckJson(std::string_view text);

}  // namespace quipu::audit

#endif  // QUIPU_AUDIT_JSON_CHECK_H_
