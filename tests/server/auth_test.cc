// Grants, scopes, the token file's checks, new tokens and authentication.
#include "server/auth.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cctype>
#include <string>
#include <vector>

#include "server/token_file.h"
#include "util/hex.h"

namespace quipu::server {
namespace {

constexpr uint8_t kEmit = static_cast<uint8_t>(Grant::kEmit);
constexpr uint8_t kQuery = static_cast<uint8_t>(Grant::kQuery);
constexpr uint8_t kAdmin = static_cast<uint8_t>(Grant::kAdmin);
constexpr int64_t kNow = 1'800'000'000'000'000;  // 2027-01-15, in microseconds

std::string Sha256Hex(std::string_view text) {
  unsigned char digest[32];
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(text.data(), text.size(), digest, &len, EVP_sha256(), nullptr), 1);
  return HexEncode(std::string_view(reinterpret_cast<const char*>(digest), len));
}

NewToken MakeToken(uint8_t grants, std::optional<int64_t> expires = std::nullopt,
                   std::optional<TokenScope> scope = std::nullopt) {
  Result<NewToken> token = CreateToken(grants, expires, std::move(scope), "test");
  EXPECT_TRUE(token.ok()) << token.status().ToString();
  return std::move(token).value();
}

TokenSet SetOf(const std::vector<NewToken>& tokens) {
  std::vector<TokenEntry> entries;
  for (const NewToken& t : tokens) entries.push_back(t.entry);
  Result<TokenSet> set = TokenSet::Parse(TokenFileText(entries), "test tokens");
  EXPECT_TRUE(set.ok()) << set.status().ToString();
  return std::move(set).value();
}

// --- grants and scopes -------------------------------------------------------

TEST(GrantsTest, ParseReadsCommaSeparatedNames) {
  EXPECT_EQ(*ParseGrants("emit"), kEmit);
  EXPECT_EQ(*ParseGrants("query,emit"), kEmit | kQuery);
  EXPECT_EQ(*ParseGrants("emit,query,admin"), kEmit | kQuery | kAdmin);
  for (Grant g : {Grant::kEmit, Grant::kQuery, Grant::kAdmin}) {
    EXPECT_EQ(*ParseGrants(GrantName(g)), static_cast<uint8_t>(g));
  }
}

TEST(GrantsTest, ParseRefusesUnknownEmptyAndRepeatedNames) {
  for (std::string_view bad :
       {"", "read", "emit,", ",emit", "emit,,query", "emit,emit", " emit", "EMIT", "emit;query"}) {
    Result<uint8_t> grants = ParseGrants(bad);
    ASSERT_FALSE(grants.ok()) << bad;
    EXPECT_EQ(grants.status().code(), Status::Code::kInvalidArgument) << bad;
  }
  EXPECT_NE(ParseGrants("emit,read").status().message().find("'read'"), std::string::npos);
}

TEST(ScopeTest, ParseSplitsAtTheFirstEquals) {
  Result<TokenScope> scope = ParseScope("tenant=acme=1");
  ASSERT_TRUE(scope.ok()) << scope.status().ToString();
  EXPECT_EQ(scope->column, "tenant");
  EXPECT_EQ(scope->value, "acme=1");
  EXPECT_TRUE(ParseScope("_a.b-c9=x").ok());
  EXPECT_TRUE(ParseScope(std::string(128, 'c') + "=x").ok());
}

TEST(ScopeTest, ParseRefusesBadColumnsAndEmptyValues) {
  for (const std::string& bad :
       {std::string("tenant"), std::string("=acme"), std::string("tenant="),
        std::string("1tenant=a"), std::string(".tenant=a"), std::string("-tenant=a"),
        std::string("ten ant=a"), std::string("tenänt=a"), std::string(129, 'c') + "=x",
        std::string("tenant=\xff")}) {
    EXPECT_FALSE(ParseScope(bad).ok()) << bad;
  }
}

TEST(AuthFailureTest, EveryFailureHasText) {
  for (AuthFailure f : {AuthFailure::kMissing, AuthFailure::kMalformed, AuthFailure::kUnknown,
                        AuthFailure::kExpired}) {
    EXPECT_FALSE(AuthFailureText(f).empty());
  }
  EXPECT_NE(AuthFailureText(AuthFailure::kExpired), AuthFailureText(AuthFailure::kUnknown));
}

// --- the file format ----------------------------------------------------------

constexpr char kHashA[] = "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
constexpr char kHashB[] = "sha256:ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

// A file whose second entry is `second` (JSON text); the first is valid.
std::string WithSecondEntry(const std::string& second) {
  return std::string(R"({"tokens": [{"id": "t_00112233", "hash": ")") + kHashA +
         R"(", "grants": ["emit"]}, )" + second + "]}";
}

