// audit/index_open.cc — opening, checking, repairing and catching up the
// derived index.
#include "audit/index_open.h"

#include <algorithm>

#include "audit/index_entries.h"
#include "audit/index_keys.h"
#include "audit/index_purge.h"
#include "audit/index_repair.h"
#include "quipu/inspect.h"
#include "quipu/merkle.h"
#include "quipu/tree.h"
#include "util/crc32c.h"

namespace quipu::audit {

namespace {

// Catch-up writes skip RocksDB's log and are flushed at the end: the quipu
// log already holds them, and a crash before the flush only means catching
// up again. Batches this large amortize each write.
constexpr size_t kCatchUpRecords = 4096;
constexpr size_t kCatchUpBytes = 8 << 20;
constexpr int kReadOnlyAttempts = 3;
// Applying this many records at open ends with a full compaction.
constexpr uint64_t kCompactAfter = 1'000'000;

Env* EnvOf(const AuditOptions& options) {
  return options.log.env != nullptr ? options.log.env : Env::Default();
}

IndexDbOptions DbOptions(const AuditOptions& options, bool read_only) {
  return IndexDbOptions{EnvOf(options), read_only, options.index_cache_bytes};
}

// CRC-32C of the payload of record `lsn`.
Result<uint32_t> CrcAt(Log* log, Lsn lsn) {
  auto reader = log->NewReader(lsn);
  if (!reader.ok()) return reader.status();
  auto more = (*reader)->Next();
  if (!more.ok()) return more.status();
  if (!*more || (*reader)->lsn() != lsn) {
    return Status::NotFound("record " + std::to_string(lsn) + " is not in the log");
  }
  return crc32c::Value((*reader)->payload());
}

// The index's own copy of record `meta.applied_lsn`: a catalog entry, or
// the newest row. NotFound if it holds neither (damage).
Result<std::string> IndexCopyOfApplied(IndexDb* db, const IndexMeta& meta) {
  auto catalog = db->Get(rocksdb::ReadOptions(), keys::Catalog(meta.applied_lsn));
  if (!catalog.ok()) return catalog.status();
  if (*catalog) return std::move(**catalog);
  auto purge = db->Get(rocksdb::ReadOptions(), keys::Purge(meta.applied_lsn));
  if (!purge.ok()) return purge.status();
  if (*purge) return std::move(**purge);
  auto row = db->Get(rocksdb::ReadOptions(), keys::Row(meta.last_log_id));
  if (!row.ok()) return row.status();
  RowEntry entry;
  if (*row && DecodeRow(**row, &entry).ok() && entry.lsn == meta.applied_lsn) {
    return std::string(entry.payload);
  }
  return Status::NotFound("the index lacks its own copy of record " +
                          std::to_string(meta.applied_lsn));
}

// Whether record `lsn` of the log is `payload`. The log's Merkle tree has
// every record's leaf hash, so this costs a few reads of its spine; only
// without a usable tree is the record read from its segment (a scan of up
// to one segment).
Result<bool> LogHasRecord(Log* log, Lsn lsn, std::string_view payload) {
  if (LogTree* tree = log->tree(); tree != nullptr && tree->Size() >= lsn) {
    auto proof = tree->ProveInclusion(lsn, tree->Size());
    if (proof.ok()) return proof->leaf_hash == merkle::LeafHash(payload);
  }
  auto crc = CrcAt(log, lsn);
  if (!crc.ok()) return crc.status();
  return *crc == crc32c::Value(payload);
}

class WriterOpen {
 public:
  WriterOpen(const std::string& dir, Log* log, Catalog* catalog, Protector* protector,
             const AuditOptions& options)
      : dir_(dir),
        path_(IndexPath(dir)),
        log_(log),
        catalog_(catalog),
        protector_(protector),
        options_(options) {}

  Result<OpenedIndex> Run() {
    if (options_.rebuild_index) {
      QUIPU_RETURN_IF_ERROR(Fresh("asked to rebuild"));
    } else {
      auto exists = EnvOf(options_)->FileExists(path_ + "/CURRENT");
      if (!exists.ok()) return exists.status();
      if (!*exists) {
        QUIPU_RETURN_IF_ERROR(Fresh("missing"));
        // A new store's index is new too: nothing to report.
        if (log_->LastLsn() == 0) out_.report = IndexReport{};
      } else {
        QUIPU_RETURN_IF_ERROR(OpenExisting());
      }
    }
    QUIPU_RETURN_IF_ERROR(out_.applier->LoadCatalog());
    QUIPU_RETURN_IF_ERROR(StartAfterPurge());
    QUIPU_RETURN_IF_ERROR(CatchUp());
    return std::move(out_);
  }

