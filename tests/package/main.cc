// Downstream consumer used by tests/package/run.sh: compiles against the
// installed headers and links the installed library (and, through it,
// OpenSSL's libcrypto for the Merkle hashes).
#include <string>

#include "quipu/merkle.h"
#include "quipu/status.h"

int main() {
  quipu::Status s = quipu::Status::OK();
  std::string text = s.ToString();  // out-of-line: forces a link against libquipu
  const std::string leaf = quipu::merkle::LeafHash("quipu").ToHex();
  return s.ok() && leaf.size() == 64 ? 0 : 1;
}
