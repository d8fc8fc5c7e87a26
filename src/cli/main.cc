// The `quipu` command: parses arguments with CLI11, runs one verb, and maps
// its outcome to the exit code.
//
// Exit codes: 0 success (and --help, --version); 1 the verb failed, with one
// line "quipu <verb>: <status>" on stderr; 2 the command line was wrong.
#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <exception>
#include <string>

#include "cli/common.h"
#include "cli/key_flags.h"
#include "cli/replica_flags.h"
#include "cli/verbs.h"

#ifndef QUIPU_VERSION
#error "QUIPU_VERSION must be defined (CMake passes PROJECT_VERSION)"
#endif

namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

// Opens /dev/null onto whichever of stdin, stdout and stderr is closed. A
// closed one would otherwise be the next descriptor open(2) returns: the
// store's LOCK as stdin (ingest would read its own pid as a record), a
// segment as stderr (a warning would overwrite its header). False if
// /dev/null cannot be opened.
bool ReserveStdFds() {
  for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
    if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    // The lowest free descriptor is `fd`: every one below it is open by now.
    const int null = ::open("/dev/null", O_RDWR);
    if (null < 0) return false;
    if (null != fd) {
      ::close(null);
      return false;
    }
  }
  return true;
}

// CLI11 reports "quipu bogus" as a missing subcommand; name the word instead.
bool IsUnknownVerb(CLI::App& app, int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') return false;
  const std::string word = argv[1];
  return app.get_subcommands([&](CLI::App* verb) { return verb->check_name(word); }).empty();
}

// CLI11's own message spans two lines; scripts are easier to write against one.
// The prefix names the verb as typed, nested ones too ("quipu token create").
std::string OneLineUsageError(const CLI::App* app, const CLI::Error& e) {
  std::string prefix = "quipu";
  for (std::vector<CLI::App*> verbs = app->get_subcommands(); !verbs.empty();
       verbs = verbs.back()->get_subcommands()) {
    prefix += " " + verbs.back()->get_name();
  }
  return prefix + ": " + e.what() + " (see --help)\n";
}

int Run(int argc, char** argv) {
  CLI::App app{"quipu: an embedded durable append-only log and audit store", "quipu"};
  app.require_subcommand(1);
  app.failure_message(OneLineUsageError);
  app.set_version_flag("--version", std::string("quipu ") + QUIPU_VERSION);
  quipu::cli::RegisterIngest(app);
  quipu::cli::RegisterDump(app);
  quipu::cli::RegisterStat(app);
  quipu::cli::RegisterCheck(app);
  quipu::cli::RegisterDemo(app);
  quipu::cli::RegisterDrill(app);
  quipu::cli::RegisterTreeVerbs(app);
  quipu::cli::RegisterVerify(app);
  quipu::cli::RegisterVerifyProof(app);
  quipu::cli::RegisterKeygen(app);
  quipu::cli::RegisterToken(app);
  quipu::cli::RegisterEmit(app);
  quipu::cli::RegisterDefineType(app);
  quipu::cli::RegisterDefineColumn(app);
  quipu::cli::RegisterTypes(app);
  quipu::cli::RegisterQuery(app);
  quipu::cli::RegisterHistory(app);
  quipu::cli::RegisterEntities(app);
  quipu::cli::RegisterExport(app);
  quipu::cli::RegisterImport(app);
  quipu::cli::RegisterAccessLog(app);
  quipu::cli::RegisterReindex(app);
  quipu::cli::RegisterRetain(app);
  quipu::cli::RegisterServe(app);
  quipu::cli::RegisterKeys(app);
  quipu::cli::RegisterForget(app);
  quipu::cli::RegisterBench(app);
  // Verbs that open an audit store and may meet protected fields.
  for (const char* name :
       {"emit", "query", "history", "entities", "export", "import", "forget", "serve"}) {
    quipu::cli::AddKeyFlags(app.get_subcommand(name));
  }

  if (IsUnknownVerb(app, argc, argv)) {
    std::fprintf(stderr, "quipu: unknown command '%s' (see --help)\n", argv[1]);
    return kExitUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }

  const quipu::cli::VerbOutcome& outcome = quipu::cli::LastOutcome();
  if (outcome.status.ok()) return 0;
  std::fprintf(stderr, "quipu %s: %s\n", outcome.verb.c_str(), outcome.status.ToString().c_str());
  return kExitFailure;
}

}  // namespace

int main(int argc, char** argv) {
  // Before anything else opens a file: on failure, exit with no store touched.
  if (!ReserveStdFds()) return kExitFailure;
  // Library code reports errors as values; an exception here is a bug (or
  // std::bad_alloc), and still deserves one readable line.
  quipu::cli::RememberCommandLine(argc, argv);
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "quipu: unexpected error: %s\n", e.what());
    return kExitFailure;
  }
}
