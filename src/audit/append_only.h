// audit/append_only.h — containers one writer appends to while readers read.
//
// The audit store's queries must never wait for writers, so the in-memory
// rows, versions and postings live in containers whose elements never move
// once written and whose size is published with a release store after the
// element is complete. A reader that loads the size (acquire) may read every
// element below it with no lock, however many appends happen meanwhile.
//
// Contract for both: at most one thread appends at a time (the audit store's
// writer mutex); any number of threads read concurrently. Elements are
// immutable once published.
#ifndef QUIPU_AUDIT_APPEND_ONLY_H_
#define QUIPU_AUDIT_APPEND_ONLY_H_

#include <atomic>
#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace quipu::audit {

// Random access by index. Storage is a fixed directory of chunks whose sizes
// double (kFirst, 2 kFirst, 4 kFirst, ...), so growing never relocates an
// element and the directory itself never reallocates.
template <typename T>
class ChunkedVector {
 public:
  ChunkedVector() = default;
  ~ChunkedVector() {
    for (auto& c : chunks_) delete[] c.load(std::memory_order_relaxed);
  }
  ChunkedVector(const ChunkedVector&) = delete;
  ChunkedVector& operator=(const ChunkedVector&) = delete;

  // Writer: the slot that the next Publish() makes visible. It is default
  // constructed; fill it in, then Publish().
  T& Next() {
    const size_t i = size_.load(std::memory_order_relaxed);
    const Slot s = Locate(i);
    T* chunk = chunks_[s.chunk].load(std::memory_order_relaxed);
    if (chunk == nullptr) {
      chunk = new T[kFirst << s.chunk];
      chunks_[s.chunk].store(chunk, std::memory_order_release);
    }
    return chunk[s.offset];
  }
  void Publish() { size_.fetch_add(1, std::memory_order_release); }

  // Readers: elements [0, Size()) are complete.
  size_t Size() const { return size_.load(std::memory_order_acquire); }
  const T& operator[](size_t i) const {
    const Slot s = Locate(i);
    return chunks_[s.chunk].load(std::memory_order_acquire)[s.offset];
  }
  // Writer only: elements it published may still be updated by it if the
  // field is itself atomic (see Entity::latest).
  T& Mutable(size_t i) {
    const Slot s = Locate(i);
    return chunks_[s.chunk].load(std::memory_order_relaxed)[s.offset];
  }

 private:
  static constexpr size_t kFirst = 64;
  static constexpr int kChunks = 48;
  struct Slot {
    int chunk;
    size_t offset;
  };
  // Chunk k covers indexes [kFirst (2^k - 1), kFirst (2^(k+1) - 1)).
  static Slot Locate(size_t i) {
    const size_t j = i / kFirst + 1;
    const int k = std::bit_width(j) - 1;
    return Slot{k, i - kFirst * ((size_t{1} << k) - 1)};
  }

  std::atomic<T*> chunks_[kChunks] = {};
  std::atomic<size_t> size_{0};
};

// Sequential access only, for the many small per-entity lists (versions,
// rows naming the entity): a chain of blocks of doubling capacity, a few
// words when empty.
template <typename T>
class AppendList {
 public:
  AppendList() = default;
  ~AppendList() {
    Block* b = head_.load(std::memory_order_relaxed);
    while (b != nullptr) {
      Block* next = b->next.load(std::memory_order_relaxed);
      delete b;
      b = next;
    }
  }
  AppendList(const AppendList&) = delete;
  AppendList& operator=(const AppendList&) = delete;

  // Writer.
  void Push(T v) {
    if (tail_ == nullptr || tail_->count.load(std::memory_order_relaxed) == tail_->capacity) {
      auto* b = new Block(tail_ == nullptr ? 4 : tail_->capacity * 2);
      if (tail_ == nullptr) {
        head_.store(b, std::memory_order_release);
      } else {
        tail_->next.store(b, std::memory_order_release);
      }
      tail_ = b;
    }
    const uint32_t n = tail_->count.load(std::memory_order_relaxed);
    tail_->data[n] = v;
    tail_->count.store(n + 1, std::memory_order_release);
    size_.fetch_add(1, std::memory_order_release);
  }

  // Readers. Size() is a lower bound of what ForEach visits.
  size_t Size() const { return size_.load(std::memory_order_acquire); }
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (const Block* b = head_.load(std::memory_order_acquire); b != nullptr;
         b = b->next.load(std::memory_order_acquire)) {
      const uint32_t n = b->count.load(std::memory_order_acquire);
      for (uint32_t i = 0; i < n; ++i) fn(b->data[i]);
    }
  }

 private:
  struct Block {
    explicit Block(uint32_t cap) : capacity(cap), data(new T[cap]) {}
    const uint32_t capacity;
    std::atomic<uint32_t> count{0};
    std::atomic<Block*> next{nullptr};
    std::unique_ptr<T[]> data;
  };

  std::atomic<Block*> head_{nullptr};
  Block* tail_ = nullptr;  // writer only
  std::atomic<size_t> size_{0};
};

}  // namespace quipu::audit

#endif  // QUIPU_AUDIT_APPEND_ONLY_H_
