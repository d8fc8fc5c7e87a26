// integrity/hash.h — plain SHA-256, for code inside quipu that needs a
// digest which is not a tree hash (the audit store's idempotency
// fingerprints).
//
// It takes the same path as LeafHash and NodeHash (quipu/merkle.h): OpenSSL
// EVP with one context per thread, so the process has one way to hash.
// Unlike them it adds no domain prefix: Sha256Of(x) is SHA-256(x). It too
// returns a plain value and aborts, printing nothing, if SHA-256 fails;
// callers must have passed merkle::CheckSha256() first (Log::Open does, as
// it opens the log's tree), after which only memory exhaustion can fail it.
//
// Thread safety: may be called from any thread.
#ifndef QUIPU_INTEGRITY_HASH_H_
#define QUIPU_INTEGRITY_HASH_H_

#include <string_view>

#include "quipu/merkle.h"

namespace quipu::merkle {

Hash Sha256Of(std::string_view data);

}  // namespace quipu::merkle

#endif  // QUIPU_INTEGRITY_HASH_H_
