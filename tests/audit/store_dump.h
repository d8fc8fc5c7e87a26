// Everything an audit store answers, as one string: two stores that answer
// every read alike dump alike. The index tests compare a store reopened
// after damage or a crash with one rebuilt from its log this way.
#ifndef QUIPU_TESTS_AUDIT_STORE_DUMP_H_
#define QUIPU_TESTS_AUDIT_STORE_DUMP_H_

#include <sstream>
#include <string>

#include "quipu/audit.h"

namespace quipu::testing {

inline void DumpFields(std::ostream& out, const Fields& fields) {
  out << "{";
  for (const auto& [name, v] : fields) {
    out << name << "=" << static_cast<int>(v.kind) << ":" << static_cast<int>(v.hidden) << ":"
        << v.ToString() << ";";
  }
  out << "}";
}

inline void DumpVersion(std::ostream& out, const EntityVersion& v) {
  out << v.type << "/" << v.id << "@" << v.version << " by " << v.created_log_id << " at "
      << v.created_micros;
  DumpFields(out, v.fields);
}

inline void DumpHit(std::ostream& out, const Hit& h) {
  out << "row " << h.log_id << " lsn " << h.lsn << " at " << h.timestamp_micros << " actor ";
  DumpVersion(out, h.actor);
  out << " " << h.method << " " << h.url << " content " << (h.content ? h.content->ToString() : "-")
      << " columns ";
  DumpFields(out, h.columns);
  for (const EntityVersion& t : h.targets) {
    out << " target ";
    DumpVersion(out, t);
  }
  out << "\n";
}

// Row log_ids of every page of `q`, and its count.
inline void DumpQuery(std::ostream& out, const AuditStore& store, Query q) {
  out << "query:";
  q.limit = 3;  // several pages, so cursors are exercised too
  for (;;) {
    auto page = store.Query(q);
    if (!page.ok()) {
      out << " error " << page.status().ToString();
      break;
    }
    for (const Hit& h : page->hits) out << " " << h.log_id;
    if (page->next_cursor.empty()) break;
    q.cursor = page->next_cursor;
  }
  q.cursor.clear();
  auto count = store.Count(q);
  out << " count " << (count.ok() ? std::to_string(*count) : count.status().ToString()) << "\n";
}

// Rows, types, columns, entities with their histories, and for each entity
// the rows naming it as actor and as target (which exercises postings and
// the id index), plus a query of each operator on every indexed text field
// with a prefix of each entity's latest value.
inline std::string DumpStore(const AuditStore& store) {
  std::ostringstream out;
  out << "last " << store.LastLogId() << "\n";
  for (uint64_t id = 1; id <= store.LastLogId(); ++id) {
    auto hit = store.GetRow(id);
    if (!hit.ok()) {
      out << "row " << id << " error " << hit.status().ToString() << "\n";
      continue;
    }
    DumpHit(out, *hit);
  }
  for (const ColumnSpec& c : store.Columns()) out << "column " << c.name << "\n";
  for (const TypeSchema& type : store.Types()) {
    out << "type " << type.name << " fields " << type.fields.size() << "\n";
    auto entities = store.ListEntities(type.name);
    if (!entities.ok()) {
      out << " error " << entities.status().ToString() << "\n";
      continue;
    }
    for (const EntityVersion& latest : *entities) {
      auto history = store.EntityHistory(type.name, latest.id);
      out << "entity ";
      DumpVersion(out, latest);
      out << " history";
      if (history.ok()) {
        for (const EntityVersion& v : *history) out << " v" << v.version;
      }
      out << "\n";
      Query q;
      q.actor = EntityFilter{type.name, "id", MatchOp::kExact, latest.id};
      DumpQuery(out, store, q);
      q.actor.reset();
      q.targets.push_back(EntityFilter{type.name, "id", MatchOp::kExactCi, latest.id});
      DumpQuery(out, store, q);
      for (const FieldSpec& f : type.fields) {
        auto value = latest.fields.find(f.name);
        if (!f.indexed || f.kind != FieldKind::kText || value == latest.fields.end()) continue;
        const std::string& text = value->second.text;
        for (MatchOp op :
             {MatchOp::kExact, MatchOp::kExactCi, MatchOp::kPrefix, MatchOp::kContains}) {
          Query fq;
          fq.targets.push_back(
              EntityFilter{type.name, f.name, op, text.substr(0, text.size() / 2 + 1)});
          DumpQuery(out, store, fq);
        }
      }
    }
  }
  Query all;
  all.order = Order::kOldestFirst;
  DumpQuery(out, store, all);
  return out.str();
}

}  // namespace quipu::testing

#endif  // QUIPU_TESTS_AUDIT_STORE_DUMP_H_
