// The router and the OpenAPI document describe the same API: every route
// the server answers is documented, and every documented operation is a
// route (docs/openapi.json is compiled in and served at /v1/openapi.json).
#include <gtest/gtest.h>

#include <boost/asio/thread_pool.hpp>
#include <cctype>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>

#include "quipu/audit.h"
#include "server/openapi.h"
#include "server/service.h"
#include "test_dir.h"

namespace quipu::server {
namespace {

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::set<std::pair<std::string, std::string>> RouterOperations() {
  testing::TestDir dir;
  AuditOptions options;
  auto store = AuditStore::Open(dir.path() + "/store", options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  boost::asio::thread_pool workers(1);
  ServerOptions server_options;
  server_options.dir = dir.path() + "/store";
  std::set<std::pair<std::string, std::string>> ops;
  {
    Service service(server_options, std::move(*store), TokenSet(), &workers);
    for (const Route& route : service.router().routes()) {
      ops.emplace(Lower(http::to_string(route.method)), route.pattern);
    }
    EXPECT_TRUE(service.Close().ok());
  }
  workers.join();
  return ops;
}

TEST(OpenApi, DocumentsExactlyTheRoutes) {
  auto doc = nlohmann::json::parse(OpenApiDocument());
  ASSERT_EQ(doc["openapi"].get<std::string>().substr(0, 3), "3.1");
  std::set<std::pair<std::string, std::string>> documented;
  const std::set<std::string> methods = {"get",   "post", "put",    "delete",
                                         "patch", "head", "options"};
  for (const auto& [path, item] : doc["paths"].items()) {
    for (const auto& [method, op] : item.items()) {
      if (methods.count(method) != 0) documented.emplace(method, path);
    }
  }
  const auto served = RouterOperations();
  for (const auto& op : served) {
    EXPECT_TRUE(documented.count(op))
        << op.first << " " << op.second << " is not in docs/openapi.json";
  }
  for (const auto& op : documented) {
    EXPECT_TRUE(served.count(op)) << op.first << " " << op.second
                                  << " is documented but not routed";
  }
  EXPECT_GE(served.size(), 20u);
}

TEST(Router, TellsMissingPathFromWrongMethod) {
  Router router;
  Handler nothing = [](Call&) -> boost::asio::awaitable<void> { co_return; };
  router.Add({http::verb::get, "/v1/entities/{type}", Grant::kQuery, nothing});
  router.Add({http::verb::post, "/v1/types", Grant::kAdmin, nothing});
  router.Add({http::verb::get, "/v1/types", Grant::kQuery, nothing});

  auto hit = router.Find(http::verb::get, "/v1/entities/us%2Fer");
  ASSERT_TRUE(std::holds_alternative<Router::Match>(hit));
  EXPECT_EQ(std::get<Router::Match>(hit).params, std::vector<std::string>{"us/er"});

  auto wrong = router.Find(http::verb::delete_, "/v1/types");
  ASSERT_TRUE(std::holds_alternative<Router::Miss>(wrong));
  EXPECT_EQ(std::get<Router::Miss>(wrong).status, http::status::method_not_allowed);
  EXPECT_EQ(std::get<Router::Miss>(wrong).allow, "POST, GET");

  for (const char* path :
       {"/v1/nope", "/v1/entities", "/v1/entities/", "/v1/entities/a/b", "", "v1/types"}) {
    auto miss = router.Find(http::verb::get, path);
    ASSERT_TRUE(std::holds_alternative<Router::Miss>(miss)) << path;
    EXPECT_EQ(std::get<Router::Miss>(miss).status, http::status::not_found) << path;
  }
  auto bad = router.Find(http::verb::get, "/v1/entities/%zz");
  ASSERT_TRUE(std::holds_alternative<Router::Miss>(bad));
  EXPECT_EQ(std::get<Router::Miss>(bad).status, http::status::bad_request);
  auto nul = router.Find(http::verb::get, "/v1/entities/a%00b");
  ASSERT_TRUE(std::holds_alternative<Router::Miss>(nul));
  EXPECT_EQ(std::get<Router::Miss>(nul).status, http::status::bad_request);
}

TEST(Http, QueryParamsAndContentTypes) {
  EXPECT_EQ(QueryParam("/v1/root?size=3", "size"), std::optional<std::string>("3"));
  EXPECT_EQ(QueryParam("/v1/x?a=1&ack=appended", "ack"), std::optional<std::string>("appended"));
  EXPECT_EQ(QueryParam("/v1/x?a=1", "ack"), std::nullopt);
  EXPECT_EQ(QueryParam("/v1/x?q=a+b%21", "q"), std::optional<std::string>("a b!"));
  EXPECT_EQ(PercentDecode("a+b"), std::optional<std::string>("a+b"));
  EXPECT_EQ(PercentDecode("%4"), std::nullopt);
  Request r{http::verb::post, "/", 11};
  r.set(http::field::content_type, "Application/JSON; charset=utf-8");
  EXPECT_TRUE(HasContentType(r, "application/json"));
  EXPECT_FALSE(HasContentType(r, "application/x-ndjson"));
}

}  // namespace
}  // namespace quipu::server
