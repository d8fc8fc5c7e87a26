// util/crc32c.cc — CRC-32C in two implementations that must agree bit for bit.
//
// Both work on the raw (reflected) CRC register; Extend's public contract uses
// the finalized value, so each entry point inverts on the way in and out.
//
// Portable: slicing-by-8. Eight 256-entry tables, where table k gives the
// effect of a byte followed by k zero bytes, let one step consume 8 bytes
// with 8 independent lookups instead of a chain of 8 dependent ones.
//
// Hardware (x86-64 SSE4.2): the crc32 instruction has a latency of about
// 3 cycles but can start one per cycle, so a single dependency chain uses a
// third of the unit. Large inputs are therefore cut into three equal lanes
// whose CRCs are computed interleaved and then merged: the register of a lane
// is advanced over the length of the following lane (a multiplication by
// x^(8*len) mod P, done with precomputed tables) and XORed with that lane's
// CRC. Everything these tables need is computed at compile time.
#include "util/crc32c.h"

#include <array>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#define QUIPU_CRC32C_HAVE_SSE42_PATH 1
#else
#define QUIPU_CRC32C_HAVE_SSE42_PATH 0
#endif

namespace quipu::crc32c {
namespace {

// 0x1EDC6F41 with its bits reversed: the reflected form both paths use.
constexpr uint32_t kReflectedPoly = 0x82F63B78u;

using ByteTable = std::array<uint32_t, 256>;

// Advances a raw register by one zero bit.
constexpr uint32_t StepBit(uint32_t r) { return (r >> 1) ^ (kReflectedPoly & (0u - (r & 1u))); }

constexpr std::array<ByteTable, 8> MakeSliceTables() {
  std::array<ByteTable, 8> t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t r = b;
    for (int i = 0; i < 8; ++i) r = StepBit(r);
    t[0][b] = r;
  }
  for (int k = 1; k < 8; ++k) {
    for (uint32_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xffu];
  }
  return t;
}

constexpr std::array<ByteTable, 8> kSlices = MakeSliceTables();

// Little-endian loads written byte-wise so the portable path is right on any
// host; compilers fold them into single loads where that is legal.
inline uint32_t LoadLE32(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}

// --- GF(2) arithmetic for merging lanes --------------------------------------
// In the reflected form bit 31 holds the coefficient of x^0 and bit 0 that of
// x^31, so multiplying by x is a right shift with reduction.

constexpr uint32_t MulModP(uint32_t a, uint32_t b) {
  uint32_t product = 0;
  for (int i = 0; i < 32; ++i) {  // b holds (original b) * x^i
    if (a & (0x80000000u >> i)) product ^= b;
    b = StepBit(b);
  }
  return product;
}

// x^(8 * bytes) mod P: what feeding `bytes` zero bytes multiplies a register by.
constexpr uint32_t ZeroBytesOperator(uint64_t bytes) {
  uint32_t result = 0x80000000u;  // x^0
  uint32_t square = 0x40000000u;  // x^1, squared each round
  for (uint64_t e = bytes * 8; e != 0; e >>= 1) {
    if (e & 1) result = MulModP(result, square);
    square = MulModP(square, square);
  }
  return result;
}

// Tables that advance a register over `bytes` zero bytes, one per register
// byte; multiplication is linear, so the four lookups XOR together.
constexpr std::array<ByteTable, 4> MakeShiftTables(uint64_t bytes) {
  const uint32_t op = ZeroBytesOperator(bytes);
  std::array<ByteTable, 4> t{};
  for (int k = 0; k < 4; ++k) {
    for (uint32_t b = 0; b < 256; ++b) t[k][b] = MulModP(b << (8 * k), op);
  }
  return t;
}

[[maybe_unused]] inline uint32_t Shift(const std::array<ByteTable, 4>& t, uint32_t r) {
  return t[0][r & 0xffu] ^ t[1][(r >> 8) & 0xffu] ^ t[2][(r >> 16) & 0xffu] ^ t[3][r >> 24];
}

#if QUIPU_CRC32C_HAVE_SSE42_PATH

// Lane lengths: the long one amortizes the merge over big buffers; the short
// one keeps three chains busy on mid-sized ones (a few hundred bytes up).
constexpr size_t kLongLane = 8192;
constexpr size_t kShortLane = 256;
constexpr std::array<ByteTable, 4> kLongShift = MakeShiftTables(kLongLane);
constexpr std::array<ByteTable, 4> kShortShift = MakeShiftTables(kShortLane);

inline uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);  // x86 is little-endian, as the instruction expects
  return v;
}

