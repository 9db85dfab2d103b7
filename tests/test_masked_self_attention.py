"""The hand-written backward of MaskedSelfAttention (and its lean variant) against autograd."""

import pytest
import torch

from hfmodels.from_scratch import MaskedSelfAttention, masked_self_attention, reference_masked_self_attention


def _inputs(b, t, d, dk, dv, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    make = lambda *s: torch.randn(*s, generator=g, dtype=dtype).requires_grad_()  # noqa: E731
    return make(b, t, d), make(d, dk), make(d, dk), make(d, dv)


def _padding(b, t, lengths):
    return torch.arange(t).unsqueeze(0) >= torch.tensor(lengths).unsqueeze(1)


@pytest.mark.parametrize("lean", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_gradcheck_float64(lean, padded):
    x, wq, wk, wv = _inputs(2, 6, 5, 4, 3, torch.float64, seed=0)
    mask = _padding(2, 6, [6, 4]) if padded else None
    fn = lambda *a: masked_self_attention(*a, key_padding_mask=mask, lean=lean, block_size=4)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, wq, wk, wv), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("lean", [False, True])
@pytest.mark.parametrize(
    "shape", [(1, 1, 3, 2, 2), (3, 17, 8, 5, 7), (4, 64, 16, 16, 16), (2, 130, 12, 6, 9)]
)
def test_gradients_equal_autograd_float32(lean, shape):
    b, t, d, dk, dv = shape
    x, wq, wk, wv = _inputs(b, t, d, dk, dv, torch.float32, seed=sum(shape))
    mask = _padding(b, t, [max(1, t - i) for i in range(b)])
    grad_out = torch.randn(b, t, dv)
    ours = masked_self_attention(x, wq, wk, wv, key_padding_mask=mask, lean=lean, block_size=32)
    g_ours = torch.autograd.grad(ours, (x, wq, wk, wv), grad_out)
    ref = reference_masked_self_attention(x, wq, wk, wv, key_padding_mask=mask)
    g_ref = torch.autograd.grad(ref, (x, wq, wk, wv), grad_out)
    assert (ours - ref).abs().max() < 1e-5
    for mine, theirs, name in zip(g_ours, g_ref, ["dX", "dW_q", "dW_k", "dW_v"]):
        scale = theirs.abs().max().clamp_min(1.0)
        assert (mine - theirs).abs().max() / scale < 1e-5, name


def test_weight_gradients_are_summed_over_the_batch():
    x, wq, wk, wv = _inputs(3, 5, 4, 4, 4, torch.float64, seed=3)
    total = torch.autograd.grad(masked_self_attention(x, wq, wk, wv).sum(), wq)[0]
    parts = sum(
        torch.autograd.grad(masked_self_attention(x[i : i + 1], wq, wk, wv).sum(), wq)[0] for i in range(3)
    )
    assert torch.allclose(total, parts)


def test_output_is_causal():
    layer = MaskedSelfAttention(6, 4, 5)
    x = torch.randn(1, 8, 6)
    changed = x.clone()
    changed[0, 5:] += 10.0
    assert torch.allclose(layer(x)[0, :5], layer(changed)[0, :5])
    assert not torch.allclose(layer(x)[0, 5:], layer(changed)[0, 5:])


def test_padding_at_position_zero_is_refused():
    layer = MaskedSelfAttention(4, 4, 4)
    with pytest.raises(ValueError, match="position 0 is padding"):
        layer(
            torch.randn(2, 3, 4), key_padding_mask=torch.tensor([[False, False, True], [True, False, False]])
        )
