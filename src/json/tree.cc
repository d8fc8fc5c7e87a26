#include "json/tree.h"

#include <vector>

namespace quipu::json {

namespace {

OrderedJson HexList(const std::vector<merkle::Hash>& hashes) {
  OrderedJson list = OrderedJson::array();
  for (const merkle::Hash& h : hashes) list.push_back(h.ToHex());
  return list;
}

}  // namespace

OrderedJson InclusionProofToJson(const InclusionProof& proof) {
  OrderedJson out;
  out["leaf_index"] = proof.leaf_index;
  out["tree_size"] = proof.tree_size;
  out["leaf_hash"] = proof.leaf_hash.ToHex();
  out["path"] = HexList(proof.path);
  out["root"] = proof.root.ToHex();
  return out;
}

OrderedJson ConsistencyProofToJson(const ConsistencyProof& proof) {
  OrderedJson out;
  out["old_size"] = proof.old_size;
  out["new_size"] = proof.new_size;
  out["old_root"] = proof.old_root.ToHex();
  out["new_root"] = proof.new_root.ToHex();
  out["proof"] = HexList(proof.proof);
  return out;
}

OrderedJson VerifyReportToJson(const VerifyReport& r) {
  OrderedJson out;
  out["intact"] = true;
  out["records"] = r.records;
  out["first_lsn"] = r.first_lsn;
  out["last_lsn"] = r.last_lsn;
  out["root"] = r.root.ToHex();
  out["purged"] = r.purged;
  out["checked"] = r.covered - r.purged;  // of `records`, the ones the log holds
  out["unchecked"] = r.records - (r.covered - r.purged);
  out["spine_leaves"] = r.spine_leaves;
  out["spine_synced"] = r.spine_synced;
  out["checkpoints"] = r.checkpoints;
  out["checkpoint_size"] = r.checkpoint_size;
  out["torn_checkpoint_line"] = r.torn_checkpoint_line;
  out["torn_checkpoint_checked"] = r.torn_checkpoint_checked;
  out["signatures_checked"] = r.signatures_checked;
  return out;
}

OrderedJson VerifyFailureToJson(const Status& status) {
  OrderedJson out;
  out["intact"] = false;
  out["error"] = status.ToString();
  return out;
}

}  // namespace quipu::json
