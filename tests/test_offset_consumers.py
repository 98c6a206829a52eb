"""Every place a vector goes takes the relation + offset vectors unchanged: relbert-embed (streamed,
resumed, word2vec), provenance, search and index (mixed kinds refused), plot, and the evaluators
(analogy, mapping, classification), each against the library's own vectors."""
from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from click.testing import CliRunner

from helpers.cli_checks import one_error_line
from relbert import RelBERT
from relbert.cli import embed, evaluate, search

PAIRS = [("paris", "france"), ("tokyo", "japan"), ("dog", "bark"), ("cat", "meow"), ("paris", "france"),
         ("rome", "italy"), ("cow", "moo"), ("dog", "dog")]
WEIGHT = 0.4


@pytest.fixture(scope="module")
def weighted(tiny_model_path):
    return RelBERT.from_pretrained(tiny_model_path, device="cpu", precision="fp32", offset_weight=WEIGHT)


@pytest.fixture()
def collection(tmp_path, tiny_model_path):
    tsv = tmp_path / "c.tsv"
    tsv.write_text("".join(f"{h}\t{t}\n" for h, t in PAIRS), encoding="utf-8")
    out = tmp_path / "c.npy"
    result = CliRunner().invoke(embed, [str(tsv), "-o", str(out), "--model", tiny_model_path, "-q",
                                        "--offset-weight", str(WEIGHT), "--rows-per-chunk", "3"])
    assert result.exit_code == 0, result.output
    return tsv, out


def test_embed_streams_the_wider_vectors_and_records_the_weight(collection, weighted):
    tsv, out = collection
    vectors = np.load(out)
    assert vectors.shape == (len(PAIRS), 2 * weighted.hidden_size)
    np.testing.assert_allclose(vectors, weighted.embed(PAIRS), atol=1e-6)
    made = json.loads(out.with_name("c.npy.provenance.json").read_text())
    assert made["offset_weight"] == WEIGHT and made["dimension"] == 2 * weighted.hidden_size


