// The fused path: a template split once into fixed token runs and word slots; each distinct
// word tokenized once per slot context and cached; a batch of pairs -> padded arrays in one pass.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "word_tokenizer.h"

namespace relbert {

struct Slot {
  int word;            // 0 = head (<subj>), 1 = tail (<obj>)
  std::string prefix;  // text put before the word when tokenizing it (" " where the template's space belongs to it)
  char32_t left;       // template character before the slot (0 = start of the prompt)
  char32_t right;      // template character after the slot (0 = end of the prompt)
};

enum Aggregation { kMask = 0, kAverage = 1, kAverageNoMask = 2 };

class PairEncoder {
 public:
  PairEncoder(std::shared_ptr<WordTokenizer> tokenizer, std::vector<std::vector<int32_t>> runs, std::vector<Slot> slots,
              std::vector<std::u32string> special_texts, int32_t pad_id, int32_t mask_id, int aggregation);

  // Token ids of one pair, or false when the fast path cannot guarantee exact ids (the caller
  // then tokenizes the full prompt). Thread-safe.
  bool ids(const std::string& head, const std::string& tail, std::vector<int32_t>& out);
  // Ids of many pairs into one flat buffer: pair i is flat[offsets[i] .. offsets[i+1]), and
  // ok[i] == 0 marks pairs the caller must tokenize as full prompts. Thread-safe.
  void ids_batch(const std::vector<std::string_view>& heads, const std::vector<std::string_view>& tails,
                 std::vector<int32_t>& flat, std::vector<int64_t>& offsets, std::vector<uint8_t>& ok);
  // Fill row-major arrays (rows x width, pre-filled by the caller with pad / 0) for given ids.
  void fill_row(const int32_t* ids, int64_t length, int64_t* input_ids, int64_t* attention, int64_t* pool) const;
  size_t cache_size() const;
  // Most distinct words cached (over all slots); when full, the cache starts over. Bounds memory
  // for any vocabulary (a stream of distinct words would otherwise grow it without limit).
  void set_max_words(size_t max_words);
  size_t max_words() const;

 private:
  bool word_ok(const std::u32string& word, const Slot& slot) const;
  bool ids_locked(std::string_view head, std::string_view tail, std::vector<int32_t>& out);
  std::shared_ptr<WordTokenizer> tokenizer_;
  std::vector<std::vector<int32_t>> runs_;
  std::vector<Slot> slots_;
  std::vector<std::u32string> special_texts_;  // lowercased added-token texts
  int32_t pad_id_, mask_id_;
  int aggregation_;
  // Per slot class (slots with the same word, prefix and neighbours share one): word -> ids,
  // or ok=false for words needing the full path. Keys view strings owned by words_.
  struct Entry {
    bool ok;
    std::vector<int32_t> ids;
  };
  std::vector<size_t> slot_class_;
  std::vector<std::unordered_map<std::string_view, Entry>> cache_;
  std::deque<std::string> words_;
  size_t max_words_ = 1 << 17;
  mutable std::mutex mutex_;
};

}  // namespace relbert
