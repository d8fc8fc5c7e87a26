// crypto/secret.h — a home for key bytes, and the randomness they come from.
//
// A Secret owns its bytes in a private anonymous mapping (rounded up to
// whole pages; secrets of up to 64 bytes share the pages of a pool, each in
// a 64-byte slot of its own) rather than on the heap, so that:
//   - the bytes are excluded from core dumps (madvise MADV_DONTDUMP);
//   - they are locked in RAM when the process may lock memory (mlock), so
//     they do not reach swap; a refused mlock (RLIMIT_MEMLOCK) is ignored,
//     because a key that may be swapped beats no key;
//   - they are wiped (OPENSSL_cleanse, which the compiler cannot elide) when
//     the Secret is destroyed or assigned over, and their pages unmapped (a
//     pool slot is wiped before it goes back to the pool).
// A Secret is move-only: a copy would be one more place to wipe. A moved-from
// Secret is empty. An empty Secret (size 0) maps nothing and data() is null.
//
// What it cannot do: bytes copied out through data() or view() (into a
// std::string, say) are the caller's to protect.
//
// Allocation failure throws std::bad_alloc, as allocating a std::string of
// that size would: mmap refused (memory or address space exhausted), or the
// kernel refused MADV_DONTDUMP (only kernels older than Linux 3.4 do), since
// holding a key in memory a core dump would show is not an option offered.
//
// Thread safety: a Secret is a value; distinct objects may be used from
// different threads freely, a shared one only for reading. The free
// functions may be called from any thread.
#ifndef QUIPU_CRYPTO_SECRET_H_
#define QUIPU_CRYPTO_SECRET_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "quipu/status.h"

namespace quipu::crypto {

class Secret {
 public:
  Secret() = default;
  // n zero bytes (n may be 0).
  explicit Secret(size_t n);
  ~Secret();

  Secret(Secret&& other) noexcept;
  Secret& operator=(Secret&& other) noexcept;
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;

  // n bytes from OpenSSL's CSPRNG. IOError if it cannot produce them (an
  // unseeded or failed generator); nothing partial is returned.
  static Result<Secret> Random(size_t n);
  // A Secret holding a copy of `bytes`; wiping `bytes` stays the caller's job.
  static Secret Copy(std::string_view bytes);

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::string_view view() const {
    return std::string_view(reinterpret_cast<const char*>(data_), size_);
  }

 private:
  void Release();

  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t mapped_ = 0;  // bytes mapped at data_: size_ rounded up to pages
};

// Fills out[0, n) from OpenSSL's CSPRNG (RAND_bytes). IOError if the
// generator fails, in which case the contents of out are unspecified.
Status RandomBytes(void* out, size_t n);

// True when a and b hold the same bytes. For equal sizes the time taken does
// not depend on where they differ (CRYPTO_memcmp), so comparing a received
// MAC against the expected one leaks nothing; different sizes return false
// at once (sizes are not secret).
bool ConstantTimeEqual(std::string_view a, std::string_view b);

}  // namespace quipu::crypto

#endif  // QUIPU_CRYPTO_SECRET_H_
