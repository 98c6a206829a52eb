"""The overlapped embed loop (relbert/runtime/embed_loop.py), run on CPU: same vectors as the simple loop,
batch plans by hand, errors from the helper thread, interrupts, a bounded queue."""
from __future__ import annotations

import random
import threading
import time

import numpy as np
import pytest
import torch

from relbert import RelBERT
from relbert.runtime.embed_loop import EmbedLoop, batch_rows, plan_batches

WORDS = ["paris", "france", "dog", "bark", "natural selection", "evolution", "a", "b", "washing machine", "laundry",
         "tokyo", "japan", "crème brûlée", "café"]


@pytest.fixture(scope="module")
def tiny(tiny_model_path):
    return RelBERT.from_pretrained(tiny_model_path, template="a", aggregation="mask", device="cpu")


def random_pairs(n, seed):
    rng = random.Random(seed)
    pairs = [(" ".join(rng.sample(WORDS, rng.randint(1, 3))), rng.choice(WORDS)) for _ in range(n)]
    return pairs + [("[MASK]", "france"), ("a [MASK] b", "[MASK]")]  # rows that pool two or three positions


def simple_loop(model, ids, offsets, batch_size, normalize=True):
    """The plain reference: length-sorted batches, one at a time, through ``runtime.run``."""
    order = np.argsort(np.diff(offsets), kind="stable")
    out = np.empty((len(offsets) - 1, model.hidden_size), np.float32)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        out[rows] = model.runtime.run(model.tokenizer.pad_rows(ids, offsets, rows), normalize=normalize)
    return out


def overlapped(model, ids, offsets, ranges, normalize=True, **kw):
    order = np.argsort(np.diff(offsets), kind="stable")
    out = np.full((len(offsets) - 1, model.hidden_size), np.nan, np.float32)

    def forward(a, b, c, one):
        return model.runtime(a, b, c, normalize=normalize, one_position=one)

    loop = EmbedLoop(lambda rows: model.tokenizer.pad_rows(ids, offsets, rows), forward, torch.device("cpu"),
                     overlap=True, **kw)
    loop.run(batch_rows(order, ranges), out)
    assert not loop.thread.is_alive()
    return out


