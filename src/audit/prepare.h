// audit/prepare.h — checking an event against the store and turning it into
// the record Emit appends.
#ifndef QUIPU_AUDIT_PREPARE_H_
#define QUIPU_AUDIT_PREPARE_H_

#include <cstdint>

#include "audit/catalog.h"
#include "audit/index_entries.h"
#include "audit/protect.h"
#include "audit/record.h"
#include "quipu/audit_types.h"

namespace quipu::audit {

// Earliest and latest timestamps an event may carry: 0000-01-01 .. 9999-12-31.
inline constexpr int64_t kMinMicros = -62167219200LL * 1000000;
inline constexpr int64_t kMaxMicros = 253402300799LL * 1000000 + 999999;

// Validates `event` and builds its record with `log_id`, new version numbers
// and pins, reading entities' current versions from `entities`. `now` is
// used when the event has no time. The idempotency key is not looked at (the
// caller sets rec.idempotency). Protected values are sealed by `protector`
// (null: an event giving one is FailedPrecondition), which may create
// subject keys (durably) even for an event then refused. InvalidArgument on
// any validation failure; the store's state does not change either way.
Result<EventRecord> PrepareEvent(const Catalog& catalog, EntityLookup& entities,
                                 Protector* protector, uint64_t log_id, const Event& event,
                                 int64_t now);

}  // namespace quipu::audit

#endif  // QUIPU_AUDIT_PREPARE_H_
