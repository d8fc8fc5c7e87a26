#include "server/http.h"

#include <cctype>

#include "json/audit.h"

namespace quipu::server {

Response JsonResponse(http::status status, const json::OrderedJson& body) {
  Response response{status, 11};
  response.set(http::field::content_type, "application/json");
  response.body() = json::JsonLine(body);
  response.prepare_payload();
  return response;
}

Response ErrorResponse(http::status status, std::string_view code, std::string_view message) {
  json::OrderedJson error;
  error["code"] = code;
  error["message"] = message;
  json::OrderedJson body;
  body["error"] = std::move(error);
  return JsonResponse(status, body);
}

http::status HttpStatusOf(const Status& status) {
  switch (status.code()) {
    case Status::Code::kOk:
      return http::status::ok;
    case Status::Code::kInvalidArgument:
      return http::status::bad_request;
    case Status::Code::kNotFound:
      return http::status::not_found;
    case Status::Code::kConflict:
      return http::status::conflict;
    case Status::Code::kNoSpace:
      return http::status::insufficient_storage;
    case Status::Code::kBusy:
      return http::status::service_unavailable;
    default:
      return http::status::internal_server_error;
  }
}

namespace {

std::string_view ErrorCode(const Status& status) {
  switch (status.code()) {
    case Status::Code::kInvalidArgument:
      return "invalid_argument";
    case Status::Code::kNotFound:
      return "not_found";
    case Status::Code::kConflict:
      return "conflict";
    case Status::Code::kNoSpace:
      return "no_space";
    case Status::Code::kBusy:
      return "busy";
    case Status::Code::kNotSupported:
      return "not_supported";
    case Status::Code::kCorruption:
      return "corruption";
    default:
      return "internal";
  }
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Response StatusResponse(const Status& status) {
  return ErrorResponse(HttpStatusOf(status), ErrorCode(status), status.message());
}

bool HasContentType(const Request& request, std::string_view mime) {
  std::string_view value = request[http::field::content_type];
  return EqualsIgnoreCase(Trim(value.substr(0, value.find(';'))), mime);
}

std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      int hi = HexDigit(text[i + 1]), lo = HexDigit(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    if (c == '\0') return std::nullopt;
    out.push_back(c);
  }
  return out;
}

std::optional<std::string> QueryParam(std::string_view target, std::string_view name) {
  size_t q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    if (eq == std::string_view::npos) return std::string();
    return PercentDecode(pair.substr(eq + 1), /*plus_is_space=*/true);
  }
  return std::nullopt;
}

}  // namespace quipu::server
