// crypto/mac.h — HMAC-SHA-256 (RFC 2104, FIPS 198-1) and HKDF-SHA-256
// (RFC 5869), through OpenSSL's EVP_MAC and EVP_KDF.
//
// Keys of any length are accepted, the empty one included: HMAC hashes keys
// longer than a SHA-256 block and zero-pads shorter ones, as the RFC says.
// To check a received MAC, compare with ConstantTimeEqual (crypto/secret.h),
// never with ==.
//
// Errors: HkdfSha256 returns InvalidArgument for a length of 0 or above
// 255 * 32 bytes (RFC 5869's limit). Both return IOError if OpenSSL itself
// fails (allocation, or a provider configuration without HMAC, HKDF or
// SHA-256). No message ever contains key or input bytes.
//
// Thread safety: may be called from any thread.
#ifndef QUIPU_CRYPTO_MAC_H_
#define QUIPU_CRYPTO_MAC_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "crypto/secret.h"
#include "quipu/status.h"

namespace quipu::crypto {

using Digest = std::array<uint8_t, 32>;

// HMAC-SHA-256(key, data).
Result<Digest> HmacSha256(std::string_view key, std::string_view data);

// The first `length` bytes of HKDF-SHA-256 output keying material: extract
// with `salt` (empty means HashLen zero bytes, per the RFC), then expand
// with `info`. The result is a Secret: it is key material.
Result<Secret> HkdfSha256(std::string_view ikm, std::string_view salt, std::string_view info,
                          size_t length);

}  // namespace quipu::crypto

#endif  // QUIPU_CRYPTO_MAC_H_
