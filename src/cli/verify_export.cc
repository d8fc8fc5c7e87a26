// cli/verify_export.cc — checking an export with proofs, without the store.
#include "cli/verify_export.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/audit_json.h"
#include "cli/common.h"
#include "cli/line_reader.h"
#include "io/errno_status.h"
#include "quipu/audit_records.h"

namespace quipu::cli {

namespace {

using nlohmann::json;

// As import's: a record of up to 1 MiB in hex, its JSON and its proof.
constexpr size_t kMaxLine = 8 << 20;

Status Bad(const std::string& what) { return Status::InvalidArgument(what); }
Status Broken(const std::string& what) { return Status::Corruption(what); }

Result<uint64_t> Unsigned(const json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_number_unsigned()) {
    return Bad(std::string("\"") + key + "\" must be an unsigned integer");
  }
  return j[key].get<uint64_t>();
}

Result<merkle::Hash> HashOf(const json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_string()) {
    return Bad(std::string("\"") + key + "\" must be a hex string");
  }
  return merkle::Hash::FromHex(j[key].get<std::string>());
}

// The same JSON value as the line holds it (parsed from text, unordered).
json Plain(const OrderedJson& value) { return json::parse(value.dump()); }

struct ExportCheck {
  uint64_t tree_size = 0;
  bool complete = false;
  Trusted trusted;
  AuditRecordReader reader;
  Lsn last_lsn = 0;
  // After a retention purge: the log's first LSN, and whether the export
  // holds the purge record that says so.
  Lsn first_lsn = 1;
  bool purge_seen = false;
  uint64_t types = 0, columns = 0, events = 0, retention = 0;
};

Status CheckHeader(const json& line, const TrustedFor& trusted_for, ExportCheck* check) {
  if (!line.contains("export") || !line["export"].is_object()) {
    return Bad("the first line must be the export's header ({\"export\": ...})");
  }
  const json& header = line["export"];
  if (header.value("quipu_export", json()) != 1) return Bad("not an export of format 1");
  if (header.value("with_proofs", false) != true) {
    return Bad("this export carries no proofs: make it with `quipu export --with-proofs`");
  }
  Result<uint64_t> size = Unsigned(header, "tree_size");
  if (!size.ok()) return size.status();
  Result<merkle::Hash> claimed = HashOf(header, "root");
  if (!claimed.ok()) return claimed.status();
  Result<Trusted> trusted = trusted_for(*size);
  if (!trusted.ok()) return trusted.status();
  if (trusted->size && *trusted->size != *size) {
    return Broken("the export is of a tree of size " + std::to_string(*size) +
                  ", the trusted root of size " + std::to_string(*trusted->size));
  }
  if (!(*claimed == trusted->root)) {
    return Broken("the export's root " + claimed->ToHex() + " is not the trusted root " +
                  trusted->root.ToHex());
  }
  check->tree_size = *size;
  check->complete = header.value("complete", false) == true;
  if (header.contains("first_lsn")) {
    Result<uint64_t> first = Unsigned(header, "first_lsn");
    if (!first.ok()) return first.status();
    if (*first == 0 || *first > *size + 1) return Bad("\"first_lsn\" out of the tree");
    check->first_lsn = *first;
  }
  check->trusted = std::move(*trusted);
  return Status::OK();
}

// The leaf at `lsn` is `bytes` in the trusted tree.
Status CheckProof(const json& line, Lsn lsn, const std::string& bytes, const ExportCheck& check) {
  if (!line.contains("proof") || !line["proof"].is_object()) return Bad("no \"proof\" object");
  const json& proof = line["proof"];
  Result<uint64_t> index = Unsigned(proof, "leaf_index");
  Result<uint64_t> size = Unsigned(proof, "tree_size");
  if (!index.ok()) return index.status();
  if (!size.ok()) return size.status();
  if (*index != lsn - 1 || *size != check.tree_size) {
    return Broken("the proof is for leaf " + std::to_string(*index) + " of a tree of size " +
                  std::to_string(*size) + ", not for LSN " + std::to_string(lsn) +
                  " in the export's tree of size " + std::to_string(check.tree_size));
  }
  if (!proof.contains("path") || !proof["path"].is_array()) return Bad("no proof \"path\"");
  std::vector<merkle::Hash> path;
  for (const json& h : proof["path"]) {
    if (!h.is_string()) return Bad("proof path entries must be hex strings");
    Result<merkle::Hash> node = merkle::Hash::FromHex(h.get<std::string>());
    if (!node.ok()) return node.status();
    path.push_back(*node);
  }
  return merkle::VerifyInclusion(merkle::LeafHash(bytes), *index, *size, path, check.trusted.root);
}

