// integrity/tree_math.h — index arithmetic shared by the tree code.
#ifndef QUIPU_INTEGRITY_TREE_MATH_H_
#define QUIPU_INTEGRITY_TREE_MATH_H_

#include <bit>
#include <cstdint>

namespace quipu::merkle {

// The RFC's split point k: the largest power of two strictly below n (n ≥ 2).
inline uint64_t SplitPoint(uint64_t n) { return std::bit_floor(n - 1); }

// True if [begin, end) is a perfect subtree: a power-of-two length, aligned.
inline bool IsPerfect(uint64_t begin, uint64_t end) {
  uint64_t len = end - begin;
  return std::has_single_bit(len) && (begin & (len - 1)) == 0;
}

inline int LevelOf(uint64_t perfect_len) { return std::countr_zero(perfect_len); }

// First leaf of the peak at `level` of a tree of `size` leaves (bit `level`
// of size set): the bits of size above `level`. For level 63 the mask's
// shift wraps to 0 and the start is 0, as it should be.
inline uint64_t PeakStart(uint64_t size, int level) { return size & ~((uint64_t{2} << level) - 1); }

}  // namespace quipu::merkle

#endif  // QUIPU_INTEGRITY_TREE_MATH_H_
