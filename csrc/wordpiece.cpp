#include "unicode.h"
#include "word_tokenizer.h"

namespace relbert {

WordPiece::WordPiece(Vocab vocab, int32_t unk_id, std::string continuing_prefix, size_t max_input_chars_per_word,
                     BertNormalization normalization)
    : vocab_(std::move(vocab)), unk_id_(unk_id), prefix_(std::move(continuing_prefix)),
      max_chars_(max_input_chars_per_word), norm_(normalization) {}

std::u32string WordPiece::normalize(const std::u32string& text) const {
  std::u32string a;
  a.reserve(text.size() + 8);
  for (char32_t c : text) {
    if (norm_.clean_text) {
      if (c == 0 || c == 0xFFFD || is_bert_control(c)) continue;
      if (is_bert_whitespace(c)) c = ' ';
    }
    if (norm_.handle_chinese_chars && is_cjk(c)) {
      a.push_back(' ');
      a.push_back(c);
      a.push_back(' ');
    } else {
      a.push_back(c);
    }
  }
  if (norm_.strip_accents) {
    std::u32string b;
    b.reserve(a.size());
    for (char32_t c : a) append_nfd(c, b);
    a.clear();
    for (char32_t c : b)
      if (!is_nonspacing_mark(c)) a.push_back(c);
  }
  if (norm_.lowercase) {
    std::u32string b;
    b.reserve(a.size());
    for (char32_t c : a) append_lower(c, b);
    a.swap(b);
  }
  return a;
}

bool WordPiece::tokenize(const std::string& text, std::vector<int32_t>& out) const {
  std::u32string chars;
  if (!utf8_decode(text, chars)) return false;
  const std::u32string normalized = normalize(chars);
  // BERT pre-tokenizer: split on whitespace, every punctuation character is its own word.
  std::u32string word;
  for (char32_t c : normalized) {
    if (is_white_space(c)) {
      if (!word.empty()) wordpiece(word, out), word.clear();
    } else if (is_bert_punctuation(c)) {
      if (!word.empty()) wordpiece(word, out), word.clear();
      wordpiece(std::u32string(1, c), out);
    } else {
      word.push_back(c);
    }
  }
  if (!word.empty()) wordpiece(word, out);
  return true;
}

void WordPiece::wordpiece(const std::u32string& word, std::vector<int32_t>& out) const {
  if (word.size() > max_chars_) {
    out.push_back(unk_id_);
    return;
  }
  const size_t before = out.size();
  size_t start = 0;
  std::string candidate;
  while (start < word.size()) {
    size_t end = word.size();
    int32_t found = -1;
    while (start < end) {
      candidate.clear();
      if (start > 0) candidate = prefix_;
      for (size_t k = start; k < end; ++k) utf8_append(word[k], candidate);
      auto it = vocab_.find(candidate);
      if (it != vocab_.end()) {
        found = it->second;
        break;
      }
      --end;
    }
    if (found < 0) {  // no piece matches: the whole word is unknown
      out.resize(before);
      out.push_back(unk_id_);
      return;
    }
    out.push_back(found);
    start = end;
  }
}

}  // namespace relbert
