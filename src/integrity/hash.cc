// integrity/hash.cc — SHA-256 through OpenSSL's EVP interface, and the Hash
// value type's encodings.
#include "integrity/hash.h"

#include <openssl/err.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <memory>

#include "quipu/merkle.h"
#include "util/hex.h"

namespace quipu::merkle {
namespace {

struct CtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

// Once CheckSha256() has passed, SHA-256 only fails on allocation failure;
// threading a Status through every hash for that would obscure the tree
// code, so it is fatal, like std::bad_alloc escaping a thread. Nothing is
// printed: a library must not write to a descriptor it did not open.
[[noreturn]] void DigestFailed() { std::abort(); }

// Allocating a context per hash would be a large part of the cost of hashing
// a small record, so each thread keeps one.
EVP_MD_CTX* ThreadContext() {
  thread_local std::unique_ptr<EVP_MD_CTX, CtxFree> ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) DigestFailed();
  return ctx.get();
}

// OpenSSL 3 looks the algorithm up again on every init unless given one
// fetched explicitly; the fetched object lives as long as the process. Null
// when this OpenSSL offers no SHA-256 (a configuration without the default
// provider, say).
const EVP_MD* FetchSha256() {
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
  const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
#else
  const EVP_MD* md = EVP_sha256();
#endif
  ERR_clear_error();  // a failed fetch queues errors no later call should see
  return md;
}

const EVP_MD* Sha256OrNull() {
  static const EVP_MD* md = FetchSha256();
  return md;
}

const EVP_MD* Sha256() {
  const EVP_MD* md = Sha256OrNull();
  if (md == nullptr) DigestFailed();
  return md;
}

// SHA-256 of prefix ‖ a ‖ b.
Hash Digest(std::string_view prefix, std::string_view a, std::string_view b) {
  EVP_MD_CTX* ctx = ThreadContext();
  Hash::Bytes out;
  unsigned int len = 0;
  if (EVP_DigestInit_ex(ctx, Sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx, prefix.data(), prefix.size()) != 1 ||
      EVP_DigestUpdate(ctx, a.data(), a.size()) != 1 ||
      EVP_DigestUpdate(ctx, b.data(), b.size()) != 1 ||
      EVP_DigestFinal_ex(ctx, out.data(), &len) != 1 || len != Hash::kSize) {
    DigestFailed();
  }
  return Hash(out);
}

}  // namespace

Status CheckSha256() {
  if (Sha256OrNull() == nullptr) {
    return Status::NotSupported(
        "OpenSSL offers no SHA-256 (check the providers its configuration "
        "loads, e.g. through OPENSSL_CONF)");
  }
  return Status::OK();
}

Result<Hash> Hash::FromBytes(std::string_view bytes) {
  if (bytes.size() != kSize) {
    return Status::InvalidArgument("hash must be 32 bytes, got " + std::to_string(bytes.size()));
  }
  Bytes out;
  for (size_t i = 0; i < kSize; ++i) out[i] = static_cast<uint8_t>(bytes[i]);
  return Hash(out);
}

Result<Hash> Hash::FromHex(std::string_view hex) {
  if (hex.size() != 2 * kSize) {
    return Status::InvalidArgument("hash must be 64 hex digits, got " + std::to_string(hex.size()) +
                                   " characters");
  }
  std::string raw;
  if (!HexDecode(hex, &raw)) return Status::InvalidArgument("hash has a non-hex character");
  return FromBytes(raw);
}

std::string Hash::ToHex() const { return HexEncode(AsBytes()); }

Hash LeafHash(std::string_view payload) { return Digest(std::string_view("\x00", 1), payload, {}); }

Hash NodeHash(const Hash& left, const Hash& right) {
  return Digest("\x01", left.AsBytes(), right.AsBytes());
}

Hash Sha256Of(std::string_view data) { return Digest({}, data, {}); }

Hash EmptyRoot() {
  static const Hash empty = Digest({}, {}, {});
  return empty;
}

}  // namespace quipu::merkle
