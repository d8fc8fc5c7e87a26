// util/wait_word.h — a 32-bit word that threads sleep on until it changes.
//
// C++20's std::atomic::wait would do, but libstdc++ spins and calls
// sched_yield before it sleeps; with dozens of group-commit followers on two
// cores that spinning costs more CPU than the futex round trip it tries to
// avoid. On Linux this sleeps in the kernel at once (FUTEX_WAIT_PRIVATE) and
// one FUTEX_WAKE releases every sleeper (or, with masks, every sleeper of
// one kind: FUTEX_WAKE_BITSET); elsewhere it falls back to the standard
// wait. Spurious returns are possible: callers re-check.
#ifndef QUIPU_UTIL_WAIT_WORD_H_
#define QUIPU_UTIL_WAIT_WORD_H_

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <ctime>
#include <thread>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace quipu {

class WaitWord {
 public:
  uint32_t Load() const { return word_.load(std::memory_order_acquire); }

  // Sleeps while the word still equals `seen`.
  void WaitWhileEquals(uint32_t seen) {
#if defined(__linux__)
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word_), FUTEX_WAIT_PRIVATE, seen, nullptr,
            nullptr, 0);
#else
    word_.wait(seen, std::memory_order_acquire);
#endif
  }

  // As WaitWhileEquals, for at most `timeout` (a relative time). Without
  // futexes it polls the word every 50 µs instead.
  void WaitWhileEqualsFor(uint32_t seen, std::chrono::nanoseconds timeout) {
    if (timeout.count() <= 0) return;
#if defined(__linux__)
    timespec ts{static_cast<time_t>(timeout.count() / 1'000'000'000),
                static_cast<long>(timeout.count() % 1'000'000'000)};
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word_), FUTEX_WAIT_PRIVATE, seen, &ts, nullptr,
            0);
#else
    // No timed wait in std::atomic: poll, which only this fallback pays.
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (Load() == seen && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
#endif
  }

  // As WaitWhileEquals, for a sleeper that only WakeMatching calls whose
  // mask shares a bit with `mask` (not 0) release. (BumpAndWakeAll wakes
  // it too.)
  void WaitWhileEqualsMasked(uint32_t seen, uint32_t mask) {
#if defined(__linux__)
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word_), FUTEX_WAIT_BITSET_PRIVATE, seen,
            nullptr, nullptr, mask);
#else
    (void)mask;
    word_.wait(seen, std::memory_order_acquire);
#endif
  }

  // Changes the word and, in one call, wakes the sleepers whose mask shares
  // a bit with `mask`; the others sleep on.
  void BumpAndWakeMatching(uint32_t mask) {
    word_.fetch_add(1, std::memory_order_release);
#if defined(__linux__)
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word_), FUTEX_WAKE_BITSET_PRIVATE, INT_MAX,
            nullptr, nullptr, mask);
#else
    (void)mask;
    word_.notify_all();
#endif
  }

  // Changes the word and wakes every sleeper.
  void BumpAndWakeAll() {
    word_.fetch_add(1, std::memory_order_release);
#if defined(__linux__)
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word_), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
            nullptr, 0);
#else
    word_.notify_all();
#endif
  }

 private:
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
  std::atomic<uint32_t> word_{0};
};

}  // namespace quipu

#endif  // QUIPU_UTIL_WAIT_WORD_H_
