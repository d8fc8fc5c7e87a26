// cli/new_store.h — a failed run must not leave a new, empty store behind.
//
// `ingest` and `emit` create their directory if it is missing, so a mistyped
// path starts a second store. What can be checked without the disk is checked
// before the store is opened (flags, keys, --json text); what needs the open
// store (a bad first line of stdin, an unknown entity type) fails after Open
// has created the directory. RunRemovingNewStore undoes that creation.
#ifndef QUIPU_CLI_NEW_STORE_H_
#define QUIPU_CLI_NEW_STORE_H_

#include <functional>
#include <string>

#include "quipu/status.h"

namespace quipu::cli {

// Runs `verb`, which opens (creating if missing) the store in `dir` and
// closes it before returning. If `dir` did not exist before and `verb`
// fails, removes what the run left there, but only if that is an empty
// store: nothing but files quipu creates (IsLogFileName) and
// not one record. Otherwise, or if removing fails, everything stays.
// Returns `verb`'s status either way.
Status RunRemovingNewStore(const std::string& dir, const std::function<Status()>& verb);

}  // namespace quipu::cli

#endif  // QUIPU_CLI_NEW_STORE_H_
