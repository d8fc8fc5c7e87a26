// io/rocksdb_info_log.h — RocksDB's informational LOG, written through a
// quipu::WritableFile.
//
// Why not RocksDB's own: the base FileSystem::NewLogger (EnvLogger) writes
// through a WritableFileWriter, which after one failed write asserts on the
// next, and Debian's librocksdb keeps its assertions: a full disk or a failed
// LOG write would abort the process. The POSIX file system's logger opens LOG
// without O_NOFOLLOW. This one writes each line with one Append and, after
// the first failure, drops the rest: a diagnostic must never stop the
// database, nor report its own loss as the database's error.
//
// Lines look like RocksDB's: "2024/05/01-12:00:00.123456 7f3a... message".
// Nothing is buffered (Flush has nothing to do) and nothing synced: the LOG
// is not durable data.
//
// Thread safety: Logv may be called from any thread (RocksDB does).
#ifndef QUIPU_IO_ROCKSDB_INFO_LOG_H_
#define QUIPU_IO_ROCKSDB_INFO_LOG_H_

#include <rocksdb/env.h>

#include <memory>

#include "quipu/env.h"

namespace quipu {

std::shared_ptr<rocksdb::Logger> NewRocksInfoLog(std::unique_ptr<WritableFile> file);

}  // namespace quipu

#endif  // QUIPU_IO_ROCKSDB_INFO_LOG_H_
