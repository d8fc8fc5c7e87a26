#include "server/router.h"

#include <utility>

namespace quipu::server {

namespace {

std::vector<std::string_view> Split(std::string_view path) {
  std::vector<std::string_view> parts;
  if (path.empty() || path.front() != '/') return parts;
  path.remove_prefix(1);
  while (true) {
    size_t slash = path.find('/');
    parts.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return parts;
}

bool IsParam(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

enum class Fit { kNo, kYes, kBadEscape };

// Whether `parts` fit `pattern`, collecting decoded parameters.
Fit Fits(const std::vector<std::string_view>& pattern, const std::vector<std::string_view>& parts,
         std::vector<std::string>* params) {
  if (pattern.size() != parts.size()) return Fit::kNo;
  params->clear();
  for (size_t i = 0; i < parts.size(); ++i) {
    if (!IsParam(pattern[i])) {
      if (pattern[i] != parts[i]) return Fit::kNo;
      continue;
    }
    if (parts[i].empty()) return Fit::kNo;
    std::optional<std::string> decoded = PercentDecode(parts[i]);
    if (!decoded) return Fit::kBadEscape;
    params->push_back(std::move(*decoded));
  }
  return Fit::kYes;
}

}  // namespace

std::string_view PathOf(std::string_view target) { return target.substr(0, target.find('?')); }

void Router::Add(Route route) { routes_.push_back(std::move(route)); }

std::variant<Router::Match, Router::Miss> Router::Find(http::verb method,
                                                       std::string_view path) const {
  const std::vector<std::string_view> parts = Split(path);
  std::string allow;
  bool bad_escape = false;
  std::vector<std::string> params;
  for (const Route& route : routes_) {
    Fit fit = Fits(Split(route.pattern), parts, &params);
    if (fit == Fit::kBadEscape) bad_escape = true;
    if (fit != Fit::kYes) continue;
    if (route.method == method) return Match{&route, std::move(params)};
    if (!allow.empty()) allow += ", ";
    allow += std::string(http::to_string(route.method));
  }
  if (!allow.empty()) return Miss{http::status::method_not_allowed, allow};
  if (bad_escape) return Miss{http::status::bad_request, {}};
  return Miss{http::status::not_found, {}};
}

}  // namespace quipu::server