// Consumes 3 * kLane bytes at p, advancing the register r.
template <size_t kLane>
__attribute__((target("sse4.2"), always_inline)) inline uint32_t ThreeLanes(
    uint32_t r, const uint8_t* p, const std::array<ByteTable, 4>& shift) {
  uint64_t c0 = r, c1 = 0, c2 = 0;
  for (size_t i = 0; i < kLane; i += 8) {
    c0 = _mm_crc32_u64(c0, Load64(p + i));
    c1 = _mm_crc32_u64(c1, Load64(p + kLane + i));
    c2 = _mm_crc32_u64(c2, Load64(p + 2 * kLane + i));
  }
  uint32_t merged = Shift(shift, static_cast<uint32_t>(c0)) ^ static_cast<uint32_t>(c1);
  return Shift(shift, merged) ^ static_cast<uint32_t>(c2);
}

#endif  // QUIPU_CRC32C_HAVE_SSE42_PATH

}  // namespace

uint32_t ExtendPortable(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t r = ~crc;
  for (; n >= 8; p += 8, n -= 8) {
    const uint32_t lo = LoadLE32(p) ^ r;
    const uint32_t hi = LoadLE32(p + 4);
    r = kSlices[7][lo & 0xffu] ^ kSlices[6][(lo >> 8) & 0xffu] ^ kSlices[5][(lo >> 16) & 0xffu] ^
        kSlices[4][lo >> 24] ^ kSlices[3][hi & 0xffu] ^ kSlices[2][(hi >> 8) & 0xffu] ^
        kSlices[1][(hi >> 16) & 0xffu] ^ kSlices[0][hi >> 24];
  }
  for (; n > 0; ++p, --n) r = (r >> 8) ^ kSlices[0][(r ^ *p) & 0xffu];
  return ~r;
}

#if QUIPU_CRC32C_HAVE_SSE42_PATH

__attribute__((target("sse4.2"))) uint32_t ExtendHardware(uint32_t crc, const void* data,
                                                          size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t r = ~crc;
  // Bring p to an 8-byte boundary so no 8-byte load straddles a cache line.
  for (; n > 0 && (reinterpret_cast<uintptr_t>(p) & 7u) != 0; ++p, --n) r = _mm_crc32_u8(r, *p);
  for (; n >= 3 * kLongLane; p += 3 * kLongLane, n -= 3 * kLongLane) {
    r = ThreeLanes<kLongLane>(r, p, kLongShift);
  }
  for (; n >= 3 * kShortLane; p += 3 * kShortLane, n -= 3 * kShortLane) {
    r = ThreeLanes<kShortLane>(r, p, kShortShift);
  }
  uint64_t r64 = r;
  for (; n >= 8; p += 8, n -= 8) r64 = _mm_crc32_u64(r64, Load64(p));
  r = static_cast<uint32_t>(r64);
  for (; n > 0; ++p, --n) r = _mm_crc32_u8(r, *p);
  return ~r;
}

bool HardwareAvailable() {
  // A function-local static: detected once, and safe even when the first
  // caller is another translation unit's static initializer.
  static const bool available = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") != 0;
  }();
  return available;
}

#else  // !QUIPU_CRC32C_HAVE_SSE42_PATH

// No hardware path on this architecture; keep the entry point answering
// correctly in case a caller ignores HardwareAvailable().
uint32_t ExtendHardware(uint32_t crc, const void* data, size_t n) {
  return ExtendPortable(crc, data, n);
}

bool HardwareAvailable() { return false; }

#endif  // QUIPU_CRC32C_HAVE_SSE42_PATH

uint32_t Extend(uint32_t crc, const void* data, size_t n) {
  return HardwareAvailable() ? ExtendHardware(crc, data, n) : ExtendPortable(crc, data, n);
}

}  // namespace quipu::crc32c
