// C++ unit tests of the tokenizer core (run by ctest). Expected ids are worked out by hand from
// the tiny vocabularies below, following the WordPiece and GPT-2 BPE definitions.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "../pair_encoder.h"
#include "../unicode.h"
#include "../word_tokenizer.h"

using namespace relbert;

static int failures = 0;

#define CHECK(cond)                                                    \
  do {                                                                 \
    if (!(cond)) {                                                     \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                      \
    }                                                                  \
  } while (0)

static std::vector<int32_t> ids(const WordTokenizer& t, const std::string& s) {
  std::vector<int32_t> out;
  CHECK(t.tokenize(s, out));
  return out;
}

static void test_unicode() {
  std::u32string u;
  CHECK(utf8_decode("caf\xC3\xA9", u) && u.size() == 4 && u[3] == 0xE9);
  CHECK(utf8_encode(u) == "caf\xC3\xA9");
  CHECK(!utf8_decode("\xC3", u));  // truncated sequence
  CHECK(std::string(category(U'A')) == "Lu" && std::string(category(0x2019)) == "Pf");
  CHECK(is_bert_punctuation(U'$') && is_bert_punctuation(0x2019) && !is_bert_punctuation(U'a'));
  CHECK(is_white_space(0x3000) && !is_white_space(U'x') && is_cjk(0x6771));
  std::u32string lower;
  append_lower(0x130, lower);  // Turkish capital I with dot -> "i" + combining dot
  CHECK(lower == std::u32string({U'i', 0x307}));
  std::u32string nfd;
  append_nfd(0xE9, nfd);
  CHECK(nfd == std::u32string({U'e', 0x301}));
  nfd.clear();
  append_nfd(0xAC00, nfd);  // Hangul GA
  CHECK(nfd == std::u32string({0x1100, 0x1161}));
}

static void test_wordpiece() {
  Vocab v{{"[UNK]", 0}, {"un", 1}, {"##aff", 2}, {"##able", 3}, {"cafe", 4}, {",", 5}, {"x", 6}, {"東", 7}};
  WordPiece lower(v, 0, "##", 100, {true, true, true, true});
  CHECK((ids(lower, "Unaffable") == std::vector<int32_t>{1, 2, 3}));
  CHECK((ids(lower, "CAF\xC3\x89,x") == std::vector<int32_t>{4, 5, 6}));   // accent stripped, punctuation split
  CHECK((ids(lower, "unaffablez") == std::vector<int32_t>{0}));            // one unknown piece -> whole word [UNK]
  CHECK((ids(lower, "x\xE6\x9D\xB1x") == std::vector<int32_t>{6, 7, 6}));  // CJK character isolated
  WordPiece cased(v, 0, "##", 3, {true, true, false, false});
  CHECK((ids(cased, "Cafe") == std::vector<int32_t>{0}));                  // over 3 characters -> [UNK]
  CHECK((ids(cased, "x\x01x") == std::vector<int32_t>{0}));                // control char removed: "xx" unknown
}

static void test_bpe() {
  // Byte-level: 'a'->"a", ' '->"Ġ" (U+0120). Merges: a b -> ab, Ġ ab -> Ġab.
  Vocab v{{"a", 0}, {"b", 1}, {"ab", 2}, {"\xC4\xA0", 3}, {"\xC4\xA0" "ab", 4}, {"'", 5}, {"s", 6}, {"'s", 7}};
  std::vector<std::pair<std::string, std::string>> merges{{"a", "b"}, {"\xC4\xA0", "ab"}, {"'", "s"}};
  ByteLevelBPE bpe(v, merges, false, -1);
  CHECK((ids(bpe, "ab") == std::vector<int32_t>{2}));
  CHECK((ids(bpe, " ab") == std::vector<int32_t>{4}));
  CHECK((ids(bpe, "ab's") == std::vector<int32_t>{2, 7}));    // contraction is its own piece
  CHECK((ids(bpe, "ab  ab") == std::vector<int32_t>{2, 3, 4})); // \s+(?!\S) leaves one space to the word
  ByteLevelBPE prefixed(v, merges, true, -1);
  CHECK((ids(prefixed, "ab") == std::vector<int32_t>{4}));
  // it | 's | " " | " 12" | ab | !?   (the GPT-2 pattern, worked by hand)
  auto pieces = ByteLevelBPE::split(U"it's  12ab!?");
  CHECK((pieces == std::vector<std::u32string>{U"it", U"'s", U" ", U" 12", U"ab", U"!?"}));
}

static void test_pair_encoder() {
  Vocab v{{"[UNK]", 0}, {"[CLS]", 1}, {"[SEP]", 2}, {"[MASK]", 3}, {"dog", 4}, {"cat", 5}, {"is", 6}};
  auto wp = std::make_shared<WordPiece>(v, 0, "##", 100, BertNormalization{});
  // "[CLS] <subj> is [MASK] <obj> [SEP]"
  PairEncoder enc(wp, {{1}, {6, 3}, {2}}, {{0, " ", 0, U' '}, {1, " ", U' ', 0}}, {U"[mask]"}, 0, 3, kAverageNoMask);
  std::vector<int32_t> out;
  CHECK(enc.ids("dog", "cat", out) && (out == std::vector<int32_t>{1, 4, 6, 3, 5, 2}));
  CHECK(!enc.ids("dog", "x[MASK]", out));  // special-token text -> the caller's full path
  CHECK(!enc.ids(" dog", "cat", out));     // leading whitespace -> the caller's full path
  int64_t in[6], att[6], pool[6];
  const int32_t row[6] = {1, 4, 6, 3, 5, 2};
  enc.fill_row(row, 6, in, att, pool);
  CHECK(pool[3] == 0 && pool[0] == 1 && att[5] == 1 && in[1] == 4);

  // the word cache is bounded: it starts over when full, and ids stay the same
  enc.set_max_words(4);
  const char* words[] = {"dog", "cat", "is", "dogcat", "catdog", "isdog"};
  for (const char* head : words) {
    for (const char* tail : words) {
      std::vector<int32_t> pair;
      enc.ids(head, tail, pair);
      CHECK(enc.cache_size() <= 4);
    }
  }
  CHECK(enc.ids("dog", "cat", out) && (out == std::vector<int32_t>{1, 4, 6, 3, 5, 2}));
}

int main() {
  test_unicode();
  test_wordpiece();
  test_bpe();
  test_pair_encoder();
  if (failures) {
    std::fprintf(stderr, "%d check(s) failed\n", failures);
    return EXIT_FAILURE;
  }
  std::printf("all C++ core checks passed\n");
  return EXIT_SUCCESS;
}