def test_plan_batches_by_hand():
    lengths = np.array([3, 3, 5, 9, 9, 17])
    assert plan_batches(lengths, batch_size=4) == [(0, 4), (4, 6)]
    # widths rounded to 8: 8 8 8 16 16 24; budget 20 tokens: 2 rows of 8, then one row each
    # (the 24-wide row alone exceeds the budget and still gets its batch)
    assert plan_batches(lengths, token_budget=20, width_multiple=8) == [(0, 2), (2, 3), (3, 4), (4, 5), (5, 6)]
    assert plan_batches(lengths, token_budget=48, width_multiple=8) == [(0, 3), (3, 5), (5, 6)]
    assert plan_batches(lengths, token_budget=1000) == [(0, 6)]
    assert plan_batches(np.array([], dtype=np.int64), token_budget=8) == []
    with pytest.raises(ValueError):
        plan_batches(lengths, batch_size=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_overlapped_loop_equals_the_simple_loop(tiny, seed):
    pairs = random_pairs(150, seed)
    ids, offsets = tiny.tokenizer.encode_flat(pairs)
    rng = random.Random(seed)
    batch_size = rng.randint(1, 40)
    expected = simple_loop(tiny, ids, offsets, batch_size)
    ranges = plan_batches(np.sort(np.diff(offsets)), batch_size)
    got = overlapped(tiny, ids, offsets, ranges, depth=rng.randint(1, 4), gather_rows=rng.randint(1, 100))
    np.testing.assert_array_equal(got, expected)
    # and RelBERT.embed_prompts (the loop embed uses) gives the same rows
    from relbert.tokenization import Prompts

    np.testing.assert_array_equal(tiny.embed_prompts(Prompts(ids, offsets), batch_size=batch_size), expected)
    raw = overlapped(tiny, ids, offsets, ranges, normalize=False)
    np.testing.assert_array_equal(raw, simple_loop(tiny, ids, offsets, batch_size, normalize=False))


def test_two_mask_rows_take_the_full_forward(tiny):
    pairs = [("paris", "france"), ("[MASK]", "france")]
    ids, offsets = tiny.tokenizer.encode_flat(pairs)
    seen = []

    def forward(a, b, c, one):
        seen.append(one)
        return tiny.runtime(a, b, c, one_position=one)

    EmbedLoop(lambda rows: tiny.tokenizer.pad_rows(ids, offsets, rows), forward, "cpu", overlap=True).run(
        [np.array([0]), np.array([0, 1])], np.empty((2, tiny.hidden_size), np.float32))
    assert seen == [True, False]
    assert tiny.mask_shortcut is not None  # so the first batch really took the shortcut


def test_token_budget_and_padded_widths_give_the_same_vectors(tiny):
    pairs = random_pairs(120, 5)
    ids, offsets = tiny.tokenizer.encode_flat(pairs)
    expected = simple_loop(tiny, ids, offsets, 16)
    order = np.argsort(np.diff(offsets), kind="stable")
    ranges = plan_batches(np.diff(offsets)[order], None, token_budget=200, width_multiple=8)
    out = np.empty_like(expected)

    def prepare(rows):
        batch = tiny.tokenizer.pad_rows(ids, offsets, rows, width_multiple=8)
        assert batch["input_ids"].shape[1] % 8 == 0 or batch["input_ids"].shape[1] == tiny.max_length
        return batch

    EmbedLoop(prepare, lambda a, b, c, one: tiny.runtime(a, b, c, normalize=True, one_position=one),
              "cpu", overlap=True).run(batch_rows(order, ranges), out)
    np.testing.assert_allclose(out, expected, atol=2e-6)


def test_an_error_in_the_helper_is_raised_in_the_caller(tiny):
    def prepare(rows):
        if rows[0] == 3:
            raise ValueError("bad batch 3")
        return tiny.tokenizer.encode([("paris", "france")] * len(rows))

    loop = EmbedLoop(prepare, lambda a, b, c, one: tiny.runtime(a, b, c, one_position=one), "cpu",
                     overlap=True)
    with pytest.raises(ValueError, match="bad batch 3"):
        loop.run([np.array([i]) for i in range(10)], np.empty((10, tiny.hidden_size), np.float32))
    assert not loop.thread.is_alive()


def test_interrupt_stops_the_helper(tiny):
    prepared = []

    def prepare(rows):
        prepared.append(int(rows[0]))
        return tiny.tokenizer.encode([("paris", "france")] * len(rows))

    def forward(a, b, c, one):
        if len(forward.calls) == 2:
            raise KeyboardInterrupt
        forward.calls.append(1)
        return tiny.runtime(a, b, c, one_position=one)

    forward.calls = []
    loop = EmbedLoop(prepare, forward, "cpu", depth=2, overlap=True)
    with pytest.raises(KeyboardInterrupt):
        loop.run([np.array([i]) for i in range(1000)], np.empty((1000, tiny.hidden_size), np.float32))
    assert not loop.thread.is_alive()
    assert len(prepared) < 10  # it stopped instead of preparing the other batches


def test_the_queue_is_bounded(tiny):
    prepared = []
    release = threading.Event()

    def prepare(rows):
        prepared.append(int(rows[0]))
        return tiny.tokenizer.encode([("paris", "france")] * len(rows))

    def forward(a, b, c, one):
        release.wait(timeout=30)  # the encoder is slow: the helper runs ahead until the queue is full
        return tiny.runtime(a, b, c, one_position=one)

    loop = EmbedLoop(prepare, forward, "cpu", depth=3, overlap=True)
    out = np.empty((50, tiny.hidden_size), np.float32)
    runner = threading.Thread(target=loop.run, args=([np.array([i]) for i in range(50)], out))
    runner.start()
    time.sleep(1.0)
    ahead = len(prepared)
    release.set()
    runner.join(timeout=60)
    # one batch in the encoder, `depth` in the queue, one prepared and waiting to be queued
    assert 3 <= ahead <= 3 + 2
    assert len(prepared) == 50
    np.testing.assert_allclose(out, np.repeat(out[:1], 50, axis=0))
