// pybind11 module relbert._C: the compiled backend of relbert.PairTokenizer.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>

#include "pair_encoder.h"
#include "unicode.h"
#include "word_tokenizer.h"

namespace py = pybind11;
using namespace relbert;

namespace {

std::vector<std::u32string> to_u32(const std::vector<std::string>& texts) {
  std::vector<std::u32string> out;
  for (const auto& t : texts) {
    std::u32string u;
    utf8_decode(t, u);
    out.push_back(u);
  }
  return out;
}

char32_t first_char(const std::string& s) {
  std::u32string u;
  return (utf8_decode(s, u) && !u.empty()) ? u[0] : 0;
}

// Python's str.isspace() over the whole word (an empty word counts as blank).
bool blank(std::string_view word) {
  for (char ch : word) {  // fast path: any ASCII non-space byte
    if (static_cast<unsigned char>(ch) < 0x80 && ch != ' ' && !(ch >= 0x09 && ch <= 0x0D) && !(ch >= 0x1C && ch <= 0x1F))
      return false;
  }
  std::u32string u;
  utf8_decode(std::string(word), u);
  for (char32_t c : u) {
    if (!is_white_space(c) && !(c >= 0x1C && c <= 0x1F)) return false;
  }
  return true;
}

// Ids of every pair: the fast path in C++ without the GIL, then `fallback(head, tail)` for the
// pairs it declined (words that touch the template or contain special-token text).
void all_ids(PairEncoder& enc, const py::list& pairs, const py::function& fallback, std::vector<int32_t>& flat,
             std::vector<int64_t>& offsets) {
  const size_t n = pairs.size();
  std::vector<std::string_view> heads(n), tails(n);
  for (size_t i = 0; i < n; ++i) {
    py::handle item = pairs[i];
    if (py::isinstance<py::str>(item) || !py::isinstance<py::sequence>(item) || py::len(item) != 2) {
      throw py::value_error("a word pair must be two strings (head, tail), got " + py::repr(item).cast<std::string>());
    }
    py::sequence pair = py::reinterpret_borrow<py::sequence>(item);
    if (!py::isinstance<py::str>(pair[0]) || !py::isinstance<py::str>(pair[1])) {
      throw py::value_error("a word pair must be two strings (head, tail), got " + py::repr(item).cast<std::string>());
    }
    // Views of the str objects' own UTF-8 buffers: they live as long as `pairs`.
    Py_ssize_t size = 0;
    const char* data = PyUnicode_AsUTF8AndSize(pair[0].ptr(), &size);
    if (!data) throw py::error_already_set();
    heads[i] = std::string_view(data, static_cast<size_t>(size));
    data = PyUnicode_AsUTF8AndSize(pair[1].ptr(), &size);
    if (!data) throw py::error_already_set();
    tails[i] = std::string_view(data, static_cast<size_t>(size));
    if (blank(heads[i]) || blank(tails[i])) {
      throw py::value_error("empty word in pair " + py::repr(item).cast<std::string>());
    }
  }
  std::vector<uint8_t> ok;
  {
    py::gil_scoped_release release;
    enc.ids_batch(heads, tails, flat, offsets, ok);
  }
  if (std::all_of(ok.begin(), ok.end(), [](uint8_t v) { return v != 0; })) return;
  std::vector<int32_t> merged;
  std::vector<int64_t> merged_offsets(1, 0);
  merged.reserve(flat.size());
  for (size_t i = 0; i < n; ++i) {
    if (ok[i]) {
      merged.insert(merged.end(), flat.begin() + offsets[i], flat.begin() + offsets[i + 1]);
    } else {
      auto ids = fallback(std::string(heads[i]), std::string(tails[i])).cast<std::vector<int32_t>>();
      merged.insert(merged.end(), ids.begin(), ids.end());
    }
    merged_offsets.push_back(static_cast<int64_t>(merged.size()));
  }
  flat.swap(merged);
  offsets.swap(merged_offsets);
}

py::array_t<int64_t> lengths(PairEncoder& enc, const py::list& pairs, const py::function& fallback) {
  std::vector<int32_t> flat;
  std::vector<int64_t> offsets;
  all_ids(enc, pairs, fallback, flat, offsets);
  py::array_t<int64_t> out(static_cast<py::ssize_t>(pairs.size()));
  auto* p = out.mutable_data();
  for (size_t i = 0; i < pairs.size(); ++i) p[i] = offsets[i + 1] - offsets[i];
  return out;
}

// Every pair's ids in one flat int32 array: pair i is flat[offsets[i] .. offsets[i+1]).
py::tuple flat_ids(PairEncoder& enc, const py::list& pairs, const py::function& fallback) {
  std::vector<int32_t> flat;
  std::vector<int64_t> offsets;
  all_ids(enc, pairs, fallback, flat, offsets);
  py::array_t<int32_t> ids(static_cast<py::ssize_t>(flat.size()));
  std::copy(flat.begin(), flat.end(), ids.mutable_data());
  py::array_t<int64_t> offs(static_cast<py::ssize_t>(offsets.size()));
  std::copy(offsets.begin(), offsets.end(), offs.mutable_data());
  return py::make_tuple(ids, offs);
}

py::dict encode(PairEncoder& enc, const py::list& pairs, const py::function& fallback, int32_t pad_id) {
  std::vector<int32_t> flat;
  std::vector<int64_t> offsets;
  all_ids(enc, pairs, fallback, flat, offsets);
  const auto n = static_cast<py::ssize_t>(pairs.size());
  int64_t width = 0;
  for (py::ssize_t i = 0; i < n; ++i) width = std::max(width, offsets[i + 1] - offsets[i]);
  py::array_t<int64_t> input_ids({n, static_cast<py::ssize_t>(width)});
  py::array_t<int64_t> attention({n, static_cast<py::ssize_t>(width)});
  py::array_t<int64_t> pool({n, static_cast<py::ssize_t>(width)});
  py::array_t<int64_t> lens(n);
  int64_t* ids_p = input_ids.mutable_data();
  int64_t* att_p = attention.mutable_data();
  int64_t* pool_p = pool.mutable_data();
  int64_t* len_p = lens.mutable_data();
  {
    py::gil_scoped_release release;
    std::fill(ids_p, ids_p + n * width, static_cast<int64_t>(pad_id));
    std::fill(att_p, att_p + n * width, 0);
    std::fill(pool_p, pool_p + n * width, 0);
    for (py::ssize_t i = 0; i < n; ++i) {
      enc.fill_row(flat.data() + offsets[i], offsets[i + 1] - offsets[i], ids_p + i * width, att_p + i * width,
                   pool_p + i * width);
      len_p[i] = offsets[i + 1] - offsets[i];
    }
  }
  py::dict out;
  out["input_ids"] = input_ids;
  out["attention_mask"] = attention;
  out["pool_mask"] = pool;
  out["lengths"] = lens;
  return out;
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "relbert's compiled fused template tokenizer (WordPiece and byte-level BPE)";

  py::class_<WordTokenizer, std::shared_ptr<WordTokenizer>>(m, "WordTokenizer")
      .def("tokenize", [](const WordTokenizer& t, const std::string& text) {
        std::vector<int32_t> out;
        if (!t.tokenize(text, out)) throw py::value_error("invalid UTF-8");
        return out;
      });

  py::class_<WordPiece, WordTokenizer, std::shared_ptr<WordPiece>>(m, "WordPiece")
      .def(py::init([](Vocab vocab, int32_t unk_id, std::string prefix, size_t max_chars, bool clean_text,
                       bool chinese, bool strip_accents, bool lowercase) {
             return std::make_shared<WordPiece>(std::move(vocab), unk_id, std::move(prefix), max_chars,
                                                BertNormalization{clean_text, chinese, strip_accents, lowercase});
           }),
           py::arg("vocab"), py::arg("unk_id"), py::arg("continuing_subword_prefix"), py::arg("max_input_chars_per_word"),
           py::arg("clean_text"), py::arg("handle_chinese_chars"), py::arg("strip_accents"), py::arg("lowercase"));

  py::class_<ByteLevelBPE, WordTokenizer, std::shared_ptr<ByteLevelBPE>>(m, "ByteLevelBPE")
      .def(py::init<Vocab, const std::vector<std::pair<std::string, std::string>>&, bool, int32_t, bool>(),
           py::arg("vocab"), py::arg("merges"), py::arg("add_prefix_space"), py::arg("unk_id"),
           py::arg("ignore_merges") = false)
      .def_static("split", [](const std::string& text) {
        std::u32string u;
        if (!utf8_decode(text, u)) throw py::value_error("invalid UTF-8");
        std::vector<std::string> out;
        for (const auto& piece : ByteLevelBPE::split(u)) out.push_back(utf8_encode(piece));
        return out;
      });

  py::class_<PairEncoder>(m, "PairEncoder")
      .def(py::init([](std::shared_ptr<WordTokenizer> tok, std::vector<std::vector<int32_t>> runs,
                       const std::vector<std::tuple<int, std::string, std::string, std::string>>& slots,
                       const std::vector<std::string>& special_texts, int32_t pad_id, int32_t mask_id, int aggregation) {
             std::vector<Slot> s;
             for (const auto& [word, prefix, left, right] : slots) s.push_back({word, prefix, first_char(left), first_char(right)});
             return std::make_unique<PairEncoder>(std::move(tok), std::move(runs), std::move(s), to_u32(special_texts),
                                                  pad_id, mask_id, aggregation);
           }),
           py::arg("tokenizer"), py::arg("runs"), py::arg("slots"), py::arg("special_texts"), py::arg("pad_id"),
           py::arg("mask_id"), py::arg("aggregation"))
      .def("lengths", &lengths, py::arg("pairs"), py::arg("fallback"))
      .def("encode", &encode, py::arg("pairs"), py::arg("fallback"), py::arg("pad_id"))
      .def("flat_ids", &flat_ids, py::arg("pairs"), py::arg("fallback"))
      .def("cache_size", &PairEncoder::cache_size)
      .def_property("max_words", &PairEncoder::max_words, &PairEncoder::set_max_words);
}