TEST(TokenFileTest, ParseReadsEveryField) {
  const std::string text = std::string(R"({"tokens": [{"id": "t_1a2b3c4d", "name": "billing",
      "hash": ")") + kHashA +
                           R"(", "grants": ["query", "emit"],
      "expires": "2027-01-01T00:00:00Z", "scope": {"column": "tenant", "value": "acme"}},
      {"id": "ops", "hash": ")" +
                           kHashB + R"(", "grants": ["admin"]}]})";
  Result<TokenSet> set = TokenSet::Parse(text, "tokens.json");
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_EQ(set->entries().size(), 2u);
  const TokenEntry& a = set->entries()[0];
  EXPECT_EQ(a.id, "t_1a2b3c4d");
  EXPECT_EQ(a.name, "billing");
  EXPECT_EQ(a.hash[0], 0x00);
  EXPECT_EQ(a.hash[31], 0xff);
  EXPECT_EQ(a.grants, kEmit | kQuery);
  EXPECT_EQ(a.expires_micros, 1798761600000000);
  ASSERT_TRUE(a.scope.has_value());
  EXPECT_EQ(a.scope->column, "tenant");
  EXPECT_EQ(a.scope->value, "acme");
  const TokenEntry& b = set->entries()[1];
  EXPECT_EQ(b.name, "");
  EXPECT_EQ(b.grants, kAdmin);
  EXPECT_FALSE(b.expires_micros.has_value());
  EXPECT_FALSE(b.scope.has_value());
}

TEST(TokenFileTest, ParseAcceptsAnEmptyList) {
  Result<TokenSet> set = TokenSet::Parse(R"({"tokens": []})", "tokens.json");
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_TRUE(set->entries().empty());
}

TEST(TokenFileTest, WrittenTextParsesBackToTheSameEntries) {
  std::vector<NewToken> tokens = {
      MakeToken(kEmit | kAdmin, kNow, TokenScope{"tenant", "a \"quoted\" value"}),
      MakeToken(kQuery)};
  TokenSet set = SetOf(tokens);
  ASSERT_EQ(set.entries().size(), 2u);
  for (size_t i = 0; i < tokens.size(); ++i) {
    const TokenEntry &want = tokens[i].entry, &got = set.entries()[i];
    EXPECT_EQ(got.id, want.id);
    EXPECT_EQ(got.name, want.name);
    EXPECT_EQ(got.hash, want.hash);
    EXPECT_EQ(got.grants, want.grants);
    EXPECT_EQ(got.expires_micros, want.expires_micros);
    EXPECT_EQ(got.scope.has_value(), want.scope.has_value());
  }
  EXPECT_EQ(set.entries()[0].scope->value, "a \"quoted\" value");
}

