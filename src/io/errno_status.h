// io/errno_status.h — the one place an errno becomes a Status.
//
// Internal to the io layer: the POSIX Env reports real failures through it,
// and the fault-injecting Env reports simulated ones the same way, so callers
// cannot tell an injected ENOSPC from a real one.
#ifndef QUIPU_IO_ERRNO_STATUS_H_
#define QUIPU_IO_ERRNO_STATUS_H_

#include <string_view>

#include "quipu/status.h"

namespace quipu {

// ENOSPC and EDQUOT give Status::NoSpace, anything else Status::IOError; both
// keep `err`. The message is "<op> <path>: <strerror(err)>", e.g.
// "fdatasync /data/log/00000001.qlog: Input/output error", except for ELOOP,
// which the Env gets when a store file is a symbolic link (it opens with
// O_NOFOLLOW): "<path> is a symbolic link; refusing to follow it".
Status ErrnoStatus(std::string_view op, std::string_view path, int err);

}  // namespace quipu

#endif  // QUIPU_IO_ERRNO_STATUS_H_
