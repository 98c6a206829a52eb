#include <climits>

#include "unicode.h"
#include "word_tokenizer.h"

namespace relbert {
namespace {

// GPT-2's reversible byte -> printable character mapping.
void build_byte_map(std::string (&table)[256]) {
  int extra = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    char32_t c = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + extra++);
    table[b].clear();
    utf8_append(c, table[b]);
  }
}

bool is_space(char32_t c) { return is_white_space(c); }

// Length of the GPT-2 pattern's match at position i (always >= 1 for i < n):
// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
size_t match_at(const std::u32string& s, size_t i) {
  const size_t n = s.size();
  if (s[i] == '\'' && i + 1 < n) {
    const char32_t a = s[i + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (i + 2 < n) {
      const char32_t b = s[i + 2];
      if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    }
  }
  const size_t j = (s[i] == ' ' && i + 1 < n) ? i + 1 : i;  // the optional leading space
  auto run = [&](auto pred) {
    size_t k = j;
    while (k < n && pred(s[k])) ++k;
    return k;
  };
  if (is_letter(s[j])) return run(is_letter) - i;
  if (is_number(s[j])) return run(is_number) - i;
  auto other = [](char32_t c) { return !is_space(c) && !is_letter(c) && !is_number(c); };
  if (other(s[j])) return run(other) - i;
  // Whitespace: \s+(?!\S) keeps the last space for the next token when a non-space follows.
  size_t k = i;
  while (k < n && is_space(s[k])) ++k;
  if (k == n) return k - i;
  if (k - i > 1) return k - 1 - i;
  return k - i;  // \s+
}

}  // namespace

ByteLevelBPE::ByteLevelBPE(Vocab vocab, const std::vector<std::pair<std::string, std::string>>& merges,
                           bool add_prefix_space, int32_t unk_id, bool ignore_merges)
    : vocab_(std::move(vocab)), add_prefix_space_(add_prefix_space), unk_id_(unk_id), ignore_merges_(ignore_merges) {
  build_byte_map(byte_to_unicode_);
  ranks_.reserve(merges.size());
  for (size_t r = 0; r < merges.size(); ++r) {
    ranks_.emplace(merges[r].first + '\x01' + merges[r].second, static_cast<int32_t>(r));
  }
}

std::vector<std::u32string> ByteLevelBPE::split(const std::u32string& text) {
  std::vector<std::u32string> pieces;
  for (size_t i = 0; i < text.size();) {
    const size_t len = match_at(text, i);
    pieces.emplace_back(text.substr(i, len));
    i += len;
  }
  return pieces;
}

bool ByteLevelBPE::tokenize(const std::string& text, std::vector<int32_t>& out) const {
  std::u32string chars;
  if (!utf8_decode(text, chars)) return false;
  if (add_prefix_space_ && (chars.empty() || chars[0] != ' ')) chars.insert(chars.begin(), U' ');
  for (const auto& piece : split(chars)) bpe(utf8_encode(piece), out);
  return true;
}

void ByteLevelBPE::bpe(const std::string& piece_bytes, std::vector<int32_t>& out) const {
  std::vector<std::string> symbols;
  symbols.reserve(piece_bytes.size());
  std::string whole;
  for (unsigned char b : piece_bytes) {
    symbols.push_back(byte_to_unicode_[b]);
    whole += byte_to_unicode_[b];
  }
  if (ignore_merges_) {
    auto it = vocab_.find(whole);
    if (it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  std::string key;
  while (symbols.size() > 1) {
    int32_t best = INT32_MAX;
    for (size_t k = 0; k + 1 < symbols.size(); ++k) {
      key.assign(symbols[k]).append(1, '\x01').append(symbols[k + 1]);
      auto it = ranks_.find(key);
      if (it != ranks_.end() && it->second < best) best = it->second;
    }
    if (best == INT32_MAX) break;
    std::vector<std::string> merged;
    merged.reserve(symbols.size());
    for (size_t k = 0; k < symbols.size();) {
      if (k + 1 < symbols.size()) {
        key.assign(symbols[k]).append(1, '\x01').append(symbols[k + 1]);
        auto it = ranks_.find(key);
        if (it != ranks_.end() && it->second == best) {
          merged.push_back(symbols[k] + symbols[k + 1]);
          k += 2;
          continue;
        }
      }
      merged.push_back(symbols[k]);
      ++k;
    }
    symbols.swap(merged);
  }
  for (const auto& symbol : symbols) {
    auto it = vocab_.find(symbol);
    if (it != vocab_.end()) {
      out.push_back(it->second);
    } else if (unk_id_ >= 0) {
      out.push_back(unk_id_);
    }
  }
}

}  // namespace relbert
