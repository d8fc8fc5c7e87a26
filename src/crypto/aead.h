// crypto/aead.h — authenticated encryption: AES-256-GCM through OpenSSL EVP.
//
// A sealed message is ciphertext ‖ tag: the ciphertext is as long as the
// plaintext, the tag is kAeadTagSize bytes. The aad (associated data) is
// authenticated but not encrypted or stored: the opener must present the
// same bytes.
//
// The caller owns nonce uniqueness: a (key, nonce) pair used for two
// different messages reveals their XOR and lets an attacker forge tags under
// that key. Use a counter, or RandomBytes for at most 2^32 messages per key.
//
// Errors: InvalidArgument for a key that is not kAeadKeySize bytes or a nonce
// that is not kAeadNonceSize bytes; Corruption when a sealed message fails
// authentication (any bit changed in it, or a different key, nonce or aad)
// or is shorter than a tag; IOError if OpenSSL itself fails (allocation, or a
// provider configuration without AES-GCM). No message ever contains key,
// nonce or plaintext bytes. On any error *out is left as it was.
//
// `out` must not alias the inputs: it is appended to, which may reallocate.
//
// Thread safety: may be called from any thread.
#ifndef QUIPU_CRYPTO_AEAD_H_
#define QUIPU_CRYPTO_AEAD_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "quipu/status.h"

namespace quipu::crypto {

inline constexpr size_t kAeadKeySize = 32;
inline constexpr size_t kAeadNonceSize = 12;
inline constexpr size_t kAeadTagSize = 16;

// Appends the sealed form of plaintext (ciphertext, then tag) to *out.
Status AeadSeal(std::string_view key, std::string_view nonce, std::string_view aad,
                std::string_view plaintext, std::string* out);

// Checks the tag of `sealed` and, only if it is authentic, appends the
// plaintext to *out. No unauthenticated plaintext is ever written there.
Status AeadOpen(std::string_view key, std::string_view nonce, std::string_view aad,
                std::string_view sealed, std::string* out);

}  // namespace quipu::crypto

#endif  // QUIPU_CRYPTO_AEAD_H_