def test_interrupted_run_resumes_to_the_same_file_and_refuses_another_weight(tmp_path, tiny_model_path, monkeypatch):
    from relbert.embedding import run as embed_run

    tsv = tmp_path / "many.tsv"
    words = [f"w{i}" for i in range(40)]
    tsv.write_text("".join(f"{words[i % 40]}\t{words[(7 * i + 3) % 40]}x\n" for i in range(120)), encoding="utf-8")
    common = ["--model", tiny_model_path, "-q", "--rows-per-chunk", "30", "--offset-weight", str(WEIGHT)]
    full, out = tmp_path / "full.npy", tmp_path / "out.npy"
    assert CliRunner().invoke(embed, [str(tsv), "-o", str(full), *common]).exit_code == 0
    original = embed_run.EmbedRun._record_done

    def crash(self, index):
        original(self, index)
        if index == 1:
            raise RuntimeError("simulated crash")

    monkeypatch.setattr(embed_run.EmbedRun, "_record_done", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        CliRunner().invoke(embed, [str(tsv), "-o", str(out), *common], catch_exceptions=False)
    monkeypatch.setattr(embed_run.EmbedRun, "_record_done", original)
    other = CliRunner().invoke(embed, [str(tsv), "-o", str(out), *common[:-1], "0.9", "--resume"])
    assert other.exit_code == 2 and "changed" in other.output
    resumed = CliRunner().invoke(embed, [str(tsv), "-o", str(out), *common, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert out.read_bytes() == full.read_bytes()


def test_word2vec_export_has_the_wider_rows(tmp_path, tiny_model_path, weighted):
    gensim = pytest.importorskip("gensim")
    tsv = tmp_path / "w.tsv"
    tsv.write_text("paris\tfrance\ndog\tbark\n", encoding="utf-8")
    out = tmp_path / "w.txt"
    result = CliRunner().invoke(embed, [str(tsv), "-o", str(out), "--model", tiny_model_path, "-q", "--format",
                                        "word2vec", "--offset-weight", str(WEIGHT)])
    assert result.exit_code == 0, result.output
    kv = gensim.models.KeyedVectors.load_word2vec_format(str(out))
    assert kv.vector_size == 2 * weighted.hidden_size
    np.testing.assert_allclose(kv["dog__bark"], weighted.embed(("dog", "bark")), atol=1e-5)


def test_search_embeds_queries_with_the_collections_weight(collection, weighted, tiny_model_path):
    tsv, out = collection
    args = [str(out), "--pairs", str(tsv), "--query", "lima\\tperu", "-k", "3", "-q"]
    result = CliRunner().invoke(search, args)  # the query is not in the collection: embedded at the stored weight
    assert result.exit_code == 0, result.output
    query = weighted.embed(("lima", "peru"))
    vectors = np.load(out)
    best = np.argsort(-(vectors @ query), kind="stable")
    first = result.output.splitlines()[0].split("\t")
    assert tuple(first[3:5]) == PAIRS[best[0]] and float(first[2]) == pytest.approx(float(vectors[best[0]] @ query),
                                                                                      abs=1e-4)
    line = one_error_line(CliRunner().invoke(search, args + ["--model", tiny_model_path, "--offset-weight", "0"]))
    assert "dimensional" in line
    line = one_error_line(CliRunner().invoke(search, args + ["--model", tiny_model_path, "--offset-weight", "0.9"]))
    assert "offset weight 0.4" in line


@pytest.mark.skipif(importlib.util.find_spec("faiss") is None, reason="faiss-cpu is not installed")
def test_index_of_wider_vectors_and_a_mixed_collection_refused(collection, tmp_path, tiny_model_path):
    from relbert.cli import index

    tsv, out = collection
    built = tmp_path / "c.index"
    result = CliRunner().invoke(index, [str(out), "-o", str(built), "--kind", "flat"])
    assert result.exit_code == 0, result.output
    hits = CliRunner().invoke(search, [str(out), "--pairs", str(tsv), "--query", "dog\\tbark", "-k", "2", "-q",
                                       "--index", str(built)])
    exact = CliRunner().invoke(search, [str(out), "--pairs", str(tsv), "--query", "dog\\tbark", "-k", "2", "-q"])
    assert hits.exit_code == 0 and hits.output == exact.output
    # the same pairs embedded at another weight (same width): the index does not mix with them
    other = tmp_path / "o.npy"
    assert CliRunner().invoke(embed, [str(tsv), "-o", str(other), "--model", tiny_model_path, "-q",
                                      "--offset-weight", "0.9"]).exit_code == 0
    line = one_error_line(CliRunner().invoke(search, [str(other), "--pairs", str(tsv), "--query", "dog\\tbark",
                                                      "--index", str(built)]))
    assert "offset_weight" in line and "do not mix" in line


def test_plot_draws_the_wider_vectors(collection, tmp_path):
    from relbert.cli import plot

    tsv, out = collection
    page = tmp_path / "map.html"
    result = CliRunner().invoke(plot, [str(out), "--pairs", str(tsv), "-o", str(page), "--method", "pca"])
    assert result.exit_code == 0, result.output
    assert page.stat().st_size > 0


def _analogy_file(tmp_path):
    questions = [{"stem": ["paris", "france"], "answer": 1, "choice": [["dog", "bark"], ["rome", "italy"],
                                                                       ["cow", "moo"]]},
                 {"stem": ["dog", "bark"], "answer": 0, "choice": [["cat", "meow"], ["tokyo", "japan"]]},
                 {"stem": ["tokyo", "japan"], "answer": 2, "choice": [["cow", "moo"], ["cat", "meow"],
                                                                      ["paris", "france"]]}]
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in questions), encoding="utf-8")
    return path, questions


def test_analogy_eval_scores_the_combined_cosine(tmp_path, tiny_model_path, weighted):
    path, questions = _analogy_file(tmp_path)
    report = tmp_path / "r.json"
    result = CliRunner().invoke(evaluate, ["analogy", "-d", str(path), "-m", tiny_model_path, "--offset-weight",
                                           str(WEIGHT), "-o", str(report), "-q"])
    assert result.exit_code == 0, result.output
    got = json.loads(report.read_text())
    assert got["offset_weight"] == WEIGHT
    correct = 0
    for q in questions:  # by hand: the combined cosine of the two parts, each from its own model
        stem = weighted.embed(tuple(q["stem"]))
        scores = [float(stem @ weighted.embed(tuple(c))) for c in q["choice"]]
        correct += int(np.argmax(scores) == q["answer"])
    assert got["datasets"]["q"]["accuracy"] == pytest.approx(100 * correct / len(questions))


def test_choose_offset_scores_the_grid_like_the_evaluator_and_saves_the_weight(tmp_path, tiny_model_path):
    from relbert.evaluation.analogy import evaluate_analogy
    from relbert.data.analogy import read_analogy_file

    path, _ = _analogy_file(tmp_path)
    (tmp_path / "analogy" / "toy").mkdir(parents=True)
    (tmp_path / "analogy" / "toy" / "valid.jsonl").write_text(path.read_text())
    report, saved = tmp_path / "grid.json", tmp_path / "chosen"
    result = CliRunner().invoke(evaluate, ["choose-offset", "-m", tiny_model_path, "--data-dir", str(tmp_path),
                                           "--validation", "toy", "--grid", "0,0.4,2", "--report", str(report),
                                           "-o", str(saved), "-q"])
    assert result.exit_code == 0, result.output
    grid = json.loads(report.read_text())
    dataset = read_analogy_file(path)
    for row in grid["grid"]:
        model = RelBERT.from_pretrained(tiny_model_path, device="cpu", precision="fp32",
                                        offset_weight=row["offset_weight"])
        assert row["datasets"]["toy/valid"] == pytest.approx(evaluate_analogy(model, dataset)["accuracy"])
    chosen = grid["offset_weight"]
    assert "chosen offset weight" in result.output
    assert RelBERT.from_pretrained(str(saved), device="cpu").offset_weight == chosen
    assert "--grid" in one_error_line(CliRunner().invoke(evaluate, ["choose-offset", "--grid", "0.3,x"]))
    assert "include 0" in one_error_line(CliRunner().invoke(evaluate, ["choose-offset", "--grid", "0.3"]))


def test_mapping_and_classification_take_the_wider_vectors(weighted, eval_data):
    from relbert.data.lexical import read_lexical_dataset
    from relbert.data.mapping import resolve_mapping
    from relbert.evaluation.classification import evaluate_classification
    from relbert.evaluation.mapping import evaluate_mapping

    problems = resolve_mapping("relation_mapping", eval_data)[:2]
    scores = evaluate_mapping(weighted, problems)
    assert 0 <= scores["accuracy"] <= 100
    splits = read_lexical_dataset(eval_data / "lexical_relation" / "BLESS")
    small = {name: type(s)(s.pairs[:80], s.labels[:80]) for name, s in splits.items()}
    seen = []
    real = weighted.embed

    def spy(pairs, **kwargs):
        out = real(pairs, **kwargs)
        seen.append(out.shape[1])
        return out

    weighted.embed = spy
    try:
        result = evaluate_classification(weighted, small, grid=[{"hidden_layer_sizes": (16,)}])
    finally:
        del weighted.embed
    assert seen and set(seen) == {2 * weighted.hidden_size}
    assert 0 <= result["f1_macro"] <= 100
