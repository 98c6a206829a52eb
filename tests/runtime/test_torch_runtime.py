"""relbert/runtime/torch_runtime.py and the runtime interface (relbert/runtime/interface.py): which positions each
pooling takes (by hand), the one routing rule of the mask shortcut (by hand, and against the
full forward on both runtimes), and what every runtime provides."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from relbert import RelBERT
from relbert.runtime.torch_runtime import Pooling, TorchEncoder, pools_one_position

# a word that contains the mask token's text makes its row pool two positions
MIXED = [("paris", "france"), ("[MASK]", "france"), ("dog", "bark"), ("a [MASK] b", "[MASK]"), ("tokyo", "japan")]


@pytest.fixture(scope="module")
def tiny(tiny_model_path):
    return RelBERT.from_pretrained(tiny_model_path, template="a", aggregation="mask", device="cpu", precision="fp32")


def test_pooled_positions_by_hand():
    ids = np.array([[1, 7, 4, 9, 2, 0], [1, 4, 4, 2, 0, 0]])  # 4 = mask, 0 = pad
    attention = (ids != 0).astype(np.int64)
    expected = {
        "mask": [[0, 0, 1, 0, 0, 0], [0, 1, 1, 0, 0, 0]],
        "average": [[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 0, 0]],
        "average_no_mask": [[1, 1, 0, 1, 1, 0], [1, 0, 0, 1, 0, 0]],
    }
    for aggregation, want in expected.items():
        got = Pooling(aggregation, mask_token_id=4, pad_token_id=0).positions(ids, attention)
        np.testing.assert_array_equal(got, np.array(want), err_msg=aggregation)


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_the_routing_rule_by_hand(kind):
    def mask(rows):
        array = np.array(rows)
        return array if kind == "numpy" else torch.from_numpy(array)

    assert pools_one_position(mask([[0, 1, 0], [1, 0, 0]]))
    assert not pools_one_position(mask([[0, 1, 0], [1, 1, 0]]))  # a row with two mask positions
    assert not pools_one_position(mask([[0, 1, 0], [0, 0, 0]]))  # a row with none


def test_a_batch_with_a_two_mask_row_runs_the_full_forward_for_every_row(tiny):
    """One path per batch: with a two-mask row every row gets the full forward's masked sum
    (the paper's pooling of both positions); a batch of one-mask rows takes the shortcut."""
    assert tiny.mask_shortcut is not None
    full = TorchEncoder(tiny.encoder, None, mode="full")
    short = TorchEncoder(tiny.encoder, tiny.mask_shortcut, mode="shortcut")
    mixed = tiny.tokenizer.encode(MIXED)
    np.testing.assert_array_equal(tiny.runtime.run(mixed), full.run(mixed))
    single = tiny.tokenizer.encode([p for p in MIXED if "[MASK]" not in p[0] + p[1]])
    np.testing.assert_array_equal(tiny.runtime.run(single), short.run(single))
    np.testing.assert_allclose(short.run(single), full.run(single), rtol=1e-4, atol=1e-4)  # the same vectors


def test_both_runtimes_route_the_same_batches_the_same_way(tiny_model_path, tiny):
    onnx = RelBERT.from_pretrained(tiny_model_path, template="a", aggregation="mask", device="cpu", runtime="onnx")
    assert onnx.mask_shortcut is not None
    for pairs in (MIXED, MIXED[:1] + MIXED[2:3]):
        np.testing.assert_allclose(onnx.embed(pairs, batch_size=len(pairs)), tiny.embed(pairs, batch_size=len(pairs)),
                                   atol=2e-5)
    mixed = tiny.tokenizer.encode(MIXED)
    np.testing.assert_array_equal(onnx.runtime.run(mixed), onnx.runtime._run(onnx.runtime.full, mixed))


def test_every_runtime_provides_the_interface(tiny_model_path, tiny):
    onnx = RelBERT.from_pretrained(tiny_model_path, template="a", aggregation="mask", device="cpu", runtime="onnx")
    batch = tiny.tokenizer.encode(MIXED)
    tensors = tuple(torch.from_numpy(np.ascontiguousarray(batch[k])) for k in ("input_ids", "attention_mask", "pool_mask"))
    for model, workers, batch_size in ((tiny, 1, 64), (onnx, torch.get_num_threads(), 32)):
        runtime = model.runtime
        assert runtime.workers == workers and runtime.default_batch_size(model.device) == batch_size
        assert model.default_batch_size == batch_size
        with torch.inference_mode():  # called, torch keeps gradients (the trainer calls it too)
            called = runtime(*tensors, normalize=True)
        assert isinstance(called, torch.Tensor) and called.dtype == torch.float32
        np.testing.assert_allclose(called.numpy(), runtime.run(batch, normalize=True), atol=1e-6)
    assert TorchEncoder.default_batch_size(torch.device("cuda")) is None  # CUDA fills a token budget
    with pytest.raises(AttributeError, match="fixed at export"):
        onnx.mask_shortcut = None
