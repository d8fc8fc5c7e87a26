// json/tree.h — the JSON shapes of the Merkle tree's answers: proofs and
// verification reports, as `quipu prove/consistency/verify --json` print
// them and the server returns them. Hashes are lowercase hex; these are the
// shapes `quipu verify-proof` reads back.
#ifndef QUIPU_JSON_TREE_H_
#define QUIPU_JSON_TREE_H_

#include "json/input.h"
#include "quipu/status.h"
#include "quipu/tree.h"

namespace quipu::json {

// {"leaf_index", "tree_size", "leaf_hash", "path", "root"}.
OrderedJson InclusionProofToJson(const InclusionProof& proof);
// {"old_size", "new_size", "old_root", "new_root", "proof"}.
OrderedJson ConsistencyProofToJson(const ConsistencyProof& proof);
// {"intact": true, "records", "first_lsn", "last_lsn", "root", "checked", ...}.
OrderedJson VerifyReportToJson(const VerifyReport& report);
// {"intact": false, "error": "..."}.
OrderedJson VerifyFailureToJson(const Status& status);

}  // namespace quipu::json

#endif  // QUIPU_JSON_TREE_H_
