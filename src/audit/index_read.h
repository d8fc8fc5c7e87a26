// audit/index_read.h — answering reads from the derived index.
//
// An IndexRead fixes one RocksDB snapshot when it is made and answers every
// read from it, so a query sees whole records only (a record's entries are
// one atomic write) and nothing written after it began. It takes no lock
// the writer holds, beyond the small catalog's for a lookup.
//
// Costs (n: the rows a query returns, k: entities a filter matches):
//   row by log_id, entity history      a few point reads
//   entities page                      one read per entity listed
//   exact / exact_ci / prefix filter   a seek, then one entry per
//                                      (value, entity) pair it covers
//   contains filter                    a scan of the field's entries (every
//                                      distinct value of the field)
//   a page                             one row read per candidate row tested:
//                                      with a filter of <= kMergeLimit
//                                      entities, the rows naming them, merged
//                                      in order by their postings; else the
//                                      rows in time order, each checked
//   count                              as a page without materializing hits;
//                                      one filter alone counts postings only
//
// Not thread-safe: one IndexRead per read call.
#ifndef QUIPU_AUDIT_INDEX_READ_H_
#define QUIPU_AUDIT_INDEX_READ_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "audit/catalog.h"
#include "audit/index_db.h"
#include "audit/index_entries.h"
#include "audit/protect.h"
#include "quipu/audit.h"

namespace quipu::audit {

// A filter matching more entities than this is checked row by row instead
// of driving the query from its entities' postings.
inline constexpr size_t kMergeLimit = 256;

class IndexRead final : public KeyReader {
 public:
  // `protector` shows protected values (null: they read as hidden).
  IndexRead(IndexDb* db, const Catalog* catalog, const Protector* protector = nullptr);

  Result<std::optional<std::string>> Get(std::string_view key) const override {
    return snap_.Get(key);
  }
  const IndexSnapshot& snapshot() const { return snap_; }
  const Catalog& catalog() const { return *catalog_; }

  // NotFound when there is no such row.
  Result<Hit> Row(uint64_t log_id);
  Result<Lsn> LsnOf(uint64_t log_id);
  // The row's decoded entry and record.
  Result<EventRecord> Record(uint64_t log_id, Lsn* lsn);
  // Errors when a protected value cannot be opened (audit/protect.h).
  Result<Hit> ToHit(const EventRecord& rec, Lsn lsn);

  Result<std::vector<EntityVersion>> History(std::string_view type, std::string_view id);
  Result<EntityPage> Entities(std::string_view type, size_t limit, std::string_view cursor);

  Result<QueryPage> RunQuery(const Query& query);
  Result<uint64_t> Count(const Query& query);

  // The applied LSN of the snapshot's meta entry.
  Result<Lsn> AppliedLsn();
  // Each row matching `filter`'s conditions with LSN <= last_lsn, in log_id
  // order, with its LSN and its record's bytes (audit/index_query.cc).
  Status ForEachInLogOrder(
      const Query& filter, Lsn last_lsn,
      const std::function<Status(const EventRecord&, Lsn, std::string_view)>& visit);
  // AuditStore::Export over this snapshot (audit/index_export.cc).
  Status Export(const Query& filter, Lsn last_lsn,
                const std::function<Status(const ExportedRecord&)>& sink);

  // Version `number` of an entity as callers see it (cached per read).
  Result<EntityVersion> Materialize(uint32_t type, const std::string& id, uint32_t number);
  // The same, nullopt when the version (or its type) is missing.
  Result<std::optional<EntityVersion>> MaterializeIfPresent(uint32_t type, const std::string& id,
                                                            uint32_t number);
  // `fields` named by `schema`, as stored (protected values sealed).
  static Fields Named(const TypeSchema& schema, const OrdinalValues& fields);
  // The same as a reader sees them (Protector::Show).
  Result<Fields> Shown(const TypeSchema& schema, uint32_t type, const OrdinalValues& fields) const;
  // A stored value of field `scope` as a reader sees it.
  Result<Value> ShowValue(const Value& stored, Scope scope) const;
  const Protector* protector() const { return protector_; }

 private:
  IndexSnapshot snap_;
  const Catalog* catalog_;
  const Protector* protector_;
  std::map<std::tuple<uint32_t, std::string, uint32_t>, EntityVersion> versions_;
};

}  // namespace quipu::audit

#endif  // QUIPU_AUDIT_INDEX_READ_H_
