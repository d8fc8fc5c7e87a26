// quipu/status.h — errors as values.
//
// Every fallible quipu operation returns a Status (or a Result<T>, which holds
// either a T or a non-OK Status). Both are [[nodiscard]]: ignoring one is a
// compile warning, because an ignored I/O error is how durable systems lose data.
//
// Codes are chosen by what the caller can do about them:
//   kInvalidArgument     the request is wrong; retrying it will fail again.
//   kNotFound            the named thing does not exist.
//   kCorruption          bytes on disk are not what quipu wrote; a human must look.
//   kNotSupported        the file is valid but from a newer format version.
//   kIOError             the OS failed an operation; see message and errno().
//   kNoSpace             the device is full (ENOSPC); retry after freeing space.
//   kBusy                another process holds the log's lock.
//   kFailedPrecondition  the object is in a state that forbids the call
//                        (closed log, poisoned log).
//   kConflict            the request contradicts an earlier one, e.g. an
//                        idempotency key reused for a different event;
//                        retrying it will fail again.
//
// Thread safety: Status and Result are values; distinct objects may be used
// from different threads freely, a shared one only for reading.
#ifndef QUIPU_STATUS_H_
#define QUIPU_STATUS_H_

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace quipu {

class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk = 0,
    kInvalidArgument,
    kNotFound,
    kCorruption,
    kNotSupported,
    kIOError,
    kNoSpace,
    kBusy,
    kFailedPrecondition,
    kConflict,
  };

  Status() = default;  // OK

  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string msg) {
    return Status(Code::kInvalidArgument, std::move(msg));
  }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status Corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  static Status NotSupported(std::string msg) {
    return Status(Code::kNotSupported, std::move(msg));
  }
  // `err` is the errno that caused the failure, kept for callers that branch on it.
  static Status IOError(std::string msg, int err = 0) {
    return Status(Code::kIOError, std::move(msg), err);
  }
  static Status NoSpace(std::string msg, int err = 0) {
    return Status(Code::kNoSpace, std::move(msg), err);
  }
  static Status Busy(std::string msg) { return Status(Code::kBusy, std::move(msg)); }
  static Status FailedPrecondition(std::string msg) {
    return Status(Code::kFailedPrecondition, std::move(msg));
  }
  static Status Conflict(std::string msg) { return Status(Code::kConflict, std::move(msg)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  int sys_errno() const { return errno_; }

  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsNoSpace() const { return code_ == Code::kNoSpace; }
  bool IsIOError() const { return code_ == Code::kIOError; }

  // "IO error: fdatasync 00000000000000000001.qlog: Input/output error".
  std::string ToString() const;

  // Returns a copy whose message is "<context>: <message>".
  Status WithContext(std::string_view context) const;

 private:
  Status(Code code, std::string msg, int err = 0)
      : code_(code), errno_(err), message_(std::move(msg)) {}

  Code code_ = Code::kOk;
  int errno_ = 0;
  std::string message_;
};

std::string_view CodeName(Status::Code code);

// Holds a T on success or a non-OK Status on failure.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(v_).ok() && "Result built from an OK Status has no value");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  // The error; OK when the Result holds a value.
  Status status() const { return ok() ? Status::OK() : std::get<Status>(v_); }

  T& value() & {
    assert(ok());
    return std::get<T>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<T>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<T>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace quipu

// Early-return helpers for code that propagates errors unchanged.
#define QUIPU_RETURN_IF_ERROR(expr)                \
  do {                                             \
    ::quipu::Status quipu_status_ = (expr);        \
    if (!quipu_status_.ok()) return quipu_status_; \
  } while (0)

#endif  // QUIPU_STATUS_H_