TEST(TokenFileTest, ParseErrorsNameTheBadEntryAndTheProblem) {
  const std::string good_b = std::string(R"("hash": ")") + kHashB + R"(", "grants": ["query"])";
  struct Case {
    std::string entry;
    std::string problem;
  };
  const std::vector<Case> cases = {
      {R"({"id": "t_b", "role": "x", )" + good_b + "}", "unknown key 'role'"},
      {R"({)" + good_b + "}", "\"id\" is missing"},
      {R"({"id": "1bad", )" + good_b + "}", "id '1bad'"},
      {R"({"id": 7, )" + good_b + "}", "\"id\" must be a string"},
      {R"({"id": "t_b", "grants": ["query"]})", "\"hash\" is missing"},
      {R"({"id": "t_b", "hash": "sha256:00", "grants": ["query"]})", "64 lower-case hex"},
      {R"({"id": "t_b", "hash": "sha1:)" + std::string(64, 'a') + R"(", "grants": ["query"]})",
       "\"sha256:\""},
      {R"({"id": "t_b", "hash": "sha256:)" + std::string(64, 'A') + R"(", "grants": ["query"]})",
       "lower-case"},
      {R"({"id": "t_b", "hash": ")" + std::string(kHashB) + R"("})", "\"grants\" is missing"},
      {R"({"id": "t_b", "hash": ")" + std::string(kHashB) + R"(", "grants": []})", "non-empty"},
      {R"({"id": "t_b", "hash": ")" + std::string(kHashB) + R"(", "grants": "emit"})",
       "non-empty array"},
      {R"({"id": "t_b", "hash": ")" + std::string(kHashB) + R"(", "grants": ["read"]})",
       "unknown grant 'read'"},
      {R"({"id": "t_b", "hash": ")" + std::string(kHashB) + R"(", "grants": ["emit", "emit"]})",
       "twice"},
      {R"({"id": "t_b", "name": 3, )" + good_b + "}", "\"name\" must be a string"},
      {R"({"id": "t_b", "expires": "next week", )" + good_b + "}", "\"expires\""},
      {R"({"id": "t_b", "expires": null, )" + good_b + "}", "\"expires\" must be a string"},
      {R"({"id": "t_b", "scope": "tenant=a", )" + good_b + "}", "must be an object"},
      {R"({"id": "t_b", "scope": {"column": "tenant"}, )" + good_b + "}", "\"value\" is missing"},
      {R"({"id": "t_b", "scope": {"column": "9x", "value": "a"}, )" + good_b + "}",
       "scope column '9x'"},
      {R"({"id": "t_b", "scope": {"column": "t", "value": "a", "op": "="}, )" + good_b + "}",
       "unknown key 'op'"},
      {R"({"id": "t_00112233", )" + good_b + "}", "id used twice"},
      {R"({"id": "t_b", "hash": ")" + std::string(kHashA) + R"(", "grants": ["query"]})",
       "same hash"},
      {R"("t_b")", "not an object"},
  };
  for (const Case& c : cases) {
    Result<TokenSet> set = TokenSet::Parse(WithSecondEntry(c.entry), "tokens.json");
    ASSERT_FALSE(set.ok()) << c.entry;
    const std::string message = set.status().message();
    EXPECT_EQ(set.status().code(), Status::Code::kInvalidArgument) << message;
    EXPECT_EQ(message.rfind("tokens.json: tokens[1]", 0), 0u) << message;
    EXPECT_NE(message.find(c.problem), std::string::npos) << message;
  }
  // Once the id has been read, the entry is named by it too.
  Result<TokenSet> set =
      TokenSet::Parse(WithSecondEntry(R"({"id": "t_b", "hash": 1, "grants": ["emit"]})"), "f");
  EXPECT_NE(set.status().message().find("tokens[1] (id 't_b')"), std::string::npos)
      << set.status().message();
}

TEST(TokenFileTest, ParseRefusesABadTopLevel) {
  for (std::string_view bad :
       {"", "[]", "{}", R"({"tokens": {}})", R"({"tokens": [], "version": 1})",
        R"({"tokens": [], "tokens": []})", R"({"tokens": [)", R"({"tokens": []} x)"}) {
    Result<TokenSet> set = TokenSet::Parse(bad, "tokens.json");
    ASSERT_FALSE(set.ok()) << bad;
    EXPECT_NE(set.status().message().find("tokens.json"), std::string::npos)
        << set.status().message();
  }
}

// --- new tokens ---------------------------------------------------------------

TEST(CreateTokenTest, SecretIsQptAnd64HexAndIdComesFromItsHash) {
  NewToken token = MakeToken(kEmit, kNow, TokenScope{"tenant", "acme"});
  ASSERT_EQ(token.secret.size(), 68u);
  EXPECT_EQ(token.secret.substr(0, 4), "qpt_");
  EXPECT_EQ(token.secret.find_first_not_of("0123456789abcdef", 4), std::string::npos);
  const std::string hash = Sha256Hex(token.secret);
  EXPECT_EQ(HexEncode(std::string_view(reinterpret_cast<const char*>(token.entry.hash.data()),
                                       token.entry.hash.size())),
            hash);
  EXPECT_EQ(token.entry.id, "t_" + hash.substr(0, 8));
  EXPECT_EQ(token.entry.name, "test");
  EXPECT_EQ(token.entry.grants, kEmit);
  EXPECT_EQ(token.entry.expires_micros, kNow);
  EXPECT_EQ(token.entry.scope->value, "acme");
  EXPECT_NE(MakeToken(kEmit).secret, MakeToken(kEmit).secret);
}

TEST(CreateTokenTest, RefusesNoGrantsUnknownBitsBadScopesAndBadNames) {
  EXPECT_FALSE(CreateToken(0, std::nullopt, std::nullopt, "").ok());
  EXPECT_FALSE(CreateToken(8, std::nullopt, std::nullopt, "").ok());
  EXPECT_FALSE(CreateToken(kEmit, std::nullopt, TokenScope{"", "a"}, "").ok());
  EXPECT_FALSE(CreateToken(kEmit, std::nullopt, TokenScope{"tenant", ""}, "").ok());
  EXPECT_FALSE(CreateToken(kEmit, std::nullopt, std::nullopt, std::string(257, 'n')).ok());
  EXPECT_FALSE(CreateToken(kEmit, std::nullopt, std::nullopt, "bad \xc3").ok());
  EXPECT_TRUE(CreateToken(kEmit, std::nullopt, std::nullopt, std::string(256, 'n')).ok());
}

// --- authentication -------------------------------------------------------------

class AuthenticateTest : public ::testing::Test {
 protected:
  NewToken scoped_ = MakeToken(kEmit | kQuery, std::nullopt, TokenScope{"tenant", "acme"});
  NewToken admin_ = MakeToken(kAdmin, kNow + 1000);
  NewToken query_ = MakeToken(kQuery);
  TokenSet set_ = SetOf({scoped_, admin_, query_});

  std::variant<Principal, AuthFailure> Check(std::string_view header, int64_t now = kNow) {
    return set_.Authenticate(header, now);
  }
};

TEST_F(AuthenticateTest, AValidTokenGivesItsPrincipal) {
  auto result = Check("Bearer " + scoped_.secret);
  ASSERT_TRUE(std::holds_alternative<Principal>(result));
  const Principal& p = std::get<Principal>(result);
  EXPECT_EQ(p.token_id, scoped_.entry.id);
  EXPECT_TRUE(p.Has(Grant::kEmit));
  EXPECT_TRUE(p.Has(Grant::kQuery));
  EXPECT_FALSE(p.Has(Grant::kAdmin));
  ASSERT_TRUE(p.scope.has_value());
  EXPECT_EQ(p.scope->column, "tenant");
  EXPECT_EQ(p.scope->value, "acme");
}

TEST_F(AuthenticateTest, EveryEntryAuthenticatesAsItself) {
  for (const NewToken* t : {&scoped_, &admin_, &query_}) {
    auto result = Check("Bearer " + t->secret);
    ASSERT_TRUE(std::holds_alternative<Principal>(result)) << t->entry.id;
    EXPECT_EQ(std::get<Principal>(result).token_id, t->entry.id);
    EXPECT_EQ(std::get<Principal>(result).grants, t->entry.grants);
  }
}

TEST_F(AuthenticateTest, NoHeaderIsMissing) {
  EXPECT_EQ(std::get<AuthFailure>(Check("")), AuthFailure::kMissing);
}

TEST_F(AuthenticateTest, TheSchemeIsCaseInsensitive) {
  for (std::string scheme : {"bearer ", "BEARER ", "bEaReR ", "Bearer   "}) {
    auto result = Check(scheme + query_.secret);
    ASSERT_TRUE(std::holds_alternative<Principal>(result)) << scheme;
    EXPECT_EQ(std::get<Principal>(result).token_id, query_.entry.id);
  }
}

TEST_F(AuthenticateTest, AnythingButBearerAndAWellFormedTokenIsMalformed) {
  const std::string& s = query_.secret;
  std::string upper = s;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const std::string& bad : std::vector<std::string>{
           "Bearer", "Bearer ", "Bearer" + s, "Bearer\t" + s, " Bearer " + s, "Basic " + s,
           "Bearers " + s, "Bearer " + s + " ", "Bearer " + s + "0", "Bearer " + s.substr(0, 67),
           "Bearer " + s.substr(4), "Bearer " + upper, "Bearer qpt-" + s.substr(4),
           "Bearer qpt_" + std::string(63, 'a') + "g"}) {
    auto result = Check(bad);
    ASSERT_TRUE(std::holds_alternative<AuthFailure>(result)) << bad;
    EXPECT_EQ(std::get<AuthFailure>(result), AuthFailure::kMalformed) << bad;
  }
}

