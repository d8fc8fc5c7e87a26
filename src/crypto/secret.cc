// crypto/secret.cc — page-backed key storage, RAND_bytes and CRYPTO_memcmp.
#include "crypto/secret.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <sys/mman.h>
#include <unistd.h>

#include <climits>
#include <cstring>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

namespace quipu::crypto {
namespace {

#if defined(MADV_DONTDUMP)
constexpr int kNoDump = MADV_DONTDUMP;  // Linux
#elif defined(MADV_NOCORE)
constexpr int kNoDump = MADV_NOCORE;  // the BSDs
#else
#error "crypto/secret.cc needs a way to keep pages out of core dumps"
#endif

size_t PageSize() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

// A private mapping of `bytes` (whole pages): zero-filled, out of core
// dumps, locked when the process may lock memory.
void* MapProtected(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  if (madvise(p, bytes, kNoDump) != 0) {
    munmap(p, bytes);
    throw std::bad_alloc();
  }
  // Best effort: an unprivileged process may lock only RLIMIT_MEMLOCK bytes.
  (void)mlock(p, bytes);
  return p;
}

// Small secrets (keys are 32 bytes) share pages: a mapping per key would
// cost an mmap, an mlock and a munmap (with its TLB shootdown) each time a
// data key is unwrapped. Slots come from chunks mapped like any Secret and
// never unmapped; a released slot is wiped before it is reused.
constexpr size_t kSmallSlot = 64;
constexpr size_t kChunkBytes = 64 << 10;

class SmallPool {
 public:
  uint8_t* Take() {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.empty()) {
      auto* chunk = static_cast<uint8_t*>(MapProtected(kChunkBytes));
      for (size_t at = 0; at < kChunkBytes; at += kSmallSlot) free_.push_back(chunk + at);
    }
    uint8_t* slot = free_.back();
    free_.pop_back();
    return slot;
  }
  void Give(uint8_t* slot) {
    OPENSSL_cleanse(slot, kSmallSlot);
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(slot);
  }

 private:
  std::mutex mu_;
  std::vector<uint8_t*> free_;  // guarded by mu_
};

SmallPool& Pool() {
  static auto* pool = new SmallPool();  // never destroyed: Secrets may outlive statics
  return *pool;
}

}  // namespace

Secret::Secret(size_t n) {
  if (n == 0) return;
  if (n <= kSmallSlot) {
    data_ = Pool().Take();  // wiped: zero-filled, as documented
    size_ = n;
    mapped_ = 0;
    return;
  }
  const size_t page = PageSize();
  if (n > SIZE_MAX - (page - 1)) throw std::bad_alloc();
  const size_t mapped = (n + page - 1) / page * page;
  data_ = static_cast<uint8_t*>(MapProtected(mapped));
  size_ = n;
  mapped_ = mapped;
}

Secret::~Secret() { Release(); }

Secret::Secret(Secret&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      mapped_(std::exchange(other.mapped_, 0)) {}

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    Release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    mapped_ = std::exchange(other.mapped_, 0);
  }
  return *this;
}

void Secret::Release() {
  if (data_ == nullptr) return;
  if (mapped_ == 0) {
    Pool().Give(data_);  // wipes the whole slot
  } else {
    // The whole mapping, not just size_: nothing else is written past
    // size_, but wiping it costs little and makes that no longer matter.
    OPENSSL_cleanse(data_, mapped_);
    // munmap drops the lock with the pages, so no munlock is needed.
    munmap(data_, mapped_);
  }
  data_ = nullptr;
  size_ = 0;
  mapped_ = 0;
}

Result<Secret> Secret::Random(size_t n) {
  Secret s(n);
  QUIPU_RETURN_IF_ERROR(RandomBytes(s.data(), s.size()));
  return s;
}

Secret Secret::Copy(std::string_view bytes) {
  Secret s(bytes.size());
  if (!bytes.empty()) std::memcpy(s.data(), bytes.data(), bytes.size());
  return s;
}

Status RandomBytes(void* out, size_t n) {
  // RAND_bytes takes an int count, so larger requests go in slices.
  auto* p = static_cast<unsigned char*>(out);
  while (n > 0) {
    const int chunk = n > INT_MAX ? INT_MAX : static_cast<int>(n);
    if (RAND_bytes(p, chunk) != 1) {
      ERR_clear_error();
      return Status::IOError("OpenSSL RAND_bytes failed: no random bytes available");
    }
    p += chunk;
    n -= static_cast<size_t>(chunk);
  }
  return Status::OK();
}

bool ConstantTimeEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;  // data() may be null; nothing to compare
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace quipu::crypto
