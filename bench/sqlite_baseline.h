// bench/sqlite_baseline.h — the SQLite side of event_bench: the same audit
// event stored the way an application would store it in SQLite, so that the
// benchmark compares quipu against the obvious alternative on the same disk.
//
// Schema (one database file, WAL mode, synchronous=FULL so that COMMIT returns
// only once the WAL is fdatasync'ed — the same promise as quipu's GroupCommit):
//   entity_version(type, id, version, fields)   one row per entity version
//   log(log_id, ts, actor_type, actor_id, actor_version, method, url, content)
//   relation(log_id, type, id, version)         one row per target
// One event is one transaction: BEGIN IMMEDIATE; for the actor and each target
// look up the latest version and insert a new one if the fields changed; insert
// the log row; insert the relation rows; COMMIT.
//
// Many writer threads share one SqliteStore: one connection behind one mutex.
// SQLite lets one transaction write at a time whatever the connection count;
// with a connection per thread the losers poll the lock from the busy
// handler, whose back-off sleeps (up to 100 ms) then set the rate, not the
// disk. Serializing in-process hands the lock over without sleeping, which is
// what an application that knows SQLite does.
#ifndef QUIPU_BENCH_SQLITE_BASELINE_H_
#define QUIPU_BENCH_SQLITE_BASELINE_H_

#include <sqlite3.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "plain_event.h"

