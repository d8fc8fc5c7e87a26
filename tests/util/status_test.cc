// Tests for quipu/status.h and util/status.cc.
#include "quipu/status.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <memory>
#include <string>

namespace quipu {
namespace {

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kOk);
  EXPECT_EQ(s.message(), "");
  EXPECT_EQ(s.sys_errno(), 0);
  EXPECT_EQ(s.ToString(), "OK");
  EXPECT_TRUE(Status::OK().ok());
}

TEST(StatusTest, ToStringNamesEachCode) {
  EXPECT_EQ(Status::InvalidArgument("m").ToString(), "Invalid argument: m");
  EXPECT_EQ(Status::NotFound("m").ToString(), "Not found: m");
  EXPECT_EQ(Status::Corruption("m").ToString(), "Corruption: m");
  EXPECT_EQ(Status::NotSupported("m").ToString(), "Not supported: m");
  EXPECT_EQ(Status::IOError("m").ToString(), "IO error: m");
  EXPECT_EQ(Status::NoSpace("m").ToString(), "No space: m");
  EXPECT_EQ(Status::Busy("m").ToString(), "Busy: m");
  EXPECT_EQ(Status::FailedPrecondition("m").ToString(), "Failed precondition: m");
  EXPECT_EQ(Status::Conflict("m").ToString(), "Conflict: m");
}

TEST(StatusTest, ToStringWithoutMessageIsJustTheName) {
  EXPECT_EQ(Status::Corruption("").ToString(), "Corruption");
}

TEST(StatusTest, CodeNameCoversEveryCode) {
  EXPECT_EQ(CodeName(Status::Code::kOk), "OK");
  EXPECT_EQ(CodeName(Status::Code::kInvalidArgument), "Invalid argument");
  EXPECT_EQ(CodeName(Status::Code::kNotFound), "Not found");
  EXPECT_EQ(CodeName(Status::Code::kCorruption), "Corruption");
  EXPECT_EQ(CodeName(Status::Code::kNotSupported), "Not supported");
  EXPECT_EQ(CodeName(Status::Code::kIOError), "IO error");
  EXPECT_EQ(CodeName(Status::Code::kNoSpace), "No space");
  EXPECT_EQ(CodeName(Status::Code::kBusy), "Busy");
  EXPECT_EQ(CodeName(Status::Code::kFailedPrecondition), "Failed precondition");
  EXPECT_EQ(CodeName(Status::Code::kConflict), "Conflict");
}

TEST(StatusTest, FactoriesSetCodeAndPredicates) {
  EXPECT_TRUE(Status::Corruption("x").IsCorruption());
  EXPECT_FALSE(Status::Corruption("x").IsIOError());
  EXPECT_TRUE(Status::NoSpace("x").IsNoSpace());
  EXPECT_TRUE(Status::IOError("x").IsIOError());
  EXPECT_EQ(Status::Busy("x").code(), Status::Code::kBusy);
  EXPECT_FALSE(Status::Busy("x").ok());
}

TEST(StatusTest, ErrnoIsKept) {
  const Status io = Status::IOError("fsync f", EIO);
  EXPECT_EQ(io.sys_errno(), EIO);
  EXPECT_EQ(io.message(), "fsync f");
  EXPECT_EQ(Status::NoSpace("write f", ENOSPC).sys_errno(), ENOSPC);
  EXPECT_EQ(Status::IOError("x").sys_errno(), 0);
}

TEST(StatusTest, WithContextPrefixesMessageKeepingCodeAndErrno) {
  const Status s = Status::IOError("fdatasync 1.qlog: Input/output error", EIO);
  const Status c = s.WithContext("sealing segment 1");
  EXPECT_EQ(c.code(), Status::Code::kIOError);
  EXPECT_EQ(c.sys_errno(), EIO);
  EXPECT_EQ(c.message(), "sealing segment 1: fdatasync 1.qlog: Input/output error");
  EXPECT_EQ(c.ToString(), "IO error: sealing segment 1: fdatasync 1.qlog: Input/output error");
  // The original is untouched.
  EXPECT_EQ(s.message(), "fdatasync 1.qlog: Input/output error");
}

TEST(StatusTest, WithContextOnOkStaysOk) {
  const Status c = Status::OK().WithContext("anything");
  EXPECT_TRUE(c.ok());
  EXPECT_EQ(c.ToString(), "OK");
}

TEST(StatusTest, CopiesAreIndependent) {
  Status a = Status::NotFound("a");
  Status b = a;
  b = b.WithContext("ctx");
  EXPECT_EQ(a.message(), "a");
  EXPECT_EQ(b.message(), "ctx: a");
}

TEST(ResultTest, HoldsValue) {
  Result<int> r = 42;
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.status().ok());
  EXPECT_EQ(r.value(), 42);
  EXPECT_EQ(*r, 42);
  *r = 7;
  EXPECT_EQ(r.value(), 7);
}

TEST(ResultTest, HoldsError) {
  Result<int> r = Status::Corruption("bad frame");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsCorruption());
  EXPECT_EQ(r.status().message(), "bad frame");
}

TEST(ResultTest, MovesOutMoveOnlyValues) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(5);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(**r, 5);
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 5);
}

TEST(ResultTest, ArrowReachesMembers) {
  Result<std::string> r = std::string("abc");
  EXPECT_EQ(r->size(), 3u);
}

Status Fails() { return Status::Busy("held"); }
Status Succeeds() { return Status::OK(); }

Status Chain(bool fail, int* reached) {
  QUIPU_RETURN_IF_ERROR(Succeeds());
  *reached = 1;
  if (fail) QUIPU_RETURN_IF_ERROR(Fails());
  *reached = 2;
  return Status::OK();
}

TEST(StatusMacroTest, ReturnIfErrorPropagatesFirstFailure) {
  int reached = 0;
  const Status s = Chain(/*fail=*/true, &reached);
  EXPECT_EQ(s.code(), Status::Code::kBusy);
  EXPECT_EQ(reached, 1);
  EXPECT_TRUE(Chain(/*fail=*/false, &reached).ok());
  EXPECT_EQ(reached, 2);
}

}  // namespace
}  // namespace quipu
