// A naive Merkle tree written straight from the definitions of RFC 6962 §2.1
// (RFC 9162 §2.1): MTH, PATH and PROOF/SUBPROOF by recursion over the leaf
// data, plus verifiers that rebuild roots by the same recursion. It shares no
// code with src/integrity (it even hashes through OpenSSL on its own), so the
// two can check each other. Slow on purpose: every call rehashes from data.
#ifndef QUIPU_TESTS_INTEGRITY_REFERENCE_H_
#define QUIPU_TESTS_INTEGRITY_REFERENCE_H_

#include <openssl/evp.h>

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "quipu/merkle.h"

namespace quipu::merkle {

// GoogleTest prints hashes in failure messages through this.
inline void PrintTo(const Hash& h, std::ostream* os) { *os << h.ToHex(); }

namespace reference {

using Data = std::vector<std::string>;  // the leaves d[0..n), as payloads

inline Hash Sha256(const std::string& bytes) {
  Hash::Bytes out;
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), out.data(), &len, EVP_sha256(), nullptr);
  return Hash(out);
}

inline std::string Raw(const Hash& h) { return std::string(h.AsBytes()); }

inline Hash Node(const Hash& l, const Hash& r) { return Sha256("\x01" + Raw(l) + Raw(r)); }

// k: the largest power of two smaller than n (n > 1).
inline uint64_t Split(uint64_t n) {
  uint64_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

// MTH(D[begin:end]).
inline Hash Mth(const Data& d, uint64_t begin, uint64_t end) {
  uint64_t n = end - begin;
  if (n == 0) return Sha256("");
  if (n == 1) return Sha256(std::string(1, '\0') + d[begin]);
  uint64_t k = Split(n);
  return Node(Mth(d, begin, begin + k), Mth(d, begin + k, end));
}
inline Hash Mth(const Data& d, uint64_t n) { return Mth(d, 0, n); }

// PATH(m, D[begin:end]), m relative to begin.
inline std::vector<Hash> Path(uint64_t m, const Data& d, uint64_t begin, uint64_t end) {
  uint64_t n = end - begin;
  if (n == 1) return {};
  uint64_t k = Split(n);
  std::vector<Hash> path;
  if (m < k) {
    path = Path(m, d, begin, begin + k);
    path.push_back(Mth(d, begin + k, end));
  } else {
    path = Path(m - k, d, begin + k, end);
    path.push_back(Mth(d, begin, begin + k));
  }
  return path;
}
inline std::vector<Hash> Path(uint64_t m, const Data& d, uint64_t n) { return Path(m, d, 0, n); }

// SUBPROOF(m, D[begin:end], b), m relative to begin.
inline std::vector<Hash> SubProof(uint64_t m, const Data& d, uint64_t begin, uint64_t end, bool b) {
  uint64_t n = end - begin;
  if (m == n) return b ? std::vector<Hash>{} : std::vector<Hash>{Mth(d, begin, end)};
  uint64_t k = Split(n);
  std::vector<Hash> proof;
  if (m <= k) {
    proof = SubProof(m, d, begin, begin + k, b);
    proof.push_back(Mth(d, begin + k, end));
  } else {
    proof = SubProof(m - k, d, begin + k, end, false);
    proof.push_back(Mth(d, begin, begin + k));
  }
  return proof;
}
// PROOF(m, D[n]).
inline std::vector<Hash> Proof(uint64_t m, const Data& d, uint64_t n) {
  return SubProof(m, d, 0, n, true);
}

// The root that `path[0:len]` implies for leaf m of a tree of n leaves, by
// undoing PATH's recursion; nullopt if the length does not fit the shape.
inline std::optional<Hash> RootFromPath(uint64_t m, uint64_t n, const Hash& leaf,
                                        const std::vector<Hash>& path, size_t len) {
  if (n == 1) return len == 0 ? std::optional<Hash>(leaf) : std::nullopt;
  if (len == 0) return std::nullopt;
  uint64_t k = Split(n);
  const Hash& sibling = path[len - 1];
  if (m < k) {
    auto sub = RootFromPath(m, k, leaf, path, len - 1);
    return sub ? std::optional<Hash>(Node(*sub, sibling)) : std::nullopt;
  }
  auto sub = RootFromPath(m - k, n - k, leaf, path, len - 1);
  return sub ? std::optional<Hash>(Node(sibling, *sub)) : std::nullopt;
}

inline bool VerifyPath(const Hash& leaf, uint64_t m, uint64_t n, const std::vector<Hash>& path,
                       const Hash& root) {
  if (m >= n) return false;
  auto r = RootFromPath(m, n, leaf, path, path.size());
  return r && *r == root;
}

// Undoes SUBPROOF(m, D[n], b) over proof[0:len]: returns (MTH of the first m
// leaves, MTH of all n leaves) of that subtree, or nullopt on a length that
// does not fit. `old_root` stands in where b says the verifier knows it.
inline std::optional<std::pair<Hash, Hash>> RootsFromProof(uint64_t m, uint64_t n, bool b,
                                                           const Hash& old_root,
                                                           const std::vector<Hash>& proof,
                                                           size_t len) {
  if (m == n) {
    if (b) return len == 0 ? std::optional(std::pair(old_root, old_root)) : std::nullopt;
    return len == 1 ? std::optional(std::pair(proof[0], proof[0])) : std::nullopt;
  }
  if (len == 0) return std::nullopt;
  uint64_t k = Split(n);
  const Hash& c = proof[len - 1];
  if (m <= k) {
    auto sub = RootsFromProof(m, k, b, old_root, proof, len - 1);
    if (!sub) return std::nullopt;
    return std::pair(sub->first, Node(sub->second, c));
  }
  // Here k is also the split of the old tree D[0:m], as k < m ≤ n.
  auto sub = RootsFromProof(m - k, n - k, false, old_root, proof, len - 1);
  if (!sub) return std::nullopt;
  return std::pair(Node(c, sub->first), Node(c, sub->second));
}

inline bool VerifyProof(uint64_t m, uint64_t n, const Hash& old_root, const Hash& new_root,
                        const std::vector<Hash>& proof) {
  if (m == 0 || m > n) return false;
  auto roots = RootsFromProof(m, n, true, old_root, proof, proof.size());
  return roots && roots->first == old_root && roots->second == new_root;
}

// Distinct payloads of varied lengths for leaf i: empty, binary, text.
inline std::string TestPayload(uint64_t i) {
  if (i == 0) return "";
  if (i % 11 == 0) return std::string(reinterpret_cast<const char*>(&i), sizeof(i));
  return "leaf " + std::to_string(i) + std::string(i % 7, static_cast<char>('a' + i % 26));
}

inline Data TestData(uint64_t n) {
  Data d;
  for (uint64_t i = 0; i < n; ++i) d.push_back(TestPayload(i));
  return d;
}

}  // namespace reference
}  // namespace quipu::merkle

#endif  // QUIPU_TESTS_INTEGRITY_REFERENCE_H_
