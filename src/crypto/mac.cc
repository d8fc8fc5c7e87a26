// crypto/mac.cc — HMAC and HKDF over OpenSSL 3's EVP_MAC and EVP_KDF.
#include "crypto/mac.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <memory>
#include <string>

namespace quipu::crypto {
namespace {

constexpr size_t kSha256Size = 32;
constexpr size_t kHkdfMaxLength = 255 * kSha256Size;  // RFC 5869, section 2.3

struct MacCtxFree {
  void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
};
struct KdfCtxFree {
  void operator()(EVP_KDF_CTX* ctx) const { EVP_KDF_CTX_free(ctx); }
};

// Names the failed step only; OpenSSL's queued errors are dropped so that no
// later call reports them and no message can carry data.
Status OpenSslFailure(const char* what) {
  ERR_clear_error();
  return Status::IOError(std::string("OpenSSL ") + what + " failed");
}

// OpenSSL 3 looks an algorithm up on every use unless given one fetched
// explicitly; a fetched object lives as long as the process. Null when the
// loaded providers offer none (the failure is reported per call).
EVP_MAC* Hmac() {
  static EVP_MAC* const mac = [] {
    EVP_MAC* m = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    ERR_clear_error();
    return m;
  }();
  return mac;
}

EVP_KDF* Hkdf() {
  static EVP_KDF* const kdf = [] {
    EVP_KDF* k = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
    ERR_clear_error();
    return k;
  }();
  return kdf;
}

// An empty string_view may have a null data(), which OpenSSL reads as "no
// key given" rather than "the empty key"; any non-null pointer with length 0
// means the latter.
const unsigned char* Bytes(std::string_view s) {
  static const unsigned char kEmpty = 0;
  return s.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(s.data());
}

// OSSL_PARAM holds non-const pointers, but OpenSSL only reads these.
OSSL_PARAM OctetParam(const char* name, std::string_view s) {
  return OSSL_PARAM_construct_octet_string(name, const_cast<unsigned char*>(Bytes(s)), s.size());
}

OSSL_PARAM Sha256Param(const char* name) {
  static char kSha256[] = "SHA256";
  return OSSL_PARAM_construct_utf8_string(name, kSha256, 0);
}

}  // namespace

Result<Digest> HmacSha256(std::string_view key, std::string_view data) {
  if (Hmac() == nullptr) return OpenSslFailure("HMAC fetch");
  std::unique_ptr<EVP_MAC_CTX, MacCtxFree> ctx(EVP_MAC_CTX_new(Hmac()));
  if (ctx == nullptr) return OpenSslFailure("HMAC context");
  const OSSL_PARAM params[] = {Sha256Param(OSSL_MAC_PARAM_DIGEST), OSSL_PARAM_construct_end()};
  Digest out;
  size_t out_len = 0;
  if (EVP_MAC_init(ctx.get(), Bytes(key), key.size(), params) != 1 ||
      EVP_MAC_update(ctx.get(), Bytes(data), data.size()) != 1 ||
      EVP_MAC_final(ctx.get(), out.data(), &out_len, out.size()) != 1 || out_len != out.size()) {
    return OpenSslFailure("HMAC-SHA-256");
  }
  return out;
}

Result<Secret> HkdfSha256(std::string_view ikm, std::string_view salt, std::string_view info,
                          size_t length) {
  if (length == 0 || length > kHkdfMaxLength) {
    return Status::InvalidArgument("HKDF-SHA-256 output must be 1 to 8160 bytes, asked for " +
                                   std::to_string(length));
  }
  if (Hkdf() == nullptr) return OpenSslFailure("HKDF fetch");
  std::unique_ptr<EVP_KDF_CTX, KdfCtxFree> ctx(EVP_KDF_CTX_new(Hkdf()));
  if (ctx == nullptr) return OpenSslFailure("HKDF context");

  // Salt and info are left out when empty: absent is what RFC 5869 means by
  // empty (a salt of HashLen zeros, no info), and OpenSSL may refuse an
  // empty octet string for either.
  OSSL_PARAM params[5];
  size_t n = 0;
  params[n++] = Sha256Param(OSSL_KDF_PARAM_DIGEST);
  params[n++] = OctetParam(OSSL_KDF_PARAM_KEY, ikm);
  if (!salt.empty()) params[n++] = OctetParam(OSSL_KDF_PARAM_SALT, salt);
  if (!info.empty()) params[n++] = OctetParam(OSSL_KDF_PARAM_INFO, info);
  params[n] = OSSL_PARAM_construct_end();

  // Derived straight into the Secret's pages: the key never touches the heap.
  Secret okm(length);
  if (EVP_KDF_derive(ctx.get(), okm.data(), okm.size(), params) != 1) {
    return OpenSslFailure("HKDF-SHA-256");
  }
  return okm;
}

}  // namespace quipu::crypto
