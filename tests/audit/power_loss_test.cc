// Power-loss drill for the audit store: randomized events under several
// durability policies, a crash at a random file change (inside an append, a
// rotation or a sync), a power cut (plain, torn last write, or random pages
// of unsynced data kept), reopen. After recovery:
//   - the rows are a prefix of what was emitted, each one whole: its actor
//     and targets pin versions whose fields are exactly what the events
//     before it (in log order) made them;
//   - no entity has a version that no surviving row wrote;
//   - every event acknowledged as durable is present;
//   - the store accepts events again, continuing log_ids and versions;
//   - the derived index, as the reopen left it (caught up, repaired or as
//     it was), answers every read exactly as one rebuilt from the log.
// The seed is printed; QUIPU_SEED=<n> reruns one.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "audit_test_util.h"
#include "drill/drill_env.h"
#include "io/fault_env.h"
#include "quipu/audit.h"
#include "store_dump.h"
#include "test_dir.h"

namespace quipu::testing {
namespace {

struct Scenario {
  const char* name;
  DurabilityPolicy policy;
  int threads;
  double immediate_share;
};

std::vector<Scenario> Scenarios() {
  return {
      {"always", DurabilityPolicy::Always(), 1, 0},
      {"every:8", DurabilityPolicy::EveryN(8), 1, 0},
      {"every:8,2ms", DurabilityPolicy::EveryNOrInterval(8, std::chrono::milliseconds(2)), 2, 0},
      {"group-x4", DurabilityPolicy::GroupCommit(), 4, 0},
      {"os+immediate", DurabilityPolicy::OsManaged(), 1, 0.2}};
}

struct Emitted {
  Event event;
  bool acked_durable = false;
  Lsn lsn = 0;  // 0 if Emit failed
};

uint64_t BaseSeed() {
  if (const char* s = std::getenv("QUIPU_SEED")) return std::strtoull(s, nullptr, 10);
  return std::random_device()();
}

// The first line where two dumps differ, from each.
std::string FirstDifference(const std::string& a, const std::string& b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  const size_t line = a.rfind('\n', i == 0 ? 0 : i - 1);
  const size_t from = line == std::string::npos ? 0 : line + 1;
  auto cut = [&](const std::string& s) { return s.substr(from, s.find('\n', from) - from); };
  return "reopened \"" + cut(a) + "\" vs rebuilt \"" + cut(b) + "\"";
}

Event RandomEvent(std::mt19937_64& rng, const std::string& key) {
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  EntityInput actor{"default_actor", "a" + std::to_string(pick(3)), {}};
  if (pick(3) == 0) actor.fields["name"] = Value::Text("actor-" + std::to_string(pick(4)));
  std::vector<EntityInput> targets;
  std::set<int> used;
  for (int t = pick(4); t > 0; --t) {
    const int u = pick(6);
    if (!used.insert(u).second) continue;
    EntityInput in{"user", "u" + std::to_string(u), {}};
    if (pick(2) == 0) in.fields["name"] = Value::Text("name-" + std::to_string(pick(5)));
    if (pick(4) == 0) in.fields["score"] = Value::Number(pick(100));
    targets.push_back(std::move(in));
  }
  Event e = MakeEvent(std::move(actor), key, std::move(targets));
  // A big payload now and then makes records straddle buffers and pages.
  e.content = Value::Text(std::string(pick(8) == 0 ? 1500 : pick(40), 'c'));
  return e;
}

class Drill {
 public:
  Drill(const Scenario& sc, PowerLossOptions loss, uint64_t seed, const std::string& dir)
      : sc_(sc),
        loss_(loss),
        seed_(seed),
        dir_(dir),
        base_(Env::Default()),
        fault_(&base_),
        crash_env_(&fault_, UINT64_MAX) {}

  uint64_t rows_recovered() const { return rows_recovered_; }
  uint64_t emitted() const { return emitted_.size(); }
  IndexReport::Action index_action() const { return index_action_; }

