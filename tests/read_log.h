// Reading a log back in tests.
#ifndef QUIPU_TESTS_READ_LOG_H_
#define QUIPU_TESTS_READ_LOG_H_

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "quipu/reader.h"

namespace quipu::testing {

// Calls fn(lsn, payload) for each record `reader` yields; a read error
// fails the test and ends the loop.
template <typename Fn>
void ForEachRecord(LogReader& reader, Fn fn) {
  for (;;) {
    auto more = reader.Next();
    EXPECT_TRUE(more.ok()) << more.status().ToString();
    if (!more.ok() || !*more) return;
    fn(reader.lsn(), reader.payload());
  }
}

inline std::vector<std::string> ReadPayloads(LogReader& reader) {
  std::vector<std::string> out;
  ForEachRecord(reader, [&](Lsn, std::string_view payload) { out.emplace_back(payload); });
  return out;
}

// Every record's payload from LSN 1 on, with a directory reader (no lock).
inline std::vector<std::string> ReadPayloads(const std::string& dir) {
  auto reader = OpenLogReader(dir, 1);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  return reader.ok() ? ReadPayloads(**reader) : std::vector<std::string>();
}

}  // namespace quipu::testing

#endif  // QUIPU_TESTS_READ_LOG_H_
