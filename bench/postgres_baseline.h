// bench/postgres_baseline.h — the PostgreSQL side of event_bench: the same
// audit event, stored as an application would store it in PostgreSQL.
//
// Schema, as in sqlite_baseline.h:
//   entity_version(type, id, version, fields)   one row per entity version
//   log(log_id, ts, actor_type, actor_id, actor_version, method, url, content)
//   relation(log_id, type, id, version)         one row per target
// One event is one call of the PL/pgSQL function audit_emit (prepared once per
// connection), in its own transaction: for the actor and each target it takes
// the latest version, or inserts a new one if the fields changed; then it
// inserts the log row and the relation rows. With synchronous_commit=on the
// call returns once the commit's WAL is flushed: durable on return, as quipu's
// Emit under GroupCommit. One round trip per event, as a competent client
// would do it; one connection per writer thread, as PostgreSQL wants.
//
// Concurrent transactions commit together when their WAL flushes coincide:
// the server's own group commit, not something this client arranges.
#ifndef QUIPU_BENCH_POSTGRES_BASELINE_H_
#define QUIPU_BENCH_POSTGRES_BASELINE_H_

#include <libpq-fe.h>

#include <cstring>
#include <string>
#include <vector>

#include "plain_event.h"

namespace bench {

// The tables, and the functions doing one event's work inside the server.
// audit_version: under READ COMMITTED each statement sees what committed
// before it, so when another writer inserted the same new version first (the
// insert does nothing) the loop reads that version and compares again.
inline constexpr char kPostgresSchema[] = R"sql(
CREATE TABLE entity_version(
  type text NOT NULL, id text NOT NULL, version bigint NOT NULL, fields text NOT NULL,
  PRIMARY KEY(type, id, version));
CREATE TABLE log(
  log_id bigserial PRIMARY KEY, ts bigint NOT NULL, actor_type text NOT NULL,
  actor_id text NOT NULL, actor_version bigint NOT NULL, method text NOT NULL,
  url text NOT NULL, content text NOT NULL);
CREATE TABLE relation(
  log_id bigint NOT NULL, type text NOT NULL, id text NOT NULL, version bigint NOT NULL);
CREATE INDEX relation_by_entity ON relation(type, id, log_id);

CREATE FUNCTION audit_version(p_type text, p_id text, p_fields text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v bigint;
  f text;
  inserted int;
BEGIN
  LOOP
    SELECT version, fields INTO v, f FROM entity_version
      WHERE type = p_type AND id = p_id ORDER BY version DESC LIMIT 1;
    IF FOUND AND f = p_fields THEN
      RETURN v;
    END IF;
    v := coalesce(v, 0) + 1;
    INSERT INTO entity_version(type, id, version, fields) VALUES (p_type, p_id, v, p_fields)
      ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS inserted = ROW_COUNT;
    IF inserted = 1 THEN
      RETURN v;
    END IF;
  END LOOP;
END $$;

CREATE FUNCTION audit_emit(p_ts bigint, p_actor_type text, p_actor_id text,
                           p_actor_fields text, p_method text, p_url text, p_content text,
                           p_target_types text[], p_target_ids text[],
                           p_target_fields text[]) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  actor_version bigint;
  versions bigint[] := '{}';
  new_id bigint;
BEGIN
  actor_version := audit_version(p_actor_type, p_actor_id, p_actor_fields);
  FOR i IN 1 .. coalesce(array_length(p_target_types, 1), 0) LOOP
    versions := versions || audit_version(p_target_types[i], p_target_ids[i], p_target_fields[i]);
  END LOOP;
  INSERT INTO log(ts, actor_type, actor_id, actor_version, method, url, content)
    VALUES (p_ts, p_actor_type, p_actor_id, actor_version, p_method, p_url, p_content)
    RETURNING log_id INTO new_id;
  INSERT INTO relation(log_id, type, id, version)
    SELECT new_id, t.type, t.id, t.version
    FROM unnest(p_target_types, p_target_ids, versions) AS t(type, id, version);
  RETURN new_id;
END $$;
)sql";

// A text[] literal: every element double-quoted, '"' and '\' escaped.
inline std::string ArrayLiteral(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

// One connection. Not thread-safe: one per writer thread.
class PostgresConnection {
 public:
  // Connects through the Unix socket in `socket_dir` as user postgres. On
  // failure ok() is false and error() says why.
  PostgresConnection(const std::string& socket_dir, const std::string& dbname) {
    const char* keys[] = {"host", "dbname", "user", "application_name", "connect_timeout", nullptr};
    const char* values[] = {socket_dir.c_str(), dbname.c_str(), "postgres",
                            "event_bench",      "10",           nullptr};
    conn_ = PQconnectdbParams(keys, values, /*expand_dbname=*/0);
    if (conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK) {
      Fail("connect to " + dbname + " in " + socket_dir);
      return;
    }
    // The server's setting already; said again so the promise does not hang on it.
    Exec("SET synchronous_commit = on");
  }

  PostgresConnection(const PostgresConnection&) = delete;
  PostgresConnection& operator=(const PostgresConnection&) = delete;

  ~PostgresConnection() { PQfinish(conn_); }

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

  // Runs `sql` (one or more statements, no parameters). False on error.
  bool Exec(const std::string& sql) {
    if (!ok()) return false;
    PGresult* r = PQexec(conn_, sql.c_str());
    const ExecStatusType st = PQresultStatus(r);
    const bool done = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!done) Fail(sql.substr(0, 60));
    PQclear(r);
    return done;
  }

  // Prepares the call Emit makes (the schema must exist).
  bool PrepareEmit() {
    if (!ok()) return false;
    PGresult* r = PQprepare(conn_, "audit_emit",
                            "SELECT audit_emit($1::bigint, $2, $3, $4, $5, $6, $7, $8::text[], "
                            "$9::text[], $10::text[])",
                            10, nullptr);
    const bool done = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!done) Fail("prepare audit_emit");
    PQclear(r);
    return done;
  }

