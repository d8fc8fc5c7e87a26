// drill/model.h — what a drill's workload appended, and the invariants the
// recovered log is checked against (the list is in drill/drill.h).
//
// Each writer (thread) numbers its appends 0, 1, 2, ...; a payload names its
// writer and number and ends with a CRC-32C of the rest, so the check can
// tell which append a recovered record came from and that it is intact.
#ifndef QUIPU_DRILL_MODEL_H_
#define QUIPU_DRILL_MODEL_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "drill/drill.h"
#include "quipu/options.h"
#include "quipu/reader.h"

namespace quipu::drill {

using Clock = std::chrono::steady_clock;

// One Append call, as its writer saw it.
struct Entry {
  enum class State {
    kAcked,    // returned an LSN
    kRefused,  // returned NoSpace: the record must never appear
    kFailed,   // another error: the record may or may not be in the log
  };
  State state = State::kFailed;
  Lsn lsn = 0;                     // when acked
  bool durable_on_return = false;  // acked by a policy or override that syncs first
  Clock::time_point ack_time;
};

// A payload of roughly `body` bytes for append `seq` of `writer`.
std::string MakePayload(uint32_t writer, uint64_t seq, size_t body);
// Recovers writer and seq; false if the payload is not one MakePayload made.
bool ParsePayload(std::string_view payload, uint32_t* writer, uint64_t* seq);

// What was known when the power went.
struct CrashFacts {
  DurabilityPolicy policy = DurabilityPolicy::Always();
  Lsn durable_seen = 0;  // highest DurableLsn() observed
  Lsn flushed = 0;       // LogStats::flushed_lsn at the crash
  Clock::time_point crash_time;
  std::chrono::milliseconds time_allowance{0};
};

// Checks `recovered` (payloads in LSN order from LSN 1) against the appends
// of each writer (entries[w][seq]) and fills the figures and violations of
// `out`. Entries acknowledged after the crash time are not counted as lost.
void CheckRecovered(const std::vector<std::vector<Entry>>& entries, const CrashFacts& facts,
                    const std::vector<std::string>& recovered, CrashOutcome* out);

}  // namespace quipu::drill

#endif  // QUIPU_DRILL_MODEL_H_
