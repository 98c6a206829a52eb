// Word tokenizers: a word (UTF-8) -> token ids, exactly as the Hugging Face tokenizer would
// tokenize that text alone (no special tokens). Two families: WordPiece (BERT) and byte-level
// BPE (GPT-2/RoBERTa).
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace relbert {

using Vocab = std::unordered_map<std::string, int32_t>;

class WordTokenizer {
 public:
  virtual ~WordTokenizer() = default;
  // Append the ids of `text` (UTF-8). Returns false for invalid UTF-8.
  virtual bool tokenize(const std::string& text, std::vector<int32_t>& out) const = 0;
};

struct BertNormalization {
  bool clean_text = true;
  bool handle_chinese_chars = true;
  bool strip_accents = true;
  bool lowercase = true;
};

// BERT normalizer + BERT pre-tokenizer (whitespace, isolated punctuation) + WordPiece.
class WordPiece : public WordTokenizer {
 public:
  WordPiece(Vocab vocab, int32_t unk_id, std::string continuing_prefix, size_t max_input_chars_per_word,
            BertNormalization normalization);
  bool tokenize(const std::string& text, std::vector<int32_t>& out) const override;
  // Normalized text (exposed for tests).
  std::u32string normalize(const std::u32string& text) const;

 private:
  void wordpiece(const std::u32string& word, std::vector<int32_t>& out) const;
  Vocab vocab_;
  int32_t unk_id_;
  std::string prefix_;
  size_t max_chars_;
  BertNormalization norm_;
};

// GPT-2 byte-level BPE: byte-to-unicode mapping, the GPT-2 pre-tokenization pattern, merges by rank.
class ByteLevelBPE : public WordTokenizer {
 public:
  ByteLevelBPE(Vocab vocab, const std::vector<std::pair<std::string, std::string>>& merges, bool add_prefix_space,
               int32_t unk_id, bool ignore_merges = false);
  bool tokenize(const std::string& text, std::vector<int32_t>& out) const override;
  // Pre-tokenization with the GPT-2 pattern (exposed for tests): pieces of the input.
  static std::vector<std::u32string> split(const std::u32string& text);

 private:
  void bpe(const std::string& piece_bytes, std::vector<int32_t>& out) const;
  Vocab vocab_;
  std::unordered_map<std::string, int32_t> ranks_;  // "left\x01right" -> merge rank
  std::string byte_to_unicode_[256];                // each byte as the UTF-8 of its mapped char
  bool add_prefix_space_;
  int32_t unk_id_;
  bool ignore_merges_;  // a piece found whole in the vocabulary is emitted as is
};

}  // namespace relbert
