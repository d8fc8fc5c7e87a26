#include "cli/key_flags.h"

#include <cstdlib>
#include <string>

namespace quipu::cli {

namespace {

struct KeySource {
  std::string file;
  std::string command;
};

KeySource& Source() {
  static KeySource source;
  return source;
}

std::string FromEnv(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

}  // namespace

void AddKeyFlags(CLI::App* verb) {
  KeySource& source = Source();
  auto* file = verb->add_option("--key-file", source.file,
                                "master key file of protected fields (docs/privacy.md; default "
                                "$QUIPU_KEY_FILE)");
  verb->add_option("--key-cmd", source.command,
                   "a command that prints the master keys, e.g. a secret manager's client "
                   "(default $QUIPU_KEY_CMD)")
      ->excludes(file);
}

std::string KeyFilePath() {
  const KeySource& source = Source();
  if (!source.file.empty()) return source.file;
  if (!source.command.empty()) return "";
  return FromEnv("QUIPU_KEY_FILE");
}

Result<std::shared_ptr<const MasterKeys>> LoadKeys() {
  const KeySource& source = Source();
  if (!source.file.empty()) return MasterKeys::FromFile(source.file);
  if (!source.command.empty()) return MasterKeys::FromCommand(source.command);
  if (std::string file = FromEnv("QUIPU_KEY_FILE"); !file.empty()) {
    return MasterKeys::FromFile(file);
  }
  if (std::string command = FromEnv("QUIPU_KEY_CMD"); !command.empty()) {
    return MasterKeys::FromCommand(command);
  }
  return std::shared_ptr<const MasterKeys>();
}

}  // namespace quipu::cli