  // Runs one crash; returns the violations found.
  std::vector<std::string> Run() {
    std::mt19937_64 rng(seed_);
    AuditOptions options;
    options.log.durability = sc_.policy;
    options.log.segment_size = 4096 + rng() % 8192;
    options.log.max_record_size = 2048;
    options.log.buffer_size = rng() % 2 ? 1024 : 8192;
    options.log.env = &crash_env_;
    // Sync points of the index in mid-run, so that reopens trust part of it.
    options.index_sync_every = 1 + rng() % 64;
    auto opened = AuditStore::Open(dir_, options);
    if (!opened.ok()) return {"open: " + opened.status().ToString()};
    std::unique_ptr<AuditStore> store = std::move(*opened);
    TypeSchema user{"user",
                    {FieldSpec{"name", FieldKind::kText, false, true},
                     FieldSpec{"score", FieldKind::kNumber, false, false}}};
    if (Status s = store->DefineType(user); !s.ok()) return {"define: " + s.ToString()};
    crash_env_.CrashAfter(rng() % 400);

    std::vector<std::vector<Emitted>> per_thread(sc_.threads);
    std::vector<std::thread> threads;
    for (int w = 0; w < sc_.threads; ++w) {
      threads.emplace_back([&, w, s = rng()] { Write(store.get(), w, s, &per_thread[w]); });
    }
    for (auto& t : threads) t.join();
    fault_.Crash();
    const Lsn durable_seen = store->DurableLsn();
    store.reset();  // its Close fails: the process is dead
    if (Status s = fault_.PowerLoss(loss_); !s.ok()) return {"power loss: " + s.ToString()};

    options.log.env = &fault_;
    opened = AuditStore::Open(dir_, options);
    if (!opened.ok()) return {"reopen: " + opened.status().ToString()};
    index_action_ = (*opened)->index_report().action;
    const std::string reopened = DumpStore(**opened);
    if (Status s = (*opened)->Close(); !s.ok()) return {"close after reopen: " + s.ToString()};
    options.rebuild_index = true;
    opened = AuditStore::Open(dir_, options);
    if (!opened.ok()) return {"rebuild: " + opened.status().ToString()};
    if (std::string rebuilt = DumpStore(**opened); rebuilt != reopened) {
      Violation("the reopened index answers unlike one rebuilt from the log: " +
                FirstDifference(reopened, rebuilt));
    }
    store = std::move(*opened);
    for (auto& v : per_thread) {
      for (auto& e : v) emitted_.emplace(e.event.method, std::move(e));
    }
    Check(*store, durable_seen);
    return std::move(violations_);
  }

 private:
  void Write(AuditStore* store, int w, uint64_t seed, std::vector<Emitted>* out) {
    std::mt19937_64 rng(seed);
    const int budget = 1 + static_cast<int>(rng() % (sc_.threads == 1 ? 300 : 120));
    for (int i = 0; i < budget; ++i) {
      Emitted e;
      e.event = RandomEvent(rng, "w" + std::to_string(w) + "-" + std::to_string(i));
      const bool immediate = std::bernoulli_distribution(sc_.immediate_share)(rng);
      auto r = store->Emit(e.event, immediate ? Durability::kImmediate : Durability::kPolicy);
      if (r.ok()) {
        e.lsn = r->lsn;
        e.acked_durable = immediate || sc_.policy.SyncsEveryAppend();
      }
      out->push_back(std::move(e));
      if (!r.ok()) return;  // crashed: the process is gone
    }
  }

  void Violation(std::string v) { violations_.push_back(std::move(v)); }

  // Checks one pinned entity against the model, then advances the model.
  void CheckPin(const std::string& where, const EntityInput& in, const EntityVersion& got) {
    auto key = std::make_pair(in.type, in.id);
    Fields merged = model_[key];
    for (const auto& [k, v] : in.fields) merged[k] = v;
    if (!versions_.count(key) || merged != model_[key]) ++versions_[key];
    model_[key] = merged;
    if (got.type != in.type || got.id != in.id || got.fields != merged ||
        got.version != versions_[key]) {
      Violation(where + ": " + in.type + "/" + in.id + " pinned v" + std::to_string(got.version) +
                ", model v" + std::to_string(versions_[key]));
    }
  }

  void CheckRow(const Hit& hit) {
    const std::string where = "row " + std::to_string(hit.log_id) + " (" + hit.method + ")";
    auto it = emitted_.find(hit.method);
    if (it == emitted_.end() || !seen_.insert(hit.method).second) {
      return Violation(where + " is not one emitted event");
    }
    const Event& e = it->second.event;
    if (it->second.lsn != 0 && it->second.lsn != hit.lsn) Violation(where + ": LSN differs");
    if (hit.content != e.content) Violation(where + ": content differs");
    // Entities are applied in the order the event names them.
    CheckPin(where + " actor", e.actor, hit.actor);
    if (hit.targets.size() != e.targets.size()) return Violation(where + ": target count");
    for (size_t i = 0; i < e.targets.size(); ++i) {
      CheckPin(where + " target", e.targets[i], hit.targets[i]);
    }
  }

