// The verbs of protected fields (docs/privacy.md):
//   quipu keys new FILE                       a master key file (0600, one key)
//   quipu keys writer FILE OUT                its writer key file: seal and match, not read
//   quipu keys status DIR                     what each master version protects
//   quipu keys rotate DIR --key-file FILE     add a master version, re-wrap to it
//   quipu keys rewrap DIR (--key-file|--key-cmd)  re-wrap to the newest given
//   quipu keys retire DIR --key-file FILE --version N
//                                             drop a version nothing uses
//   quipu forget DIR --subject TYPE/ID        erase a subject by destroying its keys
#include <unistd.h>

#include <memory>
#include <string>

#include "cli/audit_json.h"
#include "cli/common.h"
#include "cli/key_flags.h"
#include "cli/verbs.h"

namespace quipu::cli {

namespace {

// Runs `use` on the store in `dir`, opened for writing with the keys named.
template <typename Use>
Status WithWriter(const std::string& dir, Use&& use) {
  auto store = OpenStore(dir, /*create=*/false);
  if (!store.ok()) return store.status();
  Status s = use(**store);
  return FirstError(s, (*store)->Close());
}

struct KeysFlags {
  std::string dir;
  std::string file;
  uint32_t version = 0;
  bool json = false;
};

std::string StatusText(const KeyReport& r) {
  std::string text;
  if (r.live_by_version.empty()) text += "no live data keys\n";
  for (const auto& [version, keys] : r.live_by_version) {
    text += "master key version " + std::to_string(version) + ": " + std::to_string(keys) +
            " data key(s)\n";
  }
  for (const auto& [version, values] : r.tokens_by_version) {
    text += "master key version " + std::to_string(version) + ": index tokens of " +
            std::to_string(values) + " value(s)\n";
  }
  text += "forgotten subjects' keys: " + std::to_string(r.forgotten) + "\n";
  if (!r.master_versions.empty()) {
    std::string given;
    for (uint32_t v : r.master_versions) given += (given.empty() ? "" : ", ") + std::to_string(v);
    text += "master key versions given: " + given + "\n";
  }
  return text;
}

std::string StatusJson(const KeyReport& r) {
  json::OrderedJson doc;
  doc["live_by_version"] = json::OrderedJson::object();
  for (const auto& [version, keys] : r.live_by_version) {
    doc["live_by_version"][std::to_string(version)] = keys;
  }
  doc["tokens_by_version"] = json::OrderedJson::object();
  for (const auto& [version, values] : r.tokens_by_version) {
    doc["tokens_by_version"][std::to_string(version)] = values;
  }
  doc["forgotten"] = r.forgotten;
  doc["master_versions"] = r.master_versions;
  return JsonLine(doc);
}

Status KeysStatus(const KeysFlags& flags) {
  auto store = OpenStoreToRead(flags.dir);
  if (!store.ok()) return store.status();
  auto report = (*store)->KeyStatus();
  if (!report.ok()) return report.status();
  return PrintStdout(flags.json ? StatusJson(*report) : StatusText(*report));
}

Status Rewrap(const std::string& dir) {
  return WithWriter(dir, [&](AuditStore& store) -> Status {
    auto rewrapped = store.RewrapKeys();
    if (!rewrapped.ok()) return rewrapped.status();
    auto report = store.KeyStatus();
    if (!report.ok()) return report.status();
    return PrintStdout("re-wrapped " + std::to_string(*rewrapped) + " data key(s)\n" +
                       StatusText(*report));
  });
}

Status Rotate(const KeysFlags& flags) {
  if (KeyFilePath().empty()) return Status::InvalidArgument("rotate needs --key-file");
  // The store must open with the keys before the key file changes.
  {
    auto store = OpenStoreToRead(flags.dir);
    if (!store.ok()) return store.status();
  }
  auto version = AddMasterKeyVersion(KeyFilePath());
  if (!version.ok()) return version.status();
  QUIPU_RETURN_IF_ERROR(PrintStdout("added master key version " + std::to_string(*version) +
                                    " to " + KeyFilePath() + "\n"));
  return Rewrap(flags.dir);
}

Status Retire(const KeysFlags& flags) {
  if (KeyFilePath().empty()) return Status::InvalidArgument("retire needs --key-file");
  auto store = OpenStoreToRead(flags.dir);
  if (!store.ok()) return store.status();
  auto report = (*store)->KeyStatus();
  if (!report.ok()) return report.status();
  if (auto used = report->live_by_version.find(flags.version);
      used != report->live_by_version.end() && used->second > 0) {
    return Status::FailedPrecondition("master key version " + std::to_string(flags.version) +
                                      " still wraps " + std::to_string(used->second) +
                                      " data key(s) of " + flags.dir +
                                      "; run `quipu keys rewrap` first");
  }
  if (auto used = report->tokens_by_version.find(flags.version);
      used != report->tokens_by_version.end() && used->second > 0) {
    return Status::FailedPrecondition(
        "master key version " + std::to_string(flags.version) + " made the index tokens of " +
        std::to_string(used->second) + " stored value(s) of " + flags.dir +
        ": without it, queries would no longer match them (keep it for matching; retire it "
        "once retention has dropped them)");
  }
  QUIPU_RETURN_IF_ERROR(RetireMasterKeyVersion(KeyFilePath(), flags.version));
  return PrintStdout("retired master key version " + std::to_string(flags.version) + " from " +
                     KeyFilePath() + "\n");
}

struct ForgetFlags {
  std::string dir;
  std::string subject;
  bool json = false;
};

Status Forget(const ForgetFlags& flags) {
  const size_t slash = flags.subject.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == flags.subject.size()) {
    return Status::InvalidArgument("--subject must be TYPE/ID, got " + flags.subject);
  }
  const std::string type = flags.subject.substr(0, slash);
  const std::string id = flags.subject.substr(slash + 1);
  return WithWriter(flags.dir, [&](AuditStore& store) -> Status {
    auto report = store.Forget(type, id);
    if (!report.ok()) return report.status();
    if (flags.json) {
      json::OrderedJson doc;
      doc["type"] = type;
      doc["id"] = id;
      doc["lsn"] = report->lsn;
      doc["keys"] = report->keys;
      return PrintStdout(JsonLine(doc));
    }
    return PrintStdout("forgot " + type + "/" + id + ": " + std::to_string(report->keys) +
                       " data key(s) destroyed; recorded at LSN " + std::to_string(report->lsn) +
                       "\n");
  });
}

}  // namespace