 private:
  static bool Damaged(const Status& s) {
    return s.IsCorruption() || s.code() == Status::Code::kNotSupported;
  }

  // Opens the database and loads its meta; damage is reported, not fixed.
  Status OpenDb() {
    out_.applier.reset();
    out_.db.reset();
    auto db = IndexDb::Open(path_, DbOptions(options_, false));
    if (!db.ok()) return db.status();
    out_.db = std::move(*db);
    out_.applier = std::make_unique<IndexApplier>(out_.db.get(), catalog_);
    out_.applier->set_protector(protector_);
    return out_.applier->Load();
  }

  Status Fresh(const std::string& reason) {
    out_.applier.reset();
    out_.db.reset();
    QUIPU_RETURN_IF_ERROR(IndexDb::Destroy(path_, EnvOf(options_)));
    out_.report.action = IndexReport::Action::kRebuilt;
    out_.report.reason = reason;
    return OpenDb();
  }

  Status OpenExisting() {
    Status s = OpenDb();
    if (Damaged(s)) return Fresh("damaged: " + s.ToString());
    QUIPU_RETURN_IF_ERROR(s);
    const IndexMeta& meta = out_.applier->meta();
    // Records it has not applied were purged: it cannot catch up with them
    // (nor take back anything, the records at its sync point being gone).
    if (meta.applied_lsn + 1 < log_->FirstLsn()) {
      return Fresh("it predates the purge of LSN 1.." + std::to_string(log_->FirstLsn() - 1));
    }
    const Lsn last = log_->LastLsn();
    // What can be trusted: everything up to the sync point, and nothing the
    // log no longer has. After a clean close the sync point is the applied
    // LSN; after a crash, what follows it may have holes.
    const Lsn trusted = std::min(std::min(out_.applier->synced_lsn(), meta.applied_lsn), last);
    if (trusted < meta.applied_lsn) {
      uint32_t crc = 0;
      if (trusted > 0) {
        auto at = CrcAt(log_, trusted);
        if (!at.ok()) return at.status();
        crc = *at;
      }
      auto undone = UndoAfter(out_.db.get(), trusted, crc, protector_);
      if (Damaged(undone.status())) return Fresh("damaged: " + undone.status().ToString());
      if (undone.status().code() == Status::Code::kFailedPrecondition) {
        return Fresh(undone.status().message());
      }
      if (!undone.ok()) return undone.status();
      // Only records the log lost make this a repair; the rest (those after
      // the sync point that the log still has) are applied again below.
      if (meta.applied_lsn > last) out_.report.action = IndexReport::Action::kRepaired;
      out_.report.records_undone = *undone;
      return out_.applier->Load();
    }
    if (meta.applied_lsn > 0) {
      auto copy = IndexCopyOfApplied(out_.db.get(), meta);
      if (copy.status().code() == Status::Code::kNotFound)
        return Fresh("damaged: " + copy.status().message());
      if (!copy.ok()) return copy.status();
      auto same = LogHasRecord(log_, meta.applied_lsn, *copy);
      if (!same.ok()) return same.status();
      if (!*same || crc32c::Value(*copy) != meta.applied_crc) {
        return Fresh("it does not match this log (record " + std::to_string(meta.applied_lsn) +
                     " differs)");
      }
    }
    return Status::OK();
  }

  // A purged log cannot give an index the records before its first one:
  // an index that has not applied them starts from what the purge carried
  // past itself (audit/index_purge.h).
  bool BeforePurge() const { return out_.applier->meta().applied_lsn + 1 < log_->FirstLsn(); }

  Status StartAfterPurge() {
    if (!BeforePurge()) return Status::OK();
    const Lsn first = log_->FirstLsn();
    auto marker = ReadPurgeMarker(dir_, EnvOf(options_));
    if (!marker.ok()) return marker.status();
    if (!*marker)
      return Status::Corruption("the log starts at LSN " + std::to_string(first) +
                                " without a purge marker");
    auto purge = ReadRecordedPurge(log_, (*marker)->note, [this](const CarryRecord& rec) {
      return out_.applier->ApplyCarried(rec);
    });
    if (!purge.ok()) return purge.status();
    return out_.applier->FinishBase(purge->rec);
  }

