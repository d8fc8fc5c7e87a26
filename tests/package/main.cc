// Downstream consumer used by tests/package/run.sh: compiles against the
// installed headers and links the installed library.
#include <string>

#include "quipu/status.h"

int main() {
  quipu::Status s = quipu::Status::OK();
  std::string text = s.ToString();  // out-of-line: forces a link against libquipu
  (void)text;
  return s.ok() ? 0 : 1;
}
