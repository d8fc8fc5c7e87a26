// integrity/hash.cc — SHA-256 through OpenSSL's EVP interface, and the Hash
// value type's encodings.
#include <openssl/evp.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "quipu/merkle.h"
#include "util/hex.h"

namespace quipu::merkle {
namespace {

struct CtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

// SHA-256 only fails on allocation failure or a broken OpenSSL install; no
// caller could do anything useful with such an error, and threading a Status
// through every hash would obscure the tree code, so it is fatal.
[[noreturn]] void DigestFailed() {
  std::fprintf(stderr, "quipu: OpenSSL SHA-256 failed\n");
  std::abort();
}

// Allocating a context per hash would be a large part of the cost of hashing
// a small record, so each thread keeps one.
EVP_MD_CTX* ThreadContext() {
  thread_local std::unique_ptr<EVP_MD_CTX, CtxFree> ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) DigestFailed();
  return ctx.get();
}

// OpenSSL 3 looks the algorithm up again on every init unless given one
// fetched explicitly; the fetched object lives as long as the process.
const EVP_MD* Sha256() {
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
  static const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
#else
  static const EVP_MD* md = EVP_sha256();
#endif
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

Hash EmptyRoot() {
  static const Hash empty = Digest({}, {}, {});
  return empty;
}

}  // namespace quipu::merkle