  // Stores `event` as one durable transaction. A deadlock or serialization
  // failure (only possible while two writers create the same entity) is
  // retried, as an application would; other errors return false.
  bool Emit(const PlainEvent& event) {
    std::vector<std::string> types, ids, fields;
    for (const PlainEntity& t : event.targets) {
      types.push_back(t.type);
      ids.push_back(t.id);
      fields.push_back(t.fields_json);
    }
    const std::string ts = std::to_string(event.ts_micros);
    const std::string t = ArrayLiteral(types), i = ArrayLiteral(ids), f = ArrayLiteral(fields);
    const char* params[] = {ts.c_str(),
                            event.actor.type.c_str(),
                            event.actor.id.c_str(),
                            event.actor.fields_json.c_str(),
                            event.method.c_str(),
                            event.url.c_str(),
                            event.content.c_str(),
                            t.c_str(),
                            i.c_str(),
                            f.c_str()};
    for (int attempt = 0;; ++attempt) {
      PGresult* r = PQexecPrepared(conn_, "audit_emit", 10, params, nullptr, nullptr, 0);
      const bool done = PQresultStatus(r) == PGRES_TUPLES_OK;
      const char* state = done ? nullptr : PQresultErrorField(r, PG_DIAG_SQLSTATE);
      const bool retry = state != nullptr && attempt < 5 &&
                         (std::strcmp(state, "40P01") == 0 || std::strcmp(state, "40001") == 0);
      PQclear(r);
      if (done) return true;
      if (!retry) {
        Fail("audit_emit");
        return false;
      }
    }
  }

 private:
  void Fail(const std::string& what) {
    if (error_.empty()) {
      error_ = what + ": " + (conn_ != nullptr ? PQerrorMessage(conn_) : "out of memory");
    }
  }

  PGconn* conn_ = nullptr;
  std::string error_;
};

}  // namespace bench

#endif  // QUIPU_BENCH_POSTGRES_BASELINE_H_
