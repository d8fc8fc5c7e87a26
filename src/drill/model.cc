#include "drill/model.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "util/crc32c.h"

namespace quipu::drill {

namespace {

constexpr size_t kCrcChars = 8;

std::string Hex32(uint32_t v) {
  char buf[kCrcChars + 1];
  std::snprintf(buf, sizeof(buf), "%08x", v);
  return std::string(buf, kCrcChars);
}

template <typename T>
bool ParseField(std::string_view* text, T* out) {
  const size_t colon = text->find(':');
  if (colon == std::string_view::npos) return false;
  auto [end, ec] = std::from_chars(text->data(), text->data() + colon, *out);
  if (ec != std::errc() || end != text->data() + colon) return false;
  text->remove_prefix(colon + 1);
  return true;
}

std::string Describe(uint32_t writer, uint64_t seq) {
  return "writer " + std::to_string(writer) + " append " + std::to_string(seq);
}

// Walks the recovered records; stops at the first violation, since what
// follows a broken prefix tells nothing new.
void CheckPrefix(const std::vector<std::vector<Entry>>& entries,
                 const std::vector<std::string>& recovered, CrashOutcome* out) {
  std::vector<uint64_t> next(entries.size(), 0);  // next non-refused seq per writer
  for (size_t i = 0; i < recovered.size(); ++i) {
    const std::string at = "LSN " + std::to_string(i + 1) + ": ";
    uint32_t w = 0;
    uint64_t seq = 0;
    if (!ParsePayload(recovered[i], &w, &seq) || w >= entries.size() || seq >= entries[w].size()) {
      out->violations.push_back(at + "damaged record, or one never appended");
      return;
    }
    const Entry& e = entries[w][seq];
    if (e.state == Entry::State::kRefused) {
      out->violations.push_back(at + Describe(w, seq) + " returned NoSpace, yet it is in the log");
      return;
    }
    if (e.lsn != 0 && e.lsn != i + 1) {
      out->violations.push_back(at + Describe(w, seq) + " was acknowledged as LSN " +
                                std::to_string(e.lsn));
      return;
    }
    while (next[w] < seq && entries[w][next[w]].state == Entry::State::kRefused) ++next[w];
    if (seq != next[w]) {
      out->violations.push_back(at + Describe(w, seq) + " follows a hole: append " +
                                std::to_string(next[w]) + " is missing");
      return;
    }
    ++next[w];
  }
}

}  // namespace

std::string MakePayload(uint32_t writer, uint64_t seq, size_t body) {
  std::string p = std::to_string(writer) + ":" + std::to_string(seq) + ":";
  for (size_t i = 0; i < body; ++i) p.push_back(static_cast<char>('a' + (seq * 7 + i) % 26));
  return p + Hex32(crc32c::Value(p));
}

bool ParsePayload(std::string_view payload, uint32_t* writer, uint64_t* seq) {
  if (payload.size() < kCrcChars) return false;
  std::string_view text = payload.substr(0, payload.size() - kCrcChars);
  if (payload.substr(text.size()) != Hex32(crc32c::Value(text))) return false;
  return ParseField(&text, writer) && ParseField(&text, seq);
}

void CheckRecovered(const std::vector<std::vector<Entry>>& entries, const CrashFacts& facts,
                    const std::vector<std::string>& recovered, CrashOutcome* out) {
  CheckPrefix(entries, recovered, out);
  const Lsn n = recovered.size();
  out->recovered = n;
  Lsn must = facts.durable_seen;
  for (const auto& writer : entries) {
    for (const Entry& e : writer) {
      if (e.state != Entry::State::kAcked) continue;
      if (e.durable_on_return) must = std::max(must, e.lsn);
      if (e.ack_time > facts.crash_time) continue;  // the process was already dead
      ++out->acked;
      if (e.lsn > facts.flushed) ++out->buffered_lost;
      if (e.lsn <= n) continue;
      ++out->acked_lost;
      const std::chrono::duration<double, std::milli> age = facts.crash_time - e.ack_time;
      out->max_lost_age_ms = std::max(out->max_lost_age_ms, age.count());
    }
  }
  out->must_survive = must;
  if (n < must) {
    out->durable_lost = must - n;
    out->violations.push_back("records up to LSN " + std::to_string(must) +
                              " were reported durable, but only " + std::to_string(n) +
                              " recovered");
  }
  const auto kind = facts.policy.kind();
  if (kind != DurabilityPolicy::Kind::kEveryN &&
      kind != DurabilityPolicy::Kind::kEveryNOrInterval) {
    return;
  }
  if (out->acked_lost >= facts.policy.n()) {
    out->violations.push_back(
        std::to_string(out->acked_lost) +
        " acknowledged records lost, more than n-1 = " + std::to_string(facts.policy.n() - 1));
  }
  const std::chrono::duration<double, std::milli> bound =
      facts.policy.interval() + facts.time_allowance;
  if (kind == DurabilityPolicy::Kind::kEveryNOrInterval && out->max_lost_age_ms > bound.count()) {
    out->violations.push_back("a lost acknowledged record was " +
                              std::to_string(out->max_lost_age_ms) + " ms old, over the " +
                              std::to_string(bound.count()) + " ms bound");
  }
}

}  // namespace quipu::drill
