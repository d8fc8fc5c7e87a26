// util/status.cc — printable forms of Status.
#include "quipu/status.h"

#include <string>
#include <string_view>

namespace quipu {

std::string_view CodeName(Status::Code code) {
  switch (code) {
    case Status::Code::kOk:
      return "OK";
    case Status::Code::kInvalidArgument:
      return "Invalid argument";
    case Status::Code::kNotFound:
      return "Not found";
    case Status::Code::kCorruption:
      return "Corruption";
    case Status::Code::kNotSupported:
      return "Not supported";
    case Status::Code::kIOError:
      return "IO error";
    case Status::Code::kNoSpace:
      return "No space";
    case Status::Code::kBusy:
      return "Busy";
    case Status::Code::kFailedPrecondition:
      return "Failed precondition";
    case Status::Code::kConflict:
      return "Conflict";
  }
  // Only reachable with a value cast from outside the enum; still printable.
  return "Unknown code";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out(CodeName(code_));
  if (!message_.empty()) {
    out += ": ";
    out += message_;
  }
  return out;
}

Status Status::WithContext(std::string_view context) const {
  // OK has no message to prefix, and a context must never turn success into failure.
  if (ok()) return *this;
  std::string msg(context);
  msg += ": ";
  msg += message_;
  return Status(code_, std::move(msg), errno_);
}

}  // namespace quipu