void RegisterKeys(CLI::App& app) {
  auto flags = std::make_shared<KeysFlags>();
  CLI::App* keys = app.add_subcommand(
      "keys", "Master keys and data keys of protected fields (docs/privacy.md).");
  keys->require_subcommand(1);

  CLI::App* create = keys->add_subcommand(
      "new", "Create a master key file holding one fresh key (mode 0600, never overwritten).");
  create->add_option("file", flags->file, "the key file to create")->required();
  SetAction(create, [flags] {
    QUIPU_RETURN_IF_ERROR(CreateMasterKeyFile(flags->file));
    return PrintStdout("created " + flags->file +
                       " (master key version 1); keep it secret, and "
                       "backed up apart from the store\n");
  });

  CLI::App* writer = keys->add_subcommand(
      "writer",
      "Write the writer key file of a master key file: it lets a process (a server) "
      "seal protected fields and match them, but not read them back "
      "(docs/privacy.md).");
  writer->add_option("file", flags->file, "the master key file")->required();
  writer->add_option("out", flags->dir, "the writer key file to create")->required();
  SetAction(writer, [flags] {
    QUIPU_RETURN_IF_ERROR(CreateWriterKeyFile(flags->file, flags->dir));
    return PrintStdout("created " + flags->dir + " (writer keys of " + flags->file + ")\n");
  });

  CLI::App* status = keys->add_subcommand(
      "status",
      "Say how many data keys each master key version wraps, and how many were "
      "destroyed by forget.");
  status->add_option("dir", flags->dir, "store directory")->required();
  status->add_flag("--json", flags->json, "one JSON object");
  AddKeyFlags(status);
  SetAction(status, [flags] { return KeysStatus(*flags); });

  CLI::App* rotate = keys->add_subcommand(
      "rotate",
      "Add a master key version to the key file, then re-wrap every data key to it "
      "(only the store's subject key file is rewritten).");
  rotate->add_option("dir", flags->dir, "store directory")->required();
  AddKeyFlags(rotate);
  SetAction(rotate, [flags] { return Rotate(*flags); });

  CLI::App* rewrap = keys->add_subcommand(
      "rewrap", "Re-wrap every data key to the newest master key version given.");
  rewrap->add_option("dir", flags->dir, "store directory")->required();
  AddKeyFlags(rewrap);
  SetAction(rewrap, [flags] { return Rewrap(flags->dir); });

  CLI::App* retire = keys->add_subcommand(
      "retire", "Remove a master key version from the key file, once no data key uses it.");
  retire->add_option("dir", flags->dir, "store directory")->required();
  retire->add_option("--version", flags->version, "the version to remove")->required();
  AddKeyFlags(retire);
  SetAction(retire, [flags] { return Retire(*flags); });
}

void RegisterForget(CLI::App& app) {
  auto flags = std::make_shared<ForgetFlags>();
  CLI::App* verb = app.add_subcommand(
      "forget",
      "Erase a subject's protected values by destroying its data keys: recorded in the log; "
      "every proof still verifies (docs/privacy.md). Takes the writer lock.");
  verb->add_option("dir", flags->dir, "store directory")->required();
  verb->add_option("--subject", flags->subject, "TYPE/ID of the entity to forget")->required();
  verb->add_flag("--json", flags->json, "print the report as one JSON object");
  SetAction(verb, [flags] { return Forget(*flags); });
}

}  // namespace quipu::cli