// The line as the record says it, with the fields of versions the record
// did not write taken out of both sides.
// A protected value is sealed in its record: a verifier without the keys
// sees it hidden ({"encrypted": true}, {"hashed": true}), and cannot check
// what the line says of it (an export made with the keys shows it). Such
// places of `said` take the record's marker, so the rest is compared.
bool IsHiddenMarker(const json& v) {
  return v.is_object() && v.size() == 1 &&
         (v.contains("encrypted") || v.contains("hashed") || v.contains("erased"));
}

void AcceptProtected(const json& expected, json* said) {
  if (IsHiddenMarker(expected)) {
    *said = expected;
    return;
  }
  if (expected.is_object() && said->is_object()) {
    for (auto it = expected.begin(); it != expected.end(); ++it) {
      if (said->contains(it.key())) AcceptProtected(it.value(), &(*said)[it.key()]);
    }
  } else if (expected.is_array() && said->is_array() && expected.size() == said->size()) {
    for (size_t i = 0; i < expected.size(); ++i) AcceptProtected(expected[i], &(*said)[i]);
  }
}

Status CheckContent(const json& line, const ExportedRecord& rec) {
  json said = line;
  said.erase("record");
  said.erase("proof");
  json expected;
  switch (rec.kind) {
    case ExportedRecord::Kind::kType:
      expected = Plain(OrderedJson{{"lsn", rec.lsn}, {"type", SchemaToJson(rec.type)}});
      break;
    case ExportedRecord::Kind::kColumn:
      expected = Plain(OrderedJson{{"lsn", rec.lsn}, {"column", ColumnToJson(rec.column)}});
      break;
    case ExportedRecord::Kind::kPurge:
      expected =
          Plain(OrderedJson{{"lsn", rec.lsn}, {"purge", quipu::json::PurgeToJson(rec.purge)}});
      break;
    case ExportedRecord::Kind::kCarry:
      expected =
          Plain(OrderedJson{{"lsn", rec.lsn}, {"carry", quipu::json::CarryToJson(rec.carry)}});
      break;
    case ExportedRecord::Kind::kForget:
      expected =
          Plain(OrderedJson{{"lsn", rec.lsn}, {"forget", quipu::json::ForgetToJson(rec.forget)}});
      break;
    case ExportedRecord::Kind::kEvent: {
      expected = Plain(HitToJson(rec.event));
      auto written = [&](const json& v) {
        for (const EntityVersion& w : rec.written) {
          if (v.value("type", "") == w.type && v.value("id", "") == w.id &&
              v.value("version", json()) == w.version) {
            return true;
          }
        }
        return false;
      };
      auto blank = [&](json* v) {
        if (v->is_object() && v->contains("fields") && !written(*v)) (*v)["fields"] = json();
      };
      for (json* side : {&said, &expected}) {
        if (side->contains("actor")) blank(&(*side)["actor"]);
        if (side->contains("targets") && (*side)["targets"].is_array()) {
          for (json& t : (*side)["targets"]) blank(&t);
        }
      }
      AcceptProtected(expected, &said);
      break;
    }
  }
  if (said != expected) {
    return Broken("the line does not say what its record says; the record says " + expected.dump());
  }
  return Status::OK();
}

