#include "pair_encoder.h"

#include "unicode.h"

namespace relbert {
namespace {

bool is_alnum(char32_t c) { return is_letter(c) || is_number(c); }

// Whether every supported pre-tokenizer splits between `left` and `right` (0 = string edge):
// whitespace always; punctuation next to a letter or digit (mirrors tokenization.py).
bool boundary_splits(char32_t left, char32_t right) {
  if (left == 0 || right == 0 || is_white_space(left) || is_white_space(right)) return true;
  return (is_alnum(left) && is_bert_punctuation(right)) || (is_bert_punctuation(left) && is_alnum(right));
}

}  // namespace

PairEncoder::PairEncoder(std::shared_ptr<WordTokenizer> tokenizer, std::vector<std::vector<int32_t>> runs,
                         std::vector<Slot> slots, std::vector<std::u32string> special_texts, int32_t pad_id,
                         int32_t mask_id, int aggregation)
    : tokenizer_(std::move(tokenizer)), runs_(std::move(runs)), slots_(std::move(slots)),
      special_texts_(std::move(special_texts)), pad_id_(pad_id), mask_id_(mask_id), aggregation_(aggregation) {
  for (size_t k = 0; k < slots_.size(); ++k) {
    size_t cls = k;
    for (size_t j = 0; j < k; ++j) {
      const Slot &a = slots_[j], &b = slots_[k];
      if (a.word == b.word && a.prefix == b.prefix && a.left == b.left && a.right == b.right) {
        cls = slot_class_[j];
        break;
      }
    }
    slot_class_.push_back(cls);
  }
  cache_.resize(slots_.size());
}

bool PairEncoder::word_ok(const std::u32string& word, const Slot& slot) const {
  if (word.empty() || is_white_space(word.front()) || is_white_space(word.back())) return false;
  if (!boundary_splits(slot.left, word.front()) || !boundary_splits(word.back(), slot.right)) return false;
  std::u32string lower;
  for (char32_t c : word) append_lower(c, lower);
  for (const auto& special : special_texts_) {
    if (!special.empty() && lower.find(special) != std::u32string::npos) return false;
  }
  return true;
}

bool PairEncoder::ids(const std::string& head, const std::string& tail, std::vector<int32_t>& out) {
  std::lock_guard<std::mutex> lock(mutex_);
  out.clear();
  return ids_locked(std::string_view(head), std::string_view(tail), out);
}

void PairEncoder::ids_batch(const std::vector<std::string_view>& heads, const std::vector<std::string_view>& tails,
                            std::vector<int32_t>& flat, std::vector<int64_t>& offsets, std::vector<uint8_t>& ok) {
  std::lock_guard<std::mutex> lock(mutex_);
  const size_t n = heads.size();
  flat.clear();
  offsets.assign(1, 0);
  ok.assign(n, 1);
  for (size_t i = 0; i < n; ++i) {
    const size_t start = flat.size();
    if (!ids_locked(heads[i], tails[i], flat)) {
      flat.resize(start);
      ok[i] = 0;
    }
    offsets.push_back(static_cast<int64_t>(flat.size()));
  }
}

// Appends the pair's ids to `out`; on false, `out` holds a partial row the caller discards.
bool PairEncoder::ids_locked(std::string_view head, std::string_view tail, std::vector<int32_t>& out) {
  if (words_.size() + slots_.size() > max_words_) {  // full: start over (keys view words_, so both go)
    for (auto& cache : cache_) cache.clear();
    words_.clear();
  }
  out.insert(out.end(), runs_[0].begin(), runs_[0].end());
  for (size_t k = 0; k < slots_.size(); ++k) {
    const Slot& slot = slots_[k];
    const std::string_view word = slot.word ? tail : head;
    auto& cache = cache_[slot_class_[k]];
    auto it = cache.find(word);
    if (it == cache.end()) {
      Entry entry{false, {}};
      const std::string& owned = words_.emplace_back(word);
      std::u32string chars;
      if (utf8_decode(owned, chars) && word_ok(chars, slot)) {
        entry.ok = tokenizer_->tokenize(slot.prefix + owned, entry.ids);
      }
      it = cache.emplace(std::string_view(owned), std::move(entry)).first;
    }
    if (!it->second.ok) return false;
    out.insert(out.end(), it->second.ids.begin(), it->second.ids.end());
    out.insert(out.end(), runs_[k + 1].begin(), runs_[k + 1].end());
  }
  return true;
}

void PairEncoder::fill_row(const int32_t* ids, int64_t length, int64_t* input_ids, int64_t* attention,
                           int64_t* pool) const {
  for (int64_t j = 0; j < length; ++j) {
    const int32_t id = ids[j];
    input_ids[j] = id;
    attention[j] = 1;
    bool selected;
    switch (aggregation_) {
      case kMask: selected = id == mask_id_; break;
      case kAverage: selected = id != pad_id_; break;
      default: selected = id != pad_id_ && id != mask_id_;
    }
    pool[j] = selected ? 1 : 0;
  }
}

void PairEncoder::set_max_words(size_t max_words) {
  std::lock_guard<std::mutex> lock(mutex_);
  max_words_ = max_words;
}

size_t PairEncoder::max_words() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return max_words_;
}

size_t PairEncoder::cache_size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t n = 0;
  for (const auto& c : cache_) n += c.size();
  return n;
}

}  // namespace relbert
