// crypto/aead.cc — AES-256-GCM over EVP_CIPHER_CTX.
#include "crypto/aead.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <climits>
#include <memory>
#include <string>
#include <utility>

namespace quipu::crypto {
namespace {

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

// Names the failed step only. OpenSSL's queued errors are dropped rather than
// quoted, so that no later call reports them and no message can carry data.
Status OpenSslFailure(const char* what) {
  ERR_clear_error();
  return Status::IOError(std::string("OpenSSL AES-256-GCM: ") + what + " failed");
}

Status CheckSizes(std::string_view key, std::string_view nonce) {
  // Sizes only: the bytes themselves never go into a message.
  if (key.size() != kAeadKeySize) {
    return Status::InvalidArgument("AES-256-GCM key must be 32 bytes, got " +
                                   std::to_string(key.size()));
  }
  if (nonce.size() != kAeadNonceSize) {
    return Status::InvalidArgument("AES-256-GCM nonce must be 12 bytes, got " +
                                   std::to_string(nonce.size()));
  }
  return Status::OK();
}

// EVP_{En,De}cryptInit_ex with AES-256-GCM, key and nonce. The nonce needs no
// EVP_CTRL_GCM_SET_IVLEN: 12 bytes is GCM's default, and CheckSizes holds us
// to it.
CipherCtx NewContext(bool encrypt, std::string_view key, std::string_view nonce) {
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr) return nullptr;
  const auto* k = reinterpret_cast<const unsigned char*>(key.data());
  const auto* iv = reinterpret_cast<const unsigned char*>(nonce.data());
  const int ok = encrypt ? EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, k, iv)
                         : EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, k, iv);
  return ok == 1 ? std::move(ctx) : nullptr;
}

// Feeds `in` through EVP_CipherUpdate in slices that fit its int length,
// writing to `out` (null for aad). GCM is a stream mode: each slice produces
// exactly as many bytes as it consumes.
bool Update(EVP_CIPHER_CTX* ctx, std::string_view in, unsigned char* out) {
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  size_t left = in.size();
  while (left > 0) {
    const int chunk = left > (INT_MAX / 2) ? (INT_MAX / 2) : static_cast<int>(left);
    int written = 0;
    if (EVP_CipherUpdate(ctx, out, &written, p, chunk) != 1) return false;
    if (out != nullptr) {
      if (written != chunk) return false;
      out += written;
    }
    p += chunk;
    left -= static_cast<size_t>(chunk);
  }
  return true;
}

}  // namespace

Status AeadSeal(std::string_view key, std::string_view nonce, std::string_view aad,
                std::string_view plaintext, std::string* out) {
  QUIPU_RETURN_IF_ERROR(CheckSizes(key, nonce));
  CipherCtx ctx = NewContext(/*encrypt=*/true, key, nonce);
  if (ctx == nullptr) return OpenSslFailure("encrypt init");

  const size_t old_size = out->size();
  out->resize(old_size + plaintext.size() + kAeadTagSize);
  auto* ct = reinterpret_cast<unsigned char*>(out->data() + old_size);
  unsigned char* tag = ct + plaintext.size();
  int final_len = 0;
  if (!Update(ctx.get(), aad, nullptr) || !Update(ctx.get(), plaintext, ct) ||
      EVP_EncryptFinal_ex(ctx.get(), tag, &final_len) != 1 || final_len != 0 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kAeadTagSize, tag) != 1) {
    out->resize(old_size);
    return OpenSslFailure("encrypt");
  }
  return Status::OK();
}

Status AeadOpen(std::string_view key, std::string_view nonce, std::string_view aad,
                std::string_view sealed, std::string* out) {
  QUIPU_RETURN_IF_ERROR(CheckSizes(key, nonce));
  if (sealed.size() < kAeadTagSize) {
    return Status::Corruption("AES-256-GCM: sealed message of " + std::to_string(sealed.size()) +
                              " bytes is shorter than its 16-byte tag");
  }
  const std::string_view ciphertext = sealed.substr(0, sealed.size() - kAeadTagSize);
  const std::string_view tag = sealed.substr(ciphertext.size());

  CipherCtx ctx = NewContext(/*encrypt=*/false, key, nonce);
  if (ctx == nullptr) return OpenSslFailure("decrypt init");
  // OpenSSL copies the expected tag in; the cast only satisfies its signature.
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kAeadTagSize,
                          const_cast<char*>(tag.data())) != 1) {
    return OpenSslFailure("set tag");
  }

  // GCM decrypts before it can authenticate, so the plaintext goes to a
  // scratch buffer that reaches *out only once the tag has been checked, and
  // is wiped whatever happens.
  std::string plain(ciphertext.size(), '\0');
  auto* pt = reinterpret_cast<unsigned char*>(plain.data());
  const bool decrypted = Update(ctx.get(), aad, nullptr) && Update(ctx.get(), ciphertext, pt);
  int final_len = 0;
  // Final is the tag check; it writes nothing for GCM.
  const bool authentic = decrypted &&
                         EVP_DecryptFinal_ex(ctx.get(), pt + plain.size(), &final_len) == 1 &&
                         final_len == 0;
  if (authentic) out->append(plain);
  OPENSSL_cleanse(plain.data(), plain.size());
  if (!decrypted) return OpenSslFailure("decrypt");
  if (!authentic) {
    ERR_clear_error();
    return Status::Corruption("AES-256-GCM: authentication failed");
  }
  return Status::OK();
}

}  // namespace quipu::crypto