namespace bench {

// One connection. Not thread-safe: see SqliteStore.
class SqliteWriter {
 public:
  // Opens (creating the schema if `create`) the database at `path`. On
  // failure ok() is false and error() says why.
  SqliteWriter(const std::string& path, bool create) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) {
      Fail("open " + path);
      return;
    }
    // No busy_timeout: the one connection never waits for another's lock.
    if (!Exec("PRAGMA journal_mode=WAL") || !Exec("PRAGMA synchronous=FULL")) return;
    if (create && !CreateSchema()) return;
    Prepare(&begin_, "BEGIN IMMEDIATE");
    Prepare(&commit_, "COMMIT");
    Prepare(&rollback_, "ROLLBACK");
    Prepare(&latest_,
            "SELECT version, fields FROM entity_version WHERE type=?1 AND id=?2 "
            "ORDER BY version DESC LIMIT 1");
    Prepare(&insert_version_,
            "INSERT INTO entity_version(type, id, version, fields) VALUES(?1, ?2, ?3, ?4)");
    Prepare(&insert_log_,
            "INSERT INTO log(ts, actor_type, actor_id, actor_version, method, url, content) "
            "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    Prepare(&insert_relation_,
            "INSERT INTO relation(log_id, type, id, version) VALUES(?1, ?2, ?3, ?4)");
  }

  SqliteWriter(const SqliteWriter&) = delete;
  SqliteWriter& operator=(const SqliteWriter&) = delete;

  ~SqliteWriter() {
    for (sqlite3_stmt* s :
         {begin_, commit_, rollback_, latest_, insert_version_, insert_log_, insert_relation_}) {
      sqlite3_finalize(s);
    }
    sqlite3_close(db_);
  }

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

  // Stores `event` as one durable transaction. Returns false (see error()) on failure.
  bool Emit(const PlainEvent& event) {
    if (!Step(begin_)) return false;
    bool done = EmitInTransaction(event) && Step(commit_);
    if (!done) Step(rollback_);
    return done;
  }

 private:
  bool CreateSchema() {
    return Exec(
        "CREATE TABLE IF NOT EXISTS entity_version("
        "  type TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, fields TEXT NOT NULL,"
        "  PRIMARY KEY(type, id, version)) WITHOUT ROWID;"
        "CREATE TABLE IF NOT EXISTS log("
        "  log_id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, actor_type TEXT NOT NULL,"
        "  actor_id TEXT NOT NULL, actor_version INTEGER NOT NULL, method TEXT NOT NULL,"
        "  url TEXT NOT NULL, content TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS relation("
        "  log_id INTEGER NOT NULL, type TEXT NOT NULL, id TEXT NOT NULL,"
        "  version INTEGER NOT NULL);"
        "CREATE INDEX IF NOT EXISTS relation_by_entity ON relation(type, id, log_id);");
  }

  bool EmitInTransaction(const PlainEvent& event) {
    int64_t actor_version = Upsert(event.actor);
    if (actor_version < 0) return false;
    std::vector<int64_t> target_versions;
    for (const PlainEntity& target : event.targets) {
      target_versions.push_back(Upsert(target));
      if (target_versions.back() < 0) return false;
    }
    sqlite3_bind_int64(insert_log_, 1, event.ts_micros);
    BindText(insert_log_, 2, event.actor.type);
    BindText(insert_log_, 3, event.actor.id);
    sqlite3_bind_int64(insert_log_, 4, actor_version);
    BindText(insert_log_, 5, event.method);
    BindText(insert_log_, 6, event.url);
    BindText(insert_log_, 7, event.content);
    if (!Step(insert_log_)) return false;
    int64_t log_id = sqlite3_last_insert_rowid(db_);
    for (size_t i = 0; i < event.targets.size(); i++) {
      sqlite3_bind_int64(insert_relation_, 1, log_id);
      BindText(insert_relation_, 2, event.targets[i].type);
      BindText(insert_relation_, 3, event.targets[i].id);
      sqlite3_bind_int64(insert_relation_, 4, target_versions[i]);
      if (!Step(insert_relation_)) return false;
    }
    return true;
  }

  // The entity's version after this event: the latest one if its fields are
  // unchanged, else a new row. -1 on error.
  int64_t Upsert(const PlainEntity& entity) {
    BindText(latest_, 1, entity.type);
    BindText(latest_, 2, entity.id);
    int rc = sqlite3_step(latest_);
    int64_t version = 0;
    bool same = false;
    if (rc == SQLITE_ROW) {
      version = sqlite3_column_int64(latest_, 0);
      const char* fields = reinterpret_cast<const char*>(sqlite3_column_text(latest_, 1));
      same = fields != nullptr && entity.fields_json == fields;
    }
    sqlite3_reset(latest_);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
      Fail("select version");
      return -1;
    }
    if (same) return version;
    BindText(insert_version_, 1, entity.type);
    BindText(insert_version_, 2, entity.id);
    sqlite3_bind_int64(insert_version_, 3, version + 1);
    BindText(insert_version_, 4, entity.fields_json);
    return Step(insert_version_) ? version + 1 : -1;
  }

  static void BindText(sqlite3_stmt* stmt, int index, const std::string& text) {
    sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
  }

  // Runs a prepared statement to completion and resets it.
  bool Step(sqlite3_stmt* stmt) {
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW) return true;
    Fail(sqlite3_sql(stmt));
    return false;
  }

  bool Exec(const char* sql) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) == SQLITE_OK) return true;
    Fail(sql);
    return false;
  }

  void Prepare(sqlite3_stmt** stmt, const char* sql) {
    if (ok() && sqlite3_prepare_v2(db_, sql, -1, stmt, nullptr) != SQLITE_OK) Fail(sql);
  }

  void Fail(const std::string& what) {
    if (error_.empty()) error_ = what + ": " + (db_ ? sqlite3_errmsg(db_) : "out of memory");
  }

  sqlite3* db_ = nullptr;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  sqlite3_stmt* rollback_ = nullptr;
  sqlite3_stmt* latest_ = nullptr;
  sqlite3_stmt* insert_version_ = nullptr;
  sqlite3_stmt* insert_log_ = nullptr;
  sqlite3_stmt* insert_relation_ = nullptr;
  std::string error_;
};

// The connection every writer thread shares, each Emit under the mutex.
class SqliteStore {
 public:
  SqliteStore(const std::string& path, bool create) : db_(path, create) {}

  bool ok() const { return db_.ok(); }
  const std::string& error() const { return db_.error(); }

  // Thread-safe; durable on return, like SqliteWriter::Emit.
  bool Emit(const PlainEvent& event) {
    std::lock_guard<std::mutex> lock(mu_);
    return db_.Emit(event);
  }

 private:
  std::mutex mu_;
  SqliteWriter db_;  // guarded by mu_
};

}  // namespace bench

#endif  // QUIPU_BENCH_SQLITE_BASELINE_H_
