// crypto/x25519.h — X25519 Diffie-Hellman (RFC 7748) through OpenSSL's EVP_PKEY.
//
// Every key is kX25519KeySize bytes. A private key may be any 32 bytes:
// X25519 clamps it (RFC 7748, section 5), so no value is invalid. A public
// key is a little-endian u-coordinate whose top bit is ignored, as the RFC
// requires. Private keys and shared secrets are key material and come back
// in Secrets; public keys are not secret and come back as std::string.
//
// The shared secret is the raw X25519 output, not uniformly random bytes:
// derive keys from it with HkdfSha256 (crypto/mac.h), binding both public
// keys in the info, rather than using it as a key directly.
//
// Low-order public keys: a public key whose point has order dividing 8
// (u = 0, u = 1, and a handful of others) makes the shared secret all zeros
// whatever our private key is, so a peer who sends one fixes the "secret" to
// a value everyone knows. X25519Shared refuses such a key (the check RFC 7748
// section 6.1 permits). Other points, those on the quadratic twist included,
// are accepted: Curve25519 is twist-secure.
//
// Errors: InvalidArgument for a key that is not kX25519KeySize bytes and for
// a low-order public key; IOError if OpenSSL itself fails (allocation, its
// random generator, or a provider configuration without X25519). No message
// ever contains key bytes, private or public, nor a shared secret.
//
// Thread safety: may be called from any thread.
#ifndef QUIPU_CRYPTO_X25519_H_
#define QUIPU_CRYPTO_X25519_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "crypto/secret.h"
#include "quipu/status.h"

namespace quipu::crypto {

inline constexpr size_t kX25519KeySize = 32;

// The public key of a private key: X25519(private_key, 9).
Result<std::string> X25519PublicKey(std::string_view private_key);

struct X25519KeyPair {
  Secret private_key;      // kX25519KeySize bytes
  std::string public_key;  // kX25519KeySize bytes
};

// A fresh key pair from OpenSSL's private-key random generator.
Result<X25519KeyPair> X25519Generate();

// X25519(private_key, public_key): the kX25519KeySize-byte secret both sides
// of an exchange compute, each from its own private key and the other's
// public key.
Result<Secret> X25519Shared(std::string_view private_key, std::string_view public_key);

}  // namespace quipu::crypto

#endif  // QUIPU_CRYPTO_X25519_H_
