#include "unicode.h"

#include <algorithm>
#include <cstring>
#include <iterator>

namespace relbert {
namespace {
#include "unicode_tables.inc"

template <typename Row>
const Row* find_row(const Row* begin, const Row* end, char32_t c) {
  const Row* it = std::lower_bound(begin, end, c, [](const Row& row, char32_t v) { return row[0] < v; });
  return (it != end && (*it)[0] == c) ? it : nullptr;
}
}  // namespace

bool utf8_decode(const std::string& in, std::u32string& out) {
  out.clear();
  out.reserve(in.size());
  const auto* s = reinterpret_cast<const unsigned char*>(in.data());
  size_t i = 0, n = in.size();
  while (i < n) {
    unsigned char b = s[i];
    char32_t c;
    int extra;
    if (b < 0x80) { c = b; extra = 0; }
    else if ((b & 0xE0) == 0xC0) { c = b & 0x1F; extra = 1; }
    else if ((b & 0xF0) == 0xE0) { c = b & 0x0F; extra = 2; }
    else if ((b & 0xF8) == 0xF0) { c = b & 0x07; extra = 3; }
    else return false;
    for (int k = 1; k <= extra; ++k) {
      if (i + k >= n || (s[i + k] & 0xC0) != 0x80) return false;
      c = (c << 6) | (s[i + k] & 0x3F);
    }
    out.push_back(c);
    i += extra + 1;
  }
  return true;
}

void utf8_append(char32_t c, std::string& out) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::string utf8_encode(const std::u32string& in) {
  std::string out;
  out.reserve(in.size());
  for (char32_t c : in) utf8_append(c, out);
  return out;
}

const char* category(char32_t c) {
  if (c > 0x10FFFF) return "Cn";
  const auto* end = std::end(kCategoryRuns);
  const auto* it = std::upper_bound(std::begin(kCategoryRuns), end, c,
                                    [](char32_t v, const uint32_t(&row)[2]) { return v < row[0]; });
  return kCategoryNames[(*(it - 1))[1]];
}

bool is_letter(char32_t c) { return c < 0x80 ? ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') : category(c)[0] == 'L'; }
bool is_number(char32_t c) { return c < 0x80 ? (c >= '0' && c <= '9') : category(c)[0] == 'N'; }
bool is_nonspacing_mark(char32_t c) { return c >= 0x300 && std::strcmp(category(c), "Mn") == 0; }

bool is_white_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

bool is_bert_whitespace(char32_t c) { return c == '\t' || c == '\n' || c == '\r' || is_white_space(c); }

bool is_bert_control(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  const char* cat = category(c);
  return cat[0] == 'C' && (cat[1] == 'c' || cat[1] == 'f' || cat[1] == 'n' || cat[1] == 'o');
}

bool is_bert_punctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
  return c >= 0x80 && category(c)[0] == 'P';
}

bool is_cjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

void append_lower(char32_t c, std::u32string& out) {
  if (c < 0x80) {
    out.push_back((c >= 'A' && c <= 'Z') ? c + 32 : c);
    return;
  }
  const auto* row = find_row(std::begin(kLower), std::end(kLower), c);
  if (!row) {
    out.push_back(c);
    return;
  }
  for (uint32_t k = 0; k < (*row)[1]; ++k) out.push_back((*row)[2 + k]);
}

void append_nfd(char32_t c, std::u32string& out) {
  if (c < 0xC0) {
    out.push_back(c);
    return;
  }
  if (c >= 0xAC00 && c <= 0xD7A3) {  // Hangul syllable: algorithmic decomposition
    const char32_t s = c - 0xAC00;
    out.push_back(0x1100 + s / (21 * 28));
    out.push_back(0x1161 + (s % (21 * 28)) / 28);
    if (s % 28) out.push_back(0x11A7 + s % 28);
    return;
  }
  const auto* row = find_row(std::begin(kDecomp), std::end(kDecomp), c);
  if (!row) {
    out.push_back(c);
    return;
  }
  for (uint32_t k = 0; k < (*row)[1]; ++k) out.push_back((*row)[2 + k]);  // the table is already full NFD
}

}  // namespace relbert
