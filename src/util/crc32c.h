// util/crc32c.h — CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected), the
// checksum of every quipu frame and segment header.
//
// Extend() uses the SSE4.2 crc32 instruction when the CPU has it (checked once
// at startup) and a table otherwise; both give identical results, checked
// against the RFC 3720 test vectors.
//
// Mask()/Unmask(): a stored CRC is masked so that the CRC of data that itself
// contains CRCs (a segment copied into a payload) is not degenerate.
#ifndef QUIPU_UTIL_CRC32C_H_
#define QUIPU_UTIL_CRC32C_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace quipu::crc32c {

// CRC of `data` appended to a stream whose CRC so far is `crc` (0 to start).
uint32_t Extend(uint32_t crc, const void* data, size_t n);
inline uint32_t Value(const void* data, size_t n) { return Extend(0, data, n); }
inline uint32_t Value(std::string_view s) { return Extend(0, s.data(), s.size()); }

// The two implementations, exposed so one test runs both.
uint32_t ExtendPortable(uint32_t crc, const void* data, size_t n);
// Requires HardwareAvailable().
uint32_t ExtendHardware(uint32_t crc, const void* data, size_t n);
bool HardwareAvailable();

inline constexpr uint32_t kMaskDelta = 0x9a3c5e71u;
inline uint32_t Mask(uint32_t crc) { return ((crc >> 17) | (crc << 15)) + kMaskDelta; }
inline uint32_t Unmask(uint32_t masked) {
  uint32_t rot = masked - kMaskDelta;
  return (rot >> 15) | (rot << 17);
}

}  // namespace quipu::crc32c

#endif  // QUIPU_UTIL_CRC32C_H_
