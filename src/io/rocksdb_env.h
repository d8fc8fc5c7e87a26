// TEMPORARY stub, replaced by the real adapter.
#ifndef QUIPU_IO_ROCKSDB_ENV_H_
#define QUIPU_IO_ROCKSDB_ENV_H_
#include <rocksdb/env.h>
#include <memory>
#include "quipu/env.h"
namespace quipu {
std::unique_ptr<rocksdb::Env> NewRocksDbEnv(quipu::Env* env);
}
#endif