  void Check(AuditStore& store, Lsn durable_seen) {
    const uint64_t rows = store.LastLogId();
    rows_recovered_ = rows;
    for (uint64_t id = 1; id <= rows; ++id) {
      auto hit = store.GetRow(id);
      if (!hit.ok()) return Violation("row " + std::to_string(id) + ": " + hit.status().ToString());
      CheckRow(*hit);
    }
    // Atomicity the other way: no version without the row that wrote it.
    for (const auto& [key, count] : versions_) {
      auto history = store.EntityHistory(key.first, key.second);
      if (!history.ok() || history->size() != count) {
        Violation(key.first + "/" + key.second + ": versions do not match surviving rows");
      }
    }
    for (const char* type : {"default_actor", "user"}) {
      auto list = store.ListEntities(type);
      size_t expected = 0;
      for (const auto& [key, count] : versions_) expected += key.first == type;
      if (!list.ok() || list->size() != expected) {
        Violation(std::string(type) + ": entities without surviving rows");
      }
    }
    for (const auto& [key, e] : emitted_) {
      const bool durable = e.acked_durable || (e.lsn != 0 && e.lsn <= durable_seen);
      if (durable && !seen_.count(key)) Violation("durable event " + key + " lost");
    }
    std::mt19937_64 rng(seed_);
    auto more = store.Emit(RandomEvent(rng, "after"));
    if (!more.ok() || more->log_id != rows + 1) {
      Violation("recovered store refuses events: " + more.status().ToString());
    }
    if (Status s = store.Close(); !s.ok()) Violation("close: " + s.ToString());
  }

  const Scenario sc_;
  const PowerLossOptions loss_;
  const uint64_t seed_;
  const std::string dir_;
  drill::NoSyncEnv base_;
  FaultEnv fault_;
  drill::CrashAfterEnv crash_env_;
  std::map<std::string, Emitted> emitted_;
  std::set<std::string> seen_;
  std::map<std::pair<std::string, std::string>, Fields> model_;
  std::map<std::pair<std::string, std::string>, uint32_t> versions_;
  std::vector<std::string> violations_;
  uint64_t rows_recovered_ = 0;
  IndexReport::Action index_action_ = IndexReport::Action::kNone;
};

TEST(AuditPowerLossTest, EventsAreWholeOrAbsentAndDurableOnesSurvive) {
  const uint64_t base = BaseSeed();
  std::cout << "audit power-loss drill seed " << base << " (rerun with QUIPU_SEED=" << base
            << ")\n";
  std::mt19937_64 rng(base);
#ifdef __SANITIZE_ADDRESS__
  const int crashes = 3;  // ASan+UBSan runs (in CI) are ten times slower
#else
  const int crashes = 6;
#endif
  int total = 0;
  uint64_t rows = 0, emitted = 0;
  std::map<IndexReport::Action, int> actions;
  for (const Scenario& sc : Scenarios()) {
    for (int mode = 0; mode < 3; ++mode) {
      for (int i = 0; i < crashes; ++i, ++total) {
        const uint64_t seed = rng();
        PowerLossOptions loss;
        loss.tear_last_write = mode == 1;
        loss.keep_random_pages = mode == 2;
        loss.seed = seed;
        TestDir dir;
        Drill drill(sc, loss, seed, dir.log());
        for (const std::string& v : drill.Run()) {
          ADD_FAILURE() << sc.name << " mode " << mode << " crash seed " << seed << " (base seed "
                        << base << "): " << v;
        }
        rows += drill.rows_recovered();
        emitted += drill.emitted();
        ++actions[drill.index_action()];
      }
    }
  }
  EXPECT_EQ(total, 5 * 3 * crashes);
  std::cout << total << " crashes, " << emitted << " events emitted, " << rows
            << " rows recovered; the index was up to date " << actions[IndexReport::Action::kNone]
            << " times, caught up " << actions[IndexReport::Action::kCaughtUp] << ", repaired "
            << actions[IndexReport::Action::kRepaired] << ", rebuilt "
            << actions[IndexReport::Action::kRebuilt] << "\n";
  // The drill must exercise both sides: rows that survive and rows that don't.
  EXPECT_GT(rows, 0u);
  EXPECT_LT(rows, emitted);
}

}  // namespace
}  // namespace quipu::testing
