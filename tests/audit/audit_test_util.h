// Helpers shared by the audit store tests.
#ifndef QUIPU_TESTS_AUDIT_AUDIT_TEST_UTIL_H_
#define QUIPU_TESTS_AUDIT_AUDIT_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "quipu/audit.h"
#include "quipu/reader.h"

namespace quipu::testing {

inline TypeSchema UserType() {
  return TypeSchema{"user",
                    {FieldSpec{"name", FieldKind::kText, true, true},
                     FieldSpec{"email", FieldKind::kText, false, false},
                     FieldSpec{"age", FieldKind::kNumber, false, true},
                     FieldSpec{"meta", FieldKind::kJson, false, true}}};
}

inline EntityInput Actor(std::string id, std::string name = "") {
  EntityInput in{"default_actor", std::move(id), {}};
  if (!name.empty()) in.fields["name"] = Value::Text(std::move(name));
  return in;
}

inline EntityInput User(std::string id, std::string name) {
  return EntityInput{"user", std::move(id), {{"name", Value::Text(std::move(name))}}};
}

inline Event MakeEvent(EntityInput actor, std::string method, std::vector<EntityInput> targets,
                       std::optional<int64_t> micros = std::nullopt) {
  Event e;
  e.actor = std::move(actor);
  e.method = std::move(method);
  e.url = "/api/" + e.method;
  e.targets = std::move(targets);
  e.timestamp_micros = micros;
  return e;
}

inline std::vector<uint64_t> LogIds(const QueryPage& page) {
  std::vector<uint64_t> ids;
  for (const Hit& h : page.hits) ids.push_back(h.log_id);
  return ids;
}

// Every page of `q`, concatenated.
inline std::vector<uint64_t> AllPages(const AuditStore& store, Query q) {
  std::vector<uint64_t> ids;
  while (true) {
    auto page = store.Query(q);
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    if (!page.ok()) return ids;
    for (uint64_t id : LogIds(*page)) ids.push_back(id);
    if (page->next_cursor.empty()) return ids;
    q.cursor = page->next_cursor;
  }
}

// The payloads of records [from, to] of `store`'s log.
inline std::vector<std::string> RecordsOf(AuditStore& store, Lsn from, Lsn to) {
  std::vector<std::string> out;
  EXPECT_TRUE(store.log()->Flush().ok());
  auto reader = store.log()->NewReader(from);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  if (!reader.ok()) return out;
  while (out.size() < to - from + 1) {
    auto more = (*reader)->Next();
    EXPECT_TRUE(more.ok()) << more.status().ToString();
    if (!more.ok() || !*more) break;
    out.emplace_back((*reader)->payload());
  }
  return out;
}

}  // namespace quipu::testing

#endif  // QUIPU_TESTS_AUDIT_AUDIT_TEST_UTIL_H_
