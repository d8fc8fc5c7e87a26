// bench/plain_event.h — the audit event of cli/bench_events.h in the form the
// SQL baselines store it: entity fields as canonical JSON text, as an
// application keeping an audit table would serialize them.
#ifndef QUIPU_BENCH_PLAIN_EVENT_H_
#define QUIPU_BENCH_PLAIN_EVENT_H_

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/bench_events.h"

namespace bench {

struct PlainEntity {
  std::string type;
  std::string id;
  std::string fields_json;  // canonical JSON object of the entity's fields
};

struct PlainEvent {
  int64_t ts_micros = 0;
  PlainEntity actor;
  std::vector<PlainEntity> targets;
  std::string method;
  std::string url;
  std::string content;
};

inline std::string FieldJson(const char* name, const std::string& value) {
  return nlohmann::json{{name, value}}.dump();
}

// The event of `shape`, stamped with the current time (the caller builds it
// before timing the write, as quipu's workload builds its Event).
inline PlainEvent PlainOf(const quipu::bench::EventShape& s) {
  PlainEvent e;
  e.ts_micros = std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  e.actor = {"user", s.user, FieldJson("name", s.user_name)};
  e.targets.push_back({"document", s.document, FieldJson("title", s.title)});
  e.targets.push_back({"folder", s.folder, FieldJson("name", s.folder_name)});
  e.method = s.method;
  e.url = s.url;
  e.content = s.content;
  return e;
}

}  // namespace bench

#endif  // QUIPU_BENCH_PLAIN_EVENT_H_
