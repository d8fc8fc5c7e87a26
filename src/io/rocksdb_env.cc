// TEMPORARY stub, replaced by the real adapter.
#include "io/rocksdb_env.h"
#include <rocksdb/file_system.h>
namespace quipu {
std::unique_ptr<rocksdb::Env> NewRocksDbEnv(quipu::Env*) {
  return rocksdb::NewCompositeEnv(rocksdb::FileSystem::Default());
}
}
