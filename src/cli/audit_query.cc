// quipu query DIR [filters] [--json]: log rows matching every filter given
// (cli/query_flags.h), one page at a time.
//
// Output: --json prints one hit per line, then always a last line
// {"next_cursor": "..."} (null on the last page), so a script pages with
//   quipu query DIR --json --cursor "$(... | tail -n1 | jq -r .next_cursor)"
// Text output is a table, then "next page: --cursor C" when there is more.
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "access/access_log.h"
#include "cli/access.h"
#include "cli/audit_json.h"
#include "cli/common.h"
#include "cli/query_flags.h"
#include "cli/verbs.h"

namespace quipu::cli {

namespace {

struct QueryFlags {
  std::string dir;
  FilterFlags filter;
  bool oldest_first = false;
  uint32_t limit = 100;
  std::string cursor;
  bool json = false;
  bool access = false;  // query the access log instead
};

Result<Query> BuildQuery(const QueryFlags& flags, const AuditStore& store) {
  Result<Query> query = BuildFilter(flags.filter, store);
  if (!query.ok()) return query;
  query->order = flags.oldest_first ? Order::kOldestFirst : Order::kNewestFirst;
  query->limit = flags.limit;
  query->cursor = flags.cursor;
  return query;
}

std::string PageJson(const QueryPage& page) {
  std::string text;
  for (const Hit& hit : page.hits) text += JsonLine(HitToJson(hit));
  OrderedJson last;
  last["next_cursor"] =
      page.next_cursor.empty() ? OrderedJson(nullptr) : OrderedJson(page.next_cursor);
  return text + JsonLine(last);
}

std::string PageText(const QueryPage& page) {
  std::vector<std::vector<std::string>> rows = {
      {"log_id", "timestamp", "actor", "method", "targets", "url"}};
  for (const Hit& hit : page.hits) {
    std::string targets;
    for (const EntityVersion& t : hit.targets)
      targets += (targets.empty() ? "" : ",") + VersionRef(t);
    rows.push_back({std::to_string(hit.log_id), FormatRfc3339Utc(hit.timestamp_micros),
                    VersionRef(hit.actor), hit.method, targets, hit.url});
  }
  std::string text = FormatTable(rows, /*text_last=*/true);
  if (!page.next_cursor.empty()) text += "next page: --cursor " + page.next_cursor + "\n";
  return text;
}

Status QueryAndPrint(const QueryFlags& flags, const AuditStore& store) {
  Result<Query> query = BuildQuery(flags, store);
  if (!query.ok()) return query.status();
  Result<QueryPage> page = store.Query(*query);
  if (!page.ok()) return page.status();
  // Recorded before it is shown: a read that cannot be recorded shows nothing.
  if (!flags.access) {
    QUIPU_RETURN_IF_ERROR(
        RecordRead(flags.dir, "query", access::QueryPageShape(*query), page->hits.size()));
  }
  FdWriter out(STDOUT_FILENO);
  Status s = out.Write(flags.json ? PageJson(*page) : PageText(*page));
  return FirstError(s, out.Flush());
}

Status RunQuery(const QueryFlags& flags) {
  Result<std::unique_ptr<AuditStore>> store =
      OpenStoreToRead(flags.access ? AccessStoreDir(flags.dir) : flags.dir);
  if (!store.ok()) return store.status();
  Status s = QueryAndPrint(flags, **store);
  return FirstError(s, (*store)->Close());
}

}  // namespace

void RegisterQuery(CLI::App& app) {
  auto flags = std::make_shared<QueryFlags>();
  CLI::App* verb = app.add_subcommand(
      "query",
      "Log rows matching every filter given, newest first, one page at a time. Entity filters "
      "match any version of an entity, on indexed fields or 'id'.");
  verb->add_option("dir", flags->dir, "store directory")->required();
  AddFilterFlags(verb, &flags->filter);
  verb->add_flag("--oldest-first", flags->oldest_first, "oldest rows first");
  verb->add_option("--limit", flags->limit, "rows per page (1..10000)")
      ->check(Unsigned(1, 10000))
      ->capture_default_str();
  verb->add_option("--cursor", flags->cursor, "next_cursor of the previous page");
  verb->add_flag("--access", flags->access,
                 "query the store's access log (its reads) instead of the store");
  verb->add_flag("--json", flags->json,
                 "one JSON hit per line, then {\"next_cursor\": ...} (null on the last page)");
  SetAction(verb, [flags] { return RunQuery(*flags); });
}

}  // namespace quipu::cli