  Status CatchUp() {
    const Lsn from = out_.applier->meta().applied_lsn + 1;
    const Lsn last = log_->LastLsn();
    if (from > last) {
      // Up to date; a crash right after the last write may have left the
      // sync point behind: set it, so that the next open trusts it all.
      if (out_.applier->synced_lsn() < out_.applier->meta().applied_lsn) {
        return out_.applier->MarkSynced();
      }
      return Status::OK();
    }
    auto reader = log_->NewReader(from);
    if (!reader.ok()) return reader.status();
    uint64_t applied = 0;
    while (true) {
      auto more = (*reader)->Next();
      if (!more.ok()) return more.status();
      if (!*more) break;
      QUIPU_RETURN_IF_ERROR(out_.applier->ApplyPayload((*reader)->payload(), (*reader)->lsn()));
      ++applied;
      if (out_.applier->pending() >= kCatchUpRecords ||
          out_.applier->pending_bytes() >= kCatchUpBytes) {
        QUIPU_RETURN_IF_ERROR(out_.applier->Commit(/*wal=*/false));
        if (options_.on_index_progress) options_.on_index_progress((*reader)->lsn(), last);
      }
    }
    QUIPU_RETURN_IF_ERROR(out_.applier->Commit(/*wal=*/false));
    QUIPU_RETURN_IF_ERROR(out_.db->Flush());
    QUIPU_RETURN_IF_ERROR(out_.applier->MarkSynced());
    // A rebuild writes far faster than compaction keeps up with; leave the
    // index compacted rather than make the next reads pay for it.
    if (applied >= kCompactAfter) QUIPU_RETURN_IF_ERROR(out_.db->CompactAll());
    if (options_.on_index_progress) options_.on_index_progress(last, last);
    out_.report.records_applied = applied;
    if (out_.report.action == IndexReport::Action::kNone) {
      out_.report.action = IndexReport::Action::kCaughtUp;
    }
    return Status::OK();
  }

  const std::string dir_;
  const std::string path_;
  Log* log_;
  Catalog* catalog_;
  Protector* protector_;
  const AuditOptions& options_;
  OpenedIndex out_;
};

}  // namespace

std::string IndexPath(const std::string& dir) { return dir + "/index"; }

Result<OpenedIndex> OpenIndexForWriter(const std::string& dir, Log* log, Catalog* catalog,
                                       Protector* protector, const AuditOptions& options) {
  WriterOpen open(dir, log, catalog, protector, options);
  auto out = open.Run();
  if (!out.ok()) return out.status().WithContext("derived index " + IndexPath(dir));
  return out;
}

Result<OpenedIndex> OpenIndexForReader(const std::string& dir, Catalog* catalog,
                                       Protector* protector, const AuditOptions& options) {
  const std::string path = IndexPath(dir);
  auto exists = EnvOf(options)->FileExists(path + "/CURRENT");
  if (!exists.ok()) return exists.status();
  if (!*exists) {
    return Status::FailedPrecondition(dir +
                                      " has no derived index yet (a store written before "
                                      "quipu kept one): open it once for writing, e.g. `quipu "
                                      "reindex " +
                                      dir + "`");
  }
  // A writer may remove one of RocksDB's files while this open reads the
  // list of them (a flush or compaction finishing): read the list again.
  Result<std::unique_ptr<IndexDb>> db = Status::NotFound(path);
  for (int attempt = 0; attempt < kReadOnlyAttempts; ++attempt) {
    db = IndexDb::Open(path, DbOptions(options, true));
    if (db.ok()) break;
  }
  if (!db.ok()) return db.status().WithContext("derived index " + path);
  OpenedIndex out;
  out.db = std::move(*db);
  out.applier = std::make_unique<IndexApplier>(out.db.get(), catalog);
  out.applier->set_protector(protector);
  Status s = out.applier->Load();
  if (s.ok()) s = out.applier->LoadCatalog();
  if (s.ok()) return out;
  return s.WithContext("derived index " + path);
}

}  // namespace quipu::audit
