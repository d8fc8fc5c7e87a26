// audit/time.cc — RFC 3339 UTC formatting and parsing for audit timestamps.
//
// Calendar arithmetic is done on the proleptic Gregorian calendar with
// 400-year eras (146 097 days each), so no libc time zone state is touched
// and any year 0000..9999 works.
#include <cstdio>
#include <string>

#include "quipu/audit_types.h"
#include "util/quote.h"

namespace quipu {

namespace {

constexpr int64_t kMicrosPerSecond = 1'000'000;
constexpr int64_t kSecondsPerDay = 86'400;

// Days since 1970-01-01 of the given civil date.
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;  // the computation's year starts in March
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t year_of_era = y - era * 400;
  const int month_from_march = m > 2 ? m - 3 : m + 9;
  const int64_t day_of_year = (153 * month_from_march + 2) / 5 + d - 1;
  const int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

struct Civil {
  int64_t year;
  int month;
  int day;
};

Civil CivilFromDays(int64_t days) {
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const int64_t day_of_era = days - era * 146097;
  const int64_t year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const int64_t day_of_year =
      day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const int64_t mp = (5 * day_of_year + 2) / 153;
  const int day = static_cast<int>(day_of_year - (153 * mp + 2) / 5 + 1);
  const int month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return Civil{year_of_era + era * 400 + (month <= 2), month, day};
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int64_t y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Reads exactly `n` digits at `*pos`.
bool ReadDigits(std::string_view s, size_t* pos, int n, int64_t* out) {
  if (*pos + n > s.size()) return false;
  int64_t v = 0;
  for (int i = 0; i < n; ++i) {
    const char c = s[*pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *pos += n;
  *out = v;
  return true;
}

bool Expect(std::string_view s, size_t* pos, char c) {
  if (*pos >= s.size() || s[*pos] != c) return false;
  ++*pos;
  return true;
}

// The time-of-day part after the 'T': "HH:MM:SS[.frac](Z|+HH:MM|-HH:MM)".
// Adds seconds-of-day minus the offset into *seconds and the fraction into
// *micros.
bool ParseTimeOfDay(std::string_view s, size_t* pos, int64_t* seconds, int64_t* micros) {
  int64_t hh, mm, ss;
  if (!ReadDigits(s, pos, 2, &hh) || !Expect(s, pos, ':') || !ReadDigits(s, pos, 2, &mm) ||
      !Expect(s, pos, ':') || !ReadDigits(s, pos, 2, &ss)) {
    return false;
  }
  if (hh > 23 || mm > 59 || ss > 60) return false;  // 60: a leap second, folded onward
  *seconds = hh * 3600 + mm * 60 + ss;
  if (*pos < s.size() && s[*pos] == '.') {
    ++*pos;
    int digits = 0;
    int64_t frac = 0;
    while (*pos < s.size() && s[*pos] >= '0' && s[*pos] <= '9') {
      if (digits < 6) frac = frac * 10 + (s[*pos] - '0');
      ++digits;
      ++*pos;
    }
    if (digits == 0) return false;
    for (int i = digits; i < 6; ++i) frac *= 10;
    *micros = frac;
  }
  if (*pos >= s.size()) return false;
  const char zone = s[*pos];
  if (zone == 'Z' || zone == 'z') {
    ++*pos;
    return true;
  }
  if (zone != '+' && zone != '-') return false;
  ++*pos;
  int64_t oh, om;
  if (!ReadDigits(s, pos, 2, &oh) || !Expect(s, pos, ':') || !ReadDigits(s, pos, 2, &om)) {
    return false;
  }
  if (oh > 23 || om > 59) return false;
  const int64_t offset = oh * 3600 + om * 60;
  *seconds += zone == '+' ? -offset : offset;
  return true;
}

}  // namespace

std::string FormatRfc3339Utc(int64_t micros) {
  const int64_t seconds = FloorDiv(micros, kMicrosPerSecond);
  const int64_t frac = micros - seconds * kMicrosPerSecond;
  const int64_t days = FloorDiv(seconds, kSecondsPerDay);
  const int64_t sod = seconds - days * kSecondsPerDay;
  const Civil c = CivilFromDays(days);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02d-%02dT%02lld:%02lld:%02lld.%06lldZ",
                static_cast<long long>(c.year), c.month, c.day, static_cast<long long>(sod / 3600),
                static_cast<long long>(sod / 60 % 60), static_cast<long long>(sod % 60),
                static_cast<long long>(frac));
  return buf;
}

Result<int64_t> ParseRfc3339(std::string_view text) {
  auto bad = [&] {
    return Status::InvalidArgument("not an RFC 3339 time: " + QuoteInput(text) +
                                   " (expected e.g. 2024-05-01T12:34:56Z or 2024-05-01)");
  };
  size_t pos = 0;
  int64_t y, m, d;
  if (!ReadDigits(text, &pos, 4, &y) || !Expect(text, &pos, '-') ||
      !ReadDigits(text, &pos, 2, &m) || !Expect(text, &pos, '-') ||
      !ReadDigits(text, &pos, 2, &d)) {
    return bad();
  }
  if (m < 1 || m > 12 || d < 1 || d > DaysInMonth(y, static_cast<int>(m))) return bad();
  int64_t seconds = 0, micros = 0;
  if (pos < text.size()) {
    const char sep = text[pos++];
    if (sep != 'T' && sep != 't' && sep != ' ') return bad();
    if (!ParseTimeOfDay(text, &pos, &seconds, &micros) || pos != text.size()) return bad();
  }
  const int64_t days = DaysFromCivil(y, static_cast<int>(m), static_cast<int>(d));
  return (days * kSecondsPerDay + seconds) * kMicrosPerSecond + micros;
}

}  // namespace quipu
