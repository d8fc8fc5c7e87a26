// A temporary directory for one test, removed with everything in it.
#ifndef QUIPU_TESTS_TEST_DIR_H_
#define QUIPU_TESTS_TEST_DIR_H_

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace quipu::testing {

class TestDir {
 public:
  TestDir() {
    std::string templ = ::testing::TempDir() + "quipu-test-XXXXXX";
    path_ = mkdtemp(templ.data());
  }
  ~TestDir() { std::filesystem::remove_all(path_); }
  TestDir(const TestDir&) = delete;
  TestDir& operator=(const TestDir&) = delete;

  const std::string& path() const { return path_; }
  std::string log() const { return path_ + "/log"; }

 private:
  std::string path_;
};

}  // namespace quipu::testing

#endif  // QUIPU_TESTS_TEST_DIR_H_
