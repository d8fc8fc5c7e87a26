// quipu keygen --out PATH: a new Ed25519 key pair for signing checkpoints.
#include <memory>
#include <string>

#include "cli/common.h"
#include "cli/verbs.h"
#include "quipu/checkpoint.h"

namespace quipu::cli {

void RegisterKeygen(CLI::App& app) {
  auto out = std::make_shared<std::string>();
  CLI::App* verb = app.add_subcommand(
      "keygen",
      "Create an Ed25519 key pair for signed checkpoints: PATH (private, PEM, mode 0600) and "
      "PATH.pub (public, PEM). Never overwrites an existing key.");
  verb->add_option("--out", *out, "where to write the private key")->required();
  SetAction(verb, [out]() -> Status {
    QUIPU_RETURN_IF_ERROR(GenerateKeyPair(*out));
    FdWriter stdout_writer(1);
    QUIPU_RETURN_IF_ERROR(
        stdout_writer.Write("private key " + *out + "\npublic key  " + *out + ".pub\n"));
    return stdout_writer.Flush();
  });
}

}  // namespace quipu::cli
