// crypto/x25519.cc — X25519 over EVP_PKEY raw keys and EVP_PKEY_derive.
#include "crypto/x25519.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/proverr.h>

#include <memory>
#include <string>
#include <utility>

namespace quipu::crypto {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;

// Names the failed step only; OpenSSL's queued errors are dropped so that no
// later call reports them and no message can carry data.
Status OpenSslFailure(const char* what) {
  ERR_clear_error();
  return Status::IOError(std::string("OpenSSL X25519: ") + what + " failed");
}

Status LowOrder() {
  ERR_clear_error();
  return Status::InvalidArgument(
      "X25519: public key is a low-order point (the shared secret would be all zeros)");
}

Status CheckSize(const char* which, std::string_view key) {
  // The size only: the bytes themselves never go into a message.
  if (key.size() != kX25519KeySize) {
    return Status::InvalidArgument(std::string("X25519 ") + which + " key must be 32 bytes, got " +
                                   std::to_string(key.size()));
  }
  return Status::OK();
}

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// OpenSSL copies the bytes in, and wipes its copy of a private key when the
// EVP_PKEY is freed. Null on failure.
Pkey PrivateKey(std::string_view private_key) {
  return Pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, Bytes(private_key),
                                           private_key.size()));
}

Result<std::string> RawPublicKey(EVP_PKEY* key) {
  std::string out(kX25519KeySize, '\0');
  size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(out.data()), &len) != 1 ||
      len != kX25519KeySize) {
    return OpenSslFailure("get public key");
  }
  return out;
}

// True when OpenSSL's queue holds its provider's "failed during derivation",
// which OpenSSL 3's X25519 raises for one reason only: an all-zero result,
// i.e. a low-order public key. Empties the queue either way.
bool DeriveRefusedLowOrder() {
  bool found = false;
  while (const unsigned long e = ERR_get_error()) {
    if (ERR_GET_LIB(e) == ERR_LIB_PROV && ERR_GET_REASON(e) == PROV_R_FAILED_DURING_DERIVATION) {
      found = true;
    }
  }
  return found;
}

}  // namespace

Result<std::string> X25519PublicKey(std::string_view private_key) {
  QUIPU_RETURN_IF_ERROR(CheckSize("private", private_key));
  Pkey key = PrivateKey(private_key);
  if (key == nullptr) return OpenSslFailure("load private key");
  return RawPublicKey(key.get());
}

Result<X25519KeyPair> X25519Generate() {
  PkeyCtx ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, nullptr));
  if (ctx == nullptr) return OpenSslFailure("keygen context");
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_keygen(ctx.get(), &raw) != 1) {
    EVP_PKEY_free(raw);
    return OpenSslFailure("keygen");
  }
  Pkey key(raw);

  // Copied straight into the Secret's pages: the private key never touches
  // the heap on our side.
  X25519KeyPair pair{Secret(kX25519KeySize), std::string()};
  size_t len = pair.private_key.size();
  if (EVP_PKEY_get_raw_private_key(key.get(), pair.private_key.data(), &len) != 1 ||
      len != kX25519KeySize) {
    return OpenSslFailure("get private key");
  }
  Result<std::string> pub = RawPublicKey(key.get());
  if (!pub.ok()) return pub.status();
  pair.public_key = std::move(pub).value();
  return pair;
}

Result<Secret> X25519Shared(std::string_view private_key, std::string_view public_key) {
  QUIPU_RETURN_IF_ERROR(CheckSize("private", private_key));
  QUIPU_RETURN_IF_ERROR(CheckSize("public", public_key));
  Pkey ours = PrivateKey(private_key);
  if (ours == nullptr) return OpenSslFailure("load private key");
  Pkey theirs(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, Bytes(public_key), public_key.size()));
  if (theirs == nullptr) return OpenSslFailure("load public key");

  PkeyCtx ctx(EVP_PKEY_CTX_new(ours.get(), nullptr));
  if (ctx == nullptr) return OpenSslFailure("derive context");
  if (EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer(ctx.get(), theirs.get()) != 1) {
    return OpenSslFailure("derive init");
  }

  // Derived straight into the Secret's pages, which are wiped when it goes
  // out of scope on any error below.
  Secret shared(kX25519KeySize);
  size_t len = shared.size();
  if (EVP_PKEY_derive(ctx.get(), shared.data(), &len) != 1) {
    // OpenSSL 3 refuses an all-zero result itself rather than returning it.
    if (DeriveRefusedLowOrder()) return LowOrder();
    return OpenSslFailure("derive");
  }
  if (len != kX25519KeySize) return OpenSslFailure("derive");
  // The check for a provider that hands an all-zero result back. In constant
  // time, as RFC 7748 section 6.1 asks.
  static const unsigned char kZeros[kX25519KeySize] = {};
  if (CRYPTO_memcmp(shared.data(), kZeros, kX25519KeySize) == 0) return LowOrder();
  return shared;
}

}  // namespace quipu::crypto
