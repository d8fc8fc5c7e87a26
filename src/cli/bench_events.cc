#include "cli/bench_events.h"

#include <memory>
#include <thread>
#include <vector>

namespace quipu::bench {

namespace {

struct EmitterResult {
  uint64_t emitted = 0;
  Clock::time_point end;
  std::vector<uint32_t> ns;
  Status error;
};

void Emitter(AuditStore* store, int writer, uint64_t quota, RunClock* clock, EmitterResult* out) {
  out->ns.reserve(1 << 16);
  clock->ready.count_down();
  clock->go.wait();
  for (uint64_t n = 0; (quota == 0 || n < quota) && !clock->stop.load(std::memory_order_relaxed);
       ++n) {
    // The event is built outside the timed call, as a caller would have it.
    const Event event = EventOf(ShapeOf(writer, static_cast<int64_t>(n)));
    const Clock::time_point t0 = Clock::now();
    Result<EmitResult> emitted = store->Emit(event);
    if (!emitted.ok()) {
      out->error = emitted.status();
      break;
    }
    out->ns.push_back(NanosSince(t0, Clock::now()));
    out->emitted = n + 1;
  }
  out->end = Clock::now();
  clock->Finished();
}

Result<EventMeasurement> RunEmitters(AuditStore* store, const EventWorkload& w) {
  RunClock clock(w.writers);
  std::vector<EmitterResult> results(static_cast<size_t>(w.writers));
  std::vector<std::thread> threads;
  for (int i = 0; i < w.writers; ++i) {
    uint64_t quota = 0;
    if (w.max_events > 0) {
      quota = w.max_events / w.writers + (static_cast<uint64_t>(i) < w.max_events % w.writers);
      if (quota == 0) quota = 1;
    }
    threads.emplace_back(Emitter, store, i, quota, &clock, &results[i]);
  }
  const uint64_t syncs_before = store->log()->Stats().syncs;
  const double cpu_before = ProcessCpuSeconds();
  clock.Run(w.seconds);
  for (std::thread& t : threads) t.join();
  const double cpu_after = ProcessCpuSeconds();

  EventMeasurement m;
  m.fsyncs = store->log()->Stats().syncs - syncs_before;
  m.cpu_seconds = cpu_after - cpu_before;
  std::vector<uint32_t> all;
  Clock::time_point end = clock.start;
  for (EmitterResult& r : results) {
    if (!r.error.ok()) return r.error;
    m.events += r.emitted;
    end = std::max(end, r.end);
    all.insert(all.end(), r.ns.begin(), r.ns.end());
  }
  m.seconds = Seconds(end - clock.start);
  m.latency = Percentiles(&all);
  return m;
}

}  // namespace

EventShape ShapeOf(int writer, int64_t i) {
  const int doc = static_cast<int>((writer * 7919 + i) % kEventDocuments);
  const std::string d = std::to_string(doc);
  const std::string f = std::to_string(doc % kEventFolders);
  EventShape e;
  e.user = "u" + std::to_string(writer);
  e.user_name = "User " + std::to_string(writer);
  e.document = "d" + d;
  e.title = "Document " + d;
  e.folder = "f" + f;
  e.folder_name = "Folder " + f;
  e.method = "document.update";
  e.url = "/api/documents/d" + d;
  e.content = std::string(96, 'c');
  return e;
}

Event EventOf(const EventShape& s) {
  Event e;
  e.actor = {"user", s.user, {{"name", Value::Text(s.user_name)}}};
  e.method = s.method;
  e.url = s.url;
  e.content = Value::Text(s.content);
  e.targets.push_back({"document", s.document, {{"title", Value::Text(s.title)}}});
  e.targets.push_back({"folder", s.folder, {{"name", Value::Text(s.folder_name)}}});
  return e;
}

Status DefineEventTypes(AuditStore* store) {
  for (const char* type : {"user", "document", "folder"}) {
    const char* field = std::string_view(type) == "document" ? "title" : "name";
    TypeSchema schema{type, {{field, FieldKind::kText, /*required=*/false, /*indexed=*/true}}};
    QUIPU_RETURN_IF_ERROR(store->DefineType(schema));
  }
  return Status::OK();
}

Result<EventMeasurement> RunEventWorkload(const EventWorkload& w) {
  if (w.writers < 1) return Status::InvalidArgument("writers must be at least 1");
  if (w.max_events == 0 && !(w.seconds > 0)) {
    return Status::InvalidArgument("give an event count or a positive duration");
  }
  AuditOptions options;
  options.log.durability = w.policy;
  Result<std::unique_ptr<AuditStore>> store = AuditStore::Open(w.dir, options);
  if (!store.ok()) return store.status();
  Status defined = DefineEventTypes(store->get());
  Result<EventMeasurement> m = defined.ok() ? RunEmitters(store->get(), w) : defined;
  Status closed = (*store)->Close();
  if (m.ok() && !closed.ok()) return closed;
  return m;
}

}  // namespace quipu::bench