TEST_F(AuthenticateTest, AnUnknownTokenIsUnknown) {
  EXPECT_EQ(std::get<AuthFailure>(Check("Bearer " + MakeToken(kEmit).secret)),
            AuthFailure::kUnknown);
  EXPECT_EQ(std::get<AuthFailure>(TokenSet().Authenticate("Bearer " + query_.secret, kNow)),
            AuthFailure::kUnknown);
}

TEST_F(AuthenticateTest, ATokenDifferingInOneHexDigitIsUnknown) {
  for (size_t pos : {size_t{4}, size_t{40}, size_t{67}}) {
    std::string near = query_.secret;
    near[pos] = near[pos] == 'a' ? 'b' : 'a';
    EXPECT_EQ(std::get<AuthFailure>(Check("Bearer " + near)), AuthFailure::kUnknown) << pos;
  }
}

TEST_F(AuthenticateTest, ATokenIsExpiredFromItsExpiryOn) {
  const int64_t expires = *admin_.entry.expires_micros;
  EXPECT_TRUE(std::holds_alternative<Principal>(Check("Bearer " + admin_.secret, expires - 1)));
  EXPECT_EQ(std::get<AuthFailure>(Check("Bearer " + admin_.secret, expires)),
            AuthFailure::kExpired);
  EXPECT_EQ(std::get<AuthFailure>(Check("Bearer " + admin_.secret, expires + 1'000'000)),
            AuthFailure::kExpired);
  // Tokens without an expiry never expire.
  EXPECT_TRUE(std::holds_alternative<Principal>(Check("Bearer " + query_.secret, INT64_MAX)));
}

}  // namespace
}  // namespace quipu::server