Status CheckLine(const json& line, ExportCheck* check) {
  Result<uint64_t> lsn = Unsigned(line, "lsn");
  if (!lsn.ok()) return lsn.status();
  if (*lsn <= check->last_lsn || *lsn > check->tree_size) {
    return Broken("LSN " + std::to_string(*lsn) + " after LSN " + std::to_string(check->last_lsn) +
                  " in a tree of size " + std::to_string(check->tree_size));
  }
  // Before first_lsn only the carried type and column records remain.
  const Lsn due = std::max(check->last_lsn + 1, check->first_lsn);
  if (check->complete && *lsn >= check->first_lsn && *lsn != due) {
    const Lsn first = due, last = *lsn - 1;
    return Broken("the export claims to be complete, but " +
                  (first == last ? "record " + std::to_string(first) + " is"
                                 : "records " + std::to_string(first) + ".." +
                                       std::to_string(last) + " are") +
                  " missing");
  }
  if (!line.contains("record") || !line["record"].is_string()) return Bad("no \"record\" (hex)");
  std::string bytes;
  if (!HexDecode(line["record"].get<std::string>(), &bytes)) return Bad("\"record\" is not hex");
  QUIPU_RETURN_IF_ERROR(CheckProof(line, *lsn, bytes, *check));
  Result<ExportedRecord> rec = check->reader.Read(bytes, *lsn);
  if (!rec.ok()) return rec.status();
  QUIPU_RETURN_IF_ERROR(CheckContent(line, *rec));
  const bool catalog =
      rec->kind == ExportedRecord::Kind::kType || rec->kind == ExportedRecord::Kind::kColumn;
  if (*lsn < check->first_lsn && !catalog) {
    return Broken("LSN " + std::to_string(*lsn) + " is before the log's first, LSN " +
                  std::to_string(check->first_lsn) + ", and not a type or column record");
  }
  check->last_lsn = *lsn;
  switch (rec->kind) {
    case ExportedRecord::Kind::kPurge:
      check->purge_seen = check->purge_seen || rec->purge.first_kept == check->first_lsn;
      check->retention++;
      break;
    case ExportedRecord::Kind::kCarry:
    case ExportedRecord::Kind::kForget:
      check->retention++;
      break;
    case ExportedRecord::Kind::kType:
      check->types++;
      break;
    case ExportedRecord::Kind::kColumn:
      check->columns++;
      break;
    case ExportedRecord::Kind::kEvent:
      check->events++;
      break;
  }
  return Status::OK();
}

Status CheckLines(int fd, const TrustedFor& trusted, ExportCheck* check) {
  LineReader in(fd, kMaxLine);
  bool header = false;
  for (;;) {
    Result<bool> more = in.Fill();
    if (!more.ok()) return more.status();
    QUIPU_RETURN_IF_ERROR(in.ForEachLine([&](std::string_view text) -> Status {
      if (text.find_first_not_of(" \t\r") == std::string_view::npos) return Status::OK();
      json line = json::parse(text, nullptr, /*allow_exceptions=*/false);
      Status s;
      if (line.is_discarded() || !line.is_object()) {
        s = Bad("not a JSON object");
      } else if (!header) {
        s = CheckHeader(line, trusted, check);
        header = true;
      } else {
        s = CheckLine(line, check);
      }
      return s.WithContext("line " + std::to_string(in.line_number()));
    }));
    if (!*more) break;
  }
  if (!header) return Bad("the input holds no export header");
  if (check->complete && check->first_lsn > 1 && !check->purge_seen) {
    return Broken("the export says the log starts at LSN " + std::to_string(check->first_lsn) +
                  ", but holds no purge record that says so");
  }
  if (check->complete && check->last_lsn != check->tree_size) {
    return Broken("the export claims to be complete, but ends at LSN " +
                  std::to_string(check->last_lsn) + " of " + std::to_string(check->tree_size));
  }
  return Status::OK();
}

}  // namespace

Result<std::string> VerifyExport(const std::string& path, const TrustedFor& trusted) {
  int fd = STDIN_FILENO;
  if (path != "-") {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("open", path, errno);
  }
  ExportCheck check;
  Status s = CheckLines(fd, trusted, &check);
  if (fd != STDIN_FILENO) ::close(fd);
  if (!s.ok()) return s.WithContext(path);
  std::string text =
      "OK: " + std::to_string(check.types + check.columns + check.events + check.retention) +
      " records (type: " + std::to_string(check.types) +
      ", column: " + std::to_string(check.columns) + ", event: " + std::to_string(check.events) +
      (check.retention > 0 ? ", purge, carry and forget: " + std::to_string(check.retention)
                           : std::string()) +
      ") are in the tree of size " + std::to_string(check.tree_size) +
      " and say what their lines say\n  root " + check.trusted.root.ToHex() + " from " +
      check.trusted.source + "\n";
  if (!check.complete) {
    text +=
        "note: a filtered export: each record it holds is proven, not that none was "
        "left out\n";
  }
  return text;
}

}  // namespace quipu::cli
