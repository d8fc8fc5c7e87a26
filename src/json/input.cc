#include "json/input.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "quipu/audit_types.h"

namespace quipu::json {

namespace {

// Bytes of a key shown in an error.
constexpr size_t kShownKey = 60;

// `key` as a JSON string, so control characters stay escaped in the
// one-line error; shortened if long.
std::string QuotedKey(const std::string& key) {
  std::string shown = key.size() > kShownKey ? key.substr(0, kShownKey) + "..." : key;
  return Json(shown).dump(-1, ' ', false, Json::error_handler_t::replace);
}

// Builds the document from SAX events, refusing what breaks the rules of
// json_input.h as soon as it is seen. nlohmann's parser is iterative, and
// so is this builder: `open_` holds the containers being filled, innermost
// last. A pointer into a parent stays valid while a child is open, because
// only the innermost container grows.
class StrictBuilder : public Json::json_sax_t {
 public:
  bool null() override { return Place(Json(nullptr)); }
  bool boolean(bool value) override { return Place(Json(value)); }
  bool number_integer(number_integer_t value) override {
    return Number(std::to_string(value), Json(value));
  }
  bool number_unsigned(number_unsigned_t value) override {
    return Number(std::to_string(value), Json(value));
  }
  bool number_float(number_float_t, const string_t& literal) override {
    Result<double> number = ParseNumber(literal);
    if (!number.ok()) return Fail(number.status().message());
    return Place(Json(*number));
  }
  bool string(string_t& value) override { return Place(Json(std::move(value))); }
  bool binary(binary_t&) override { return Fail("binary values are not JSON"); }

  bool start_object(std::size_t) override { return Open(Json::object()); }
  bool key(string_t& key) override {
    if (open_.back()->contains(key)) return Fail("duplicate key " + QuotedKey(key));
    key_ = std::move(key);
    return true;
  }
  bool end_object() override { return Close(); }
  bool start_array(std::size_t) override { return Open(Json::array()); }
  bool end_array() override { return Close(); }

  bool parse_error(std::size_t, const std::string& token, const Json::exception& e) override {
    // 406: a number too large for a double; the number rule words it.
    if (e.id == 406) return Fail(ParseNumber(token).status().message());
    syntax_error_ = true;
    return Fail(e.what());
  }

  Json& root() { return root_; }
  bool syntax_error() const { return syntax_error_; }
  const std::string& error() const { return error_; }

 private:
  bool Fail(std::string message) {
    error_ = std::move(message);
    return false;
  }

  // Puts a complete value where the parser is: the root, the next element
  // of the innermost array, or the member named by the last key.
  Json* Put(Json&& value) {
    if (open_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    Json& parent = *open_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(value));
      return &parent.back();
    }
    Json& member = parent[key_];
    member = std::move(value);
    return &member;
  }
  bool Place(Json&& value) {
    Put(std::move(value));
    return true;
  }
  bool Number(const std::string& literal, Json&& value) {
    Result<double> number = ParseNumber(literal);
    if (!number.ok()) return Fail(number.status().message());
    return Place(std::move(value));
  }
  bool Open(Json&& container) {
    if (open_.size() == static_cast<size_t>(kMaxJsonDepth)) {
      return Fail("nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    }
    open_.push_back(Put(std::move(container)));
    return true;
  }
  bool Close() {
    open_.pop_back();
    return true;
  }

  Json root_;
  std::vector<Json*> open_;
  std::string key_;
  bool syntax_error_ = false;
  std::string error_;
};

}  // namespace

Result<Json> ParseJson(std::string_view text, std::string_view what) {
  StrictBuilder builder;
  bool parsed = false;
  try {
    parsed = Json::sax_parse(text.begin(), text.end(), &builder);
  } catch (const Json::exception& e) {
    // The parser reports errors through the handler; this only guards the
    // promise that no exception leaves.
    return Status::InvalidArgument("invalid JSON in " + std::string(what) + ": " + e.what());
  }
  if (parsed) return std::move(builder.root());
  if (builder.syntax_error()) {
    return Status::InvalidArgument("invalid JSON in " + std::string(what) + ": " + builder.error());
  }
  return Status::InvalidArgument(std::string(what) + ": " + builder.error());
}

std::string CanonicalJson(const Json& value) {
  // Strings came through the parser, which checked their UTF-8, so
  // `replace` never changes them; it only rules out an exception.
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace quipu::json
