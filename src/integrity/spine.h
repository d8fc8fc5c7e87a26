// integrity/spine.h — the SPINE file: every perfect subtree hash of a log's
// tree in one flat array, behind a two-slot header (docs/format.md).
//
//   spine  := slot[2] node*
//   slot   := magic[8] "QUIPUSPN" | version:u32 | flags:u32 | sequence:u64 |
//             synced_leaves:u64 | reserved[28] | slot_crc:u32     (64 bytes)
//   node   := hash[32], node k at kHeaderSize + 32·k, k = PostorderIndex
//
// The valid slot with the higher sequence is the header. The header of
// sequence k is written to slot k % 2, never over the current one, so a torn
// header write leaves the previous claim readable.
// synced_leaves says: the nodes of that many leaves were fdatasynced before
// this slot was written, and their records were durable in the log then.
#ifndef QUIPU_INTEGRITY_SPINE_H_
#define QUIPU_INTEGRITY_SPINE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "quipu/env.h"
#include "quipu/merkle.h"
#include "quipu/status.h"

namespace quipu::spine {

inline constexpr std::string_view kMagic = "QUIPUSPN";
inline constexpr uint32_t kVersion = 1;
inline constexpr uint64_t kSlotSize = 64;
inline constexpr uint64_t kHeaderSize = 2 * kSlotSize;
inline constexpr uint64_t kNodeSize = merkle::Hash::kSize;

struct Header {
  uint64_t sequence = 0;
  uint64_t synced_leaves = 0;
};

std::string EncodeSlot(const Header& header);
// The header from the kHeaderSize bytes at the start of the file: the valid
// slot with the higher sequence. kCorruption if neither slot is valid,
// kNotSupported for a newer version.
Result<Header> DecodeHeader(std::string_view bytes, const std::string& file);

// Byte offset of the perfect subtree (level, index).
uint64_t NodeOffset(int level, uint64_t index);
// File size of a spine holding exactly `leaves` leaves.
uint64_t FileSizeFor(uint64_t leaves);
// The most leaves whose nodes all lie within a file of `file_size` bytes.
uint64_t LeavesWithin(uint64_t file_size);

// Creates DIR/SPINE (empty tree, nothing synced) durably: written to a
// temporary name, synced, renamed and the directory synced, so a crash leaves
// either no SPINE or a valid one.
Status CreateSpine(Env* env, const std::string& dir);

// For records cut from the log on purpose (LogOptions::discard_after): if
// DIR/SPINE claims more than `leaves` synced leaves, writes the next header
// (into the other slot) claiming `leaves`, and syncs it. Nodes past the
// claim are then recomputed at Open, as after any crash.
Status LowerClaim(Env* env, const std::string& dir, uint64_t leaves);

// Reads the header and size of an existing spine.
struct Snapshot {
  Header header;
  uint64_t leaves = 0;  // leaves whose nodes are all in the file
};
Result<Snapshot> ReadSnapshot(const RandomAccessFile& file, const std::string& name);

// A NodeSource over the first `leaves` leaves of a spine file.
class FileSource final : public merkle::NodeSource {
 public:
  FileSource(const RandomAccessFile* file, uint64_t leaves) : file_(file), leaves_(leaves) {}
  uint64_t LeafCount() const override { return leaves_; }
  // One pread; kCorruption if the file is shorter than its node.
  Result<merkle::Hash> SubtreeHash(int level, uint64_t index) const override;

 private:
  const RandomAccessFile* file_;
  uint64_t leaves_;
};

std::string SpinePath(const std::string& dir);

}  // namespace quipu::spine

#endif  // QUIPU_INTEGRITY_SPINE_H_
