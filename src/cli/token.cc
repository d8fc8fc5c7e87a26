// quipu token create|list|revoke --config FILE: the bearer tokens of
// `quipu serve` (server/auth.h, docs/server.md).
//
//   create  makes a token, stores its hash entry in FILE and prints the
//           token: the only time it is ever shown.
//   list    the entries of FILE; hashes are never printed.
//   revoke  removes one entry by id.
// FILE is replaced atomically; a running server re-reads it on SIGHUP.
// Flag values that cannot be a grant list, a scope or an expiry are usage
// errors (exit 2), like every other malformed flag.
#include <unistd.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/audit_json.h"
#include "cli/common.h"
#include "cli/verbs.h"
#include "quipu/audit_types.h"
#include "server/auth.h"
#include "util/quote.h"

namespace quipu::cli {

namespace {

using server::Grant;
using server::TokenEntry;
using server::TokenScope;

// The longest --expires duration: six digits keeps N * unit far from overflow.
constexpr size_t kMaxDurationDigits = 6;

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "30d", "12h", "90m" as microseconds; nullopt if `text` is not of that form.
std::optional<int64_t> DurationMicros(std::string_view text) {
  if (text.size() < 2 || text.size() > kMaxDurationDigits + 1) return std::nullopt;
  const std::string_view digits = text.substr(0, text.size() - 1);
  if (digits.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  int64_t unit = 0;
  switch (text.back()) {
    case 'd':
      unit = int64_t{86400} * 1000000;
      break;
    case 'h':
      unit = int64_t{3600} * 1000000;
      break;
    case 'm':
      unit = int64_t{60} * 1000000;
      break;
    default:
      return std::nullopt;
  }
  return std::stoll(std::string(digits)) * unit;
}

// --expires: an RFC 3339 time or a duration from `now`, which must be later than now.
Result<int64_t> ParseExpires(std::string_view text, int64_t now) {
  int64_t at = 0;
  if (std::optional<int64_t> duration = DurationMicros(text)) {
    // From the current second: "30d" needs no microseconds in `list`.
    at = now / 1000000 * 1000000 + *duration;
  } else {
    Result<int64_t> time = ParseRfc3339(text);
    if (!time.ok()) {
      return Status::InvalidArgument(QuoteInput(text) +
                                     " is neither an RFC 3339 time nor a duration like 30d, "
                                     "12h or 90m");
    }
    at = *time;
  }
  if (at <= now) return Status::InvalidArgument(QuoteInput(text) + " is not in the future");
  return at;
}

// A CLI11 check from a parser returning Result: its message on failure.
template <typename Parse>
CLI::Validator Parses(Parse parse, std::string shape) {
  return CLI::Validator(
      [parse](std::string& value) -> std::string {
        Status s = parse(value).status();
        return s.ok() ? std::string() : s.message();
      },
      std::move(shape));
}

Status Print(const std::string& text) {
  FdWriter out(STDOUT_FILENO);
  QUIPU_RETURN_IF_ERROR(out.Write(text));
  return out.Flush();
}

OrderedJson GrantsJson(uint8_t grants) {
  OrderedJson list = OrderedJson::array();
  for (Grant grant : {Grant::kEmit, Grant::kQuery, Grant::kAdmin}) {
    if ((grants & static_cast<uint8_t>(grant)) != 0) list.push_back(server::GrantName(grant));
  }
  return list;
}

std::string GrantsText(uint8_t grants) {
  std::string text;
  for (const auto& name : GrantsJson(grants)) {
    text += (text.empty() ? "" : ",") + name.get<std::string>();
  }
  return text;
}

OrderedJson ExpiresJson(const TokenEntry& entry) {
  if (!entry.expires_micros) return nullptr;
  return FormatRfc3339Utc(*entry.expires_micros);
}

OrderedJson ScopeJson(const TokenEntry& entry) {
  if (!entry.scope) return nullptr;
  return {{"column", entry.scope->column}, {"value", entry.scope->value}};
}

// --- create -----------------------------------------------------------------

struct CreateFlags {
  std::string config;
  std::string grants;
  std::string expires;
  std::string scope;
  std::string name;
  bool json = false;
};

std::string CreatedText(const server::NewToken& token, const std::string& config) {
  return "id     " + token.entry.id + "\ntoken  " + token.secret +
         "\nThis is the only time the token is shown; " + config + " keeps just its SHA-256.\n";
}

std::string CreatedJson(const server::NewToken& token) {
  OrderedJson out;
  out["id"] = token.entry.id;
  out["token"] = token.secret;
  out["grants"] = GrantsJson(token.entry.grants);
  out["expires"] = ExpiresJson(token.entry);
  out["scope"] = ScopeJson(token.entry);
  return JsonLine(out);
}

Status Create(const CreateFlags& flags) {
  // The flags passed their checks while parsing; only the clock has moved.
  Result<uint8_t> grants = server::ParseGrants(flags.grants);
  if (!grants.ok()) return grants.status();
  std::optional<int64_t> expires;
  if (!flags.expires.empty()) {
    Result<int64_t> at = ParseExpires(flags.expires, NowMicros());
    if (!at.ok()) return at.status().WithContext("--expires");
    expires = *at;
  }
  std::optional<TokenScope> scope;
  if (!flags.scope.empty()) {
    Result<TokenScope> parsed = server::ParseScope(flags.scope);
    if (!parsed.ok()) return parsed.status().WithContext("--scope");
    scope = std::move(*parsed);
  }
  Result<server::NewToken> token = server::CreateToken(*grants, expires, scope, flags.name);
  if (!token.ok()) return token.status();
  // Stored before it is shown: a token printed but never stored would be
  // handed out and then refused.
  QUIPU_RETURN_IF_ERROR(server::AddTokenToFile(flags.config, token->entry));
  return Print(flags.json ? CreatedJson(*token) : CreatedText(*token, flags.config));
}

void RegisterCreate(CLI::App* token) {
  auto flags = std::make_shared<CreateFlags>();
  CLI::App* verb = token->add_subcommand(
      "create",
      "Create a token, store its SHA-256 in the token file (created if missing, mode 0600) and "
      "print the token: it is shown this once and cannot be recovered.");
  verb->add_option("--config", flags->config, "the token file")->required();
  verb->add_option("--grant", flags->grants, "what it may do: emit, query, admin, comma-separated")
      ->required()
      ->check(Parses(server::ParseGrants, "GRANTS"));
  verb->add_option("--expires", flags->expires,
                   "when it stops working: an RFC 3339 time (2027-01-01T00:00:00Z) or a "
                   "duration from now, N days, hours or minutes (30d, 12h, 90m); default never")
      ->check(Parses([](std::string_view v) { return ParseExpires(v, NowMicros()); }, "T"));
  verb->add_option("--scope", flags->scope,
                   "restrict it to one value of a column: its events carry COLUMN=VALUE and its "
                   "queries see only rows holding it")
      ->check(Parses(server::ParseScope, "COLUMN=VALUE"));
  verb->add_option("--name", flags->name, "a note on whom it is for (shown by list)");
  verb->add_flag("--json", flags->json,
                 "print {\"id\", \"token\", \"grants\", \"expires\", \"scope\"} as one JSON line");
  SetAction(verb, [flags] { return Create(*flags); });
}

// --- list -------------------------------------------------------------------

struct ListFlags {
  std::string config;
  bool json = false;
};

std::string ListText(const std::vector<TokenEntry>& entries, int64_t now) {
  if (entries.empty()) return "no tokens\n";
  std::vector<std::vector<std::string>> rows = {{"id", "grants", "expires", "scope", "name"}};
  for (const TokenEntry& e : entries) {
    std::string expires = "never";
    if (e.expires_micros) {
      expires = FormatRfc3339Utc(*e.expires_micros);
      if (*e.expires_micros <= now) expires += " (expired)";
    }
    const std::string scope = e.scope ? e.scope->column + "=" + e.scope->value : "-";
    rows.push_back({e.id, GrantsText(e.grants), expires, scope, e.name});
  }
  return FormatTable(rows, /*text_last=*/true);
}

std::string ListJson(const std::vector<TokenEntry>& entries, int64_t now) {
  OrderedJson tokens = OrderedJson::array();
  for (const TokenEntry& e : entries) {
    OrderedJson item;
    item["id"] = e.id;
    item["name"] = e.name;
    item["grants"] = GrantsJson(e.grants);
    item["expires"] = ExpiresJson(e);
    item["expired"] = e.expires_micros.has_value() && *e.expires_micros <= now;
    item["scope"] = ScopeJson(e);
    tokens.push_back(std::move(item));
  }
  OrderedJson out;
  out["tokens"] = std::move(tokens);
  return JsonLine(out);
}

Status List(const ListFlags& flags) {
  Result<server::TokenSet> set = server::TokenSet::Load(flags.config);
  if (!set.ok()) return set.status();
  const int64_t now = NowMicros();
  return Print(flags.json ? ListJson(set->entries(), now) : ListText(set->entries(), now));
}

void RegisterList(CLI::App* token) {
  auto flags = std::make_shared<ListFlags>();
  CLI::App* verb = token->add_subcommand(
      "list", "The tokens in the token file: id, grants, expiry, scope and name (never hashes).");
  verb->add_option("--config", flags->config, "the token file")->required();
  verb->add_flag("--json", flags->json,
                 "print {\"tokens\": [{\"id\", \"name\", \"grants\", \"expires\", \"expired\", "
                 "\"scope\"}...]} as one JSON line");
  SetAction(verb, [flags] { return List(*flags); });
}

// --- revoke -----------------------------------------------------------------

struct RevokeFlags {
  std::string config;
  std::string id;
};

void RegisterRevoke(CLI::App* token) {
  auto flags = std::make_shared<RevokeFlags>();
  CLI::App* verb = token->add_subcommand(
      "revoke",
      "Remove a token from the token file. A running server refuses it once it re-reads the "
      "file (SIGHUP).");
  verb->add_option("--config", flags->config, "the token file")->required();
  verb->add_option("id", flags->id, "the token's id (t_...), as list shows it")->required();
  SetAction(verb, [flags]() -> Status {
    QUIPU_RETURN_IF_ERROR(server::RemoveTokenFromFile(flags->config, flags->id));
    return Print("revoked " + flags->id + "\n");
  });
}

}  // namespace

void RegisterToken(CLI::App& app) {
  CLI::App* token = app.add_subcommand(
      "token",
      "Bearer tokens for `quipu serve`: create, list, revoke. The token file keeps only each "
      "token's SHA-256, its grants (emit, query, admin), expiry and scope.");
  token->require_subcommand(1);
  RegisterCreate(token);
  RegisterList(token);
  RegisterRevoke(token);
}

}  // namespace quipu::cli
