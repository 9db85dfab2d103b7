"""The fast paths compute the same function as the plain fp32 path.

- bf16 autocast vs fp32: same loss within 1 % on fixed inputs (every variant);
- `attention_backend` "matmul" vs "sdpa" (and "auto"): same logits and gradients within 1e-5;
- packed (padding-free) rows vs padded rows: the same per-example logits and the same loss
  (vanilla, synthesizer), for span-corrupted documents and for birthplace questions; the
  perceiver refuses packed rows; its down-projection, whose keys and values are computed from the
  first m inputs where nothing else can be attended, gives the outputs and gradients of the full one;
- the cheap dropout masks: Bernoulli(0.9) keep rate, unbiased scaling, seeded, independent;
- batched KV-cache greedy decoding equals one-question-at-a-time decoding and the original
  no-cache loop of `benchmarks/reference_mingpt.py`;
- the benchmark suite's `--quick` smoke run writes a report and plots.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from scripts import load_script  # noqa: E402

from hfmodels.char_gpt import CharGPTConfig, CharGPTForCausalLM, CharTokenizer  # noqa: E402
from hfmodels.char_gpt.kernels_char_gpt import QUERY_CHUNK, attend, dropout, dropout_scale, keep_mask  # noqa: E402
from hfmodels.data import BirthplaceCollator, SpanCorruptionCollator  # noqa: E402
from hfmodels.evaluation.birthplaces import greedy_decode  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_char_gpt import _reference_state  # noqa: E402
from reference_mingpt import ReferenceGPT, sample_greedy  # noqa: E402

VARIANTS = ("vanilla", "synthesizer", "perceiver")
CORPUS = (
    "Ada Lovelace was born in London and worked on the Analytical Engine.\n"
    "Alan Turing was born in Maida Vale, London.\n"
    "Grace Hopper was born in New York City; she wrote compilers.\n"
    "Where was Marie Curie born?\tWarsaw\n"
    "Niels Bohr, Emmy Noether and Al were born somewhere.\n"
)


def small_config(variant: str, **kwargs) -> CharGPTConfig:
    defaults = dict(
        vocab_size=64,
        block_size=48,
        n_layer=3,
        n_head=4,
        n_embd=64,
        attention_type=variant,
        bottleneck_dim=8,
    )
    defaults.update(kwargs)
    return CharGPTConfig(**defaults)


def model_for(variant: str, seed: int = 0, **kwargs) -> CharGPTForCausalLM:
    torch.manual_seed(seed)
    model = CharGPTForCausalLM(small_config(variant, **kwargs))
    # Random, non-trivial weights everywhere (the synthesizer's B starts near zero).
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


def fixed_batch(config: CharGPTConfig, batch: int = 4, seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    t = config.max_input_length
    ids = torch.randint(2, config.vocab_size, (batch, t), generator=g)
    lengths = torch.randint(t // 3, t + 1, (batch,), generator=g)
    pad = torch.arange(t)[None, :] >= lengths[:, None]
    ids = ids.masked_fill(pad, config.pad_token_id)
    return {"input_ids": ids, "labels": ids.clone()}


@pytest.mark.parametrize("variant", VARIANTS)
def test_bf16_autocast_matches_fp32_loss(variant):
    model = model_for(variant).eval()
    batch = fixed_batch(model.config)
    with torch.no_grad():
        fp32 = model(**batch).loss
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = model(**batch).loss
    assert torch.isfinite(bf16)
    assert abs(bf16.item() - fp32.item()) <= 1e-2 * abs(fp32.item()), (bf16.item(), fp32.item())


@pytest.mark.parametrize("variant", VARIANTS)
def test_matmul_and_sdpa_backends_compute_the_same_function(variant):
    outputs = {}
    for backend in ("sdpa", "matmul", "auto"):
        model = model_for(variant, attention_backend=backend).eval()
        batch = fixed_batch(model.config)
        out = model(**batch)
        out.loss.backward()
        grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
        outputs[backend] = (out.logits.detach(), out.loss.detach(), grads)
    for backend in ("matmul", "auto"):
        torch.testing.assert_close(outputs[backend][0], outputs["sdpa"][0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(outputs[backend][1], outputs["sdpa"][1], atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(outputs[backend][2], outputs["sdpa"][2], atol=1e-5, rtol=1e-4)
    # "auto" is the explicit-matmul path on CPU: bit-identical.
    assert torch.equal(outputs["auto"][0], outputs["matmul"][0])


def _packed_rows(examples: list[list[int]], width: int) -> tuple[torch.Tensor, torch.Tensor, list]:
    """Hand-packed rows (next-fit) with positions restarting at 0; also where each example went."""
    rows, pos_rows, where = [[]], [[]], []
    for ex in examples:
        if len(rows[-1]) + len(ex) > width:
            rows.append([])
            pos_rows.append([])
        where.append((len(rows) - 1, len(rows[-1])))
        rows[-1].extend(ex)
        pos_rows[-1].extend(range(len(ex)))
    t = max(len(r) for r in rows)
    ids = torch.zeros(len(rows), t, dtype=torch.long)
    pos = torch.zeros(len(rows), t, dtype=torch.long)
    for i, (r, p) in enumerate(zip(rows, pos_rows)):
        ids[i, : len(r)] = torch.tensor(r)
        pos[i, : len(p)] = torch.tensor(p)
        pos[i, len(p) :] = torch.arange(len(p), t).clamp(max=width - 1) if len(p) < t else pos[i, len(p) :]
    return ids, pos, where


@pytest.mark.parametrize("variant", ("vanilla", "synthesizer"))
def test_packed_rows_give_the_same_per_example_logits_and_loss(variant):
    model = model_for(variant).eval()
    width = model.config.max_input_length
    g = torch.Generator().manual_seed(3)
    examples = [
        torch.randint(2, 64, (int(n),), generator=g).tolist() for n in torch.randint(3, 20, (9,), generator=g)
    ]
    ids, pos, where = _packed_rows(examples, width)
    assert ids.shape[0] < len(examples)  # several examples share a row
    with torch.no_grad():
        packed_logits = model(input_ids=ids, position_ids=pos).logits
        for ex, (row, start) in zip(examples, where):
            alone = model(input_ids=torch.tensor([ex])).logits[0]
            torch.testing.assert_close(
                packed_logits[row, start : start + len(ex)], alone, atol=1e-5, rtol=1e-4
            )
        # Loss: the mean over the same targets (the cross-example target is dropped).
        padded = torch.zeros(len(examples), max(map(len, examples)), dtype=torch.long)
        for i, ex in enumerate(examples):
            padded[i, : len(ex)] = torch.tensor(ex)
        loss_padded = model(input_ids=padded, labels=padded).loss
        loss_packed = model(input_ids=ids, position_ids=pos, labels=ids).loss
    torch.testing.assert_close(loss_packed, loss_padded, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("variant", ("vanilla", "synthesizer"))
def test_collator_packed_batches_give_the_padded_loss(variant):
    tokenizer = CharTokenizer.from_corpus(CORPUS)
    docs = [{"text": line} for line in CORPUS.splitlines()] * 4
    block = 48
    padded = SpanCorruptionCollator(tokenizer, block, pack=False, seed=7)(docs)
    packed = SpanCorruptionCollator(tokenizer, block, pack=True, seed=7)(docs)
    assert packed["input_ids"].numel() < padded["input_ids"].numel()
    model = model_for(variant, vocab_size=len(tokenizer), block_size=block).eval()
    if variant == "synthesizer":  # its B has block_size - 1 columns; the collator's rows fit
        assert padded["input_ids"].shape[1] <= model.config.max_input_length
    with torch.no_grad():
        loss_padded = model(**padded).loss
        loss_packed = model(**packed).loss
    torch.testing.assert_close(loss_packed, loss_padded, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("variant", ("vanilla", "synthesizer"))
def test_packed_question_batches_give_the_padded_loss(variant):
    """Birthplace finetuning batches: packing the questions keeps every labelled target (none in the
    question) and the loss."""
    tokenizer = CharTokenizer.from_corpus(CORPUS)
    people = [
        ("Ada Lovelace", "London"),
        ("Alan Turing", "Maida Vale"),
        ("Grace Hopper", "New York City"),
        ("Marie Curie", "Warsaw"),
        ("Al", "London"),
        ("Niels Bohr", "Warsaw"),
        ("Emmy Noether", "New York"),
        ("Ada Lovelace, Alan Turing and Grace Hopper", "New York City"),  # one long row: packing pays
    ]
    questions = [{"question": f"Where was {name} born?", "place": place} for name, place in people]
    block = 128
    padded = BirthplaceCollator(tokenizer, block)(questions)
    packed = BirthplaceCollator(tokenizer, block, pack=True)(questions)
    assert "position_ids" in packed and packed["input_ids"].numel() < padded["input_ids"].numel()
    assert int((packed["position_ids"] == 0).sum()) == len(questions)  # no example is lost or split
    targets = sorted(padded["labels"][padded["labels"] != -100].tolist())
    assert sorted(packed["labels"][packed["labels"] != -100].tolist()) == targets
    # the original's targets: the ⁇ that ends the question, the place and the closing ⁇
    assert len(targets) == sum(len(place) + 2 for _, place in people)
    model = model_for(variant, vocab_size=len(tokenizer), block_size=block).eval()
    with torch.no_grad():
        loss_padded = model(**padded).loss
        loss_packed = model(**packed).loss
    torch.testing.assert_close(loss_packed, loss_padded, atol=1e-5, rtol=1e-5)


def test_perceiver_refuses_packed_rows():
    model = model_for("perceiver").eval()
    ids = torch.randint(2, 64, (1, 10))
    pos = torch.tensor([[0, 1, 2, 3, 0, 1, 2, 0, 1, 2]])
    with pytest.raises(ValueError, match="packed"):
        model(input_ids=ids, position_ids=pos)


@pytest.mark.parametrize("t", [5, 8, 30])
def test_perceiver_down_projection_from_the_first_m_inputs_gives_the_full_outputs_and_gradients(t):
    """Without a cache, padding mask or given positions the perceiver computes the bottleneck's keys
    and values from the first m inputs only (the others are masked out); explicit positions take
    the path over every input. Same logits, loss and gradients."""
    model = model_for("perceiver").eval()  # m = 8; eval: no dropout, gradients still flow
    batch = fixed_batch(model.config, seed=t)
    batch = {k: v[:, :t] for k, v in batch.items()}
    results = []
    for extra in ({}, {"position_ids": torch.arange(t)[None]}):
        model.zero_grad()
        out = model(**batch, **extra)
        out.loss.backward()
        results.append((out.logits.detach(), [p.grad.clone() for p in model.parameters()]))
    (logits, grads), (logits_full, grads_full) = results
    torch.testing.assert_close(logits, logits_full, atol=1e-5, rtol=1e-5)
    for g, g_full in zip(grads, grads_full, strict=True):
        torch.testing.assert_close(g, g_full, atol=1e-5, rtol=1e-5)
    assert any(g.abs().sum() > 0 for g in grads)


def test_keep_mask_is_bernoulli_0_9():
    torch.manual_seed(0)
    n = 4_000_000
    mask = keep_mask((n,), 0.1, torch.device("cpu"))
    assert mask.dtype == torch.bool and mask.shape == (n,)
    expected = round(0.9 * 32768) / 32768
    assert abs(expected - 0.9) < 2e-5
    rate = mask.double().mean().item()
    assert abs(rate - expected) < 5 * math.sqrt(0.09 / n), rate
    # Neighbouring elements come from the same 64-bit word: they must still be independent.
    pairs = mask[0::2].double() * mask[1::2].double()
    assert abs(pairs.mean().item() - expected**2) < 5 * math.sqrt(0.16 / (n // 2))
    quads = mask.view(-1, 4).all(dim=1).double().mean().item()
    assert abs(quads - expected**4) < 5 * math.sqrt(0.25 / (n // 4))
    # Seeded like every other torch random op; different draws differ.
    torch.manual_seed(1)
    a = keep_mask((1000,), 0.1, torch.device("cpu"))
    b = keep_mask((1000,), 0.1, torch.device("cpu"))
    torch.manual_seed(1)
    assert torch.equal(a, keep_mask((1000,), 0.1, torch.device("cpu")))
    assert not torch.equal(a, b)


def test_fast_dropout_is_unbiased_and_switchable():
    torch.manual_seed(0)
    x = torch.randn(256, 1024)
    y = dropout(x, 0.1, True, True)
    kept = y != 0
    torch.testing.assert_close(y[kept], x[kept] / 0.9)
    assert abs(kept.double().mean().item() - 0.9) < 0.005
    ones = torch.ones(1000, 1000)
    assert abs(dropout(ones, 0.1, True, True).mean().item() - 1.0) < 0.01
    assert dropout(x, 0.1, False, True) is x  # eval: identity
    torch.manual_seed(5)
    slow = dropout(x, 0.1, True, False)
    torch.manual_seed(5)
    torch.testing.assert_close(slow, F.dropout(x, 0.1, training=True))
    # Gradients flow through the kept elements only, scaled like the forward.
    xg = x.clone().requires_grad_()
    out = dropout(xg, 0.1, True, True)
    out.sum().backward()
    torch.testing.assert_close(xg.grad, (out != 0).float() / 0.9)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
@pytest.mark.parametrize("p", [0.1, 0.3, 0.05, 0.5])
def test_dropout_scale_is_the_keep_mask_as_numbers(dtype, p):
    # Built from bit patterns for 16-bit floats: the same draw as keep_mask, times 1/(1-p) in dtype.
    torch.manual_seed(7)
    scale = dropout_scale((300, 101), p, torch.device("cpu"), dtype)
    torch.manual_seed(7)
    keep = keep_mask((300, 101), p, torch.device("cpu"))
    assert scale.dtype == dtype and scale.shape == (300, 101)
    expected = torch.zeros((300, 101), dtype=dtype).masked_fill_(keep, 1.0 / (1.0 - p))
    assert torch.equal(scale, expected)
    assert 0 < keep.sum() < keep.numel()


def _attend_with_masked_fill(q, k, v, mask):
    att = torch.matmul(q * (1.0 / math.sqrt(q.shape[-1])), k.transpose(-2, -1)).masked_fill(
        ~mask, float("-inf")
    )
    return torch.matmul(torch.softmax(att, dim=-1), v)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("t", [16, 9])
def test_additive_mask_gives_masked_fill_outputs_and_gradients(dtype, t):
    # attend() adds the mask as a 0/-inf bias in place; outputs and gradients are masked_fill's,
    # exactly at 16 keys; at 9 it pads the keys to 16 (masked out, zero values): the same up to the
    # order of the softmax's sum.
    torch.manual_seed(0)
    b, h, d = 3, 2, 8
    mask = (torch.rand(b, 1, t, t) < 0.6) | torch.eye(t, dtype=torch.bool)  # every row attends somewhere
    inputs = [torch.randn(b, h, t, d, dtype=dtype, requires_grad=True) for _ in range(3)]
    out = attend(*inputs, mask, False, 0.0, 1.0 / math.sqrt(d), "matmul")
    grads = torch.autograd.grad(out.float().square().sum(), inputs)
    ref_inputs = [x.detach().clone().requires_grad_() for x in inputs]
    ref = _attend_with_masked_fill(*ref_inputs, mask)
    ref_grads = torch.autograd.grad(ref.float().square().sum(), ref_inputs)
    tol = {} if t % 16 else dict(atol=0, rtol=0)
    torch.testing.assert_close(out, ref, **tol)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, **tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("segments", [False, True])
@pytest.mark.parametrize("t", [150, 600])
def test_causal_attention_in_query_chunks_gives_the_full_outputs_and_gradients(dtype, segments, t):
    # Causal attention over more than QUERY_CHUNK queries is computed chunk by chunk (150 rows: 64 + 64
    # + 22; 600 rows: at most QUERY_CHUNKS chunks, 7 x 80 + 40), each chunk against the keys up to its
    # last row; outputs and gradients are those of the whole masked score matrix (causal, and
    # block-diagonal for packed rows).
    torch.manual_seed(0)
    b, h, d = 2, 2, 8
    assert t > 2 * QUERY_CHUNK
    causal = torch.ones(t, t, dtype=torch.bool).tril()
    mask = None
    if segments:
        cuts = [[0.25, 0.7], [0.6]]
        seg = torch.stack([(torch.arange(t)[:, None] >= torch.tensor(c)[None, :] * t).sum(-1) for c in cuts])
        mask = (causal & (seg[:, :, None] == seg[:, None, :]))[:, None]
    inputs = [torch.randn(b, h, t, d, dtype=dtype, requires_grad=True) for _ in range(3)]
    out = attend(*inputs, mask, True, 0.0, 1.0 / math.sqrt(d), "matmul")
    grads = torch.autograd.grad(out.float().square().sum(), inputs)
    ref_inputs = [x.detach().clone().requires_grad_() for x in inputs]
    ref = _attend_with_masked_fill(*ref_inputs, causal if mask is None else mask)
    ref_grads = torch.autograd.grad(ref.float().square().sum(), ref_inputs)
    torch.testing.assert_close(out, ref)
    for g, r in zip(grads, ref_grads):
        # bf16: the keys' and values' gradients are summed over the chunks in another order.
        tol = {} if dtype == torch.float32 else dict(atol=2**-8 * r.abs().max().item(), rtol=1.6e-2)
        torch.testing.assert_close(g, r, **tol)


@pytest.mark.parametrize("variant", ["vanilla", "synthesizer"])
def test_long_rows_give_the_same_outputs_on_the_matmul_and_sdpa_backends(variant):
    # Rows longer than QUERY_CHUNK take the chunked causal path on CPU (matmul backend); SDPA
    # computes the whole score matrix. Packed rows (block-diagonal masks) and right-padded rows.
    block_size = 2 * QUERY_CHUNK + 40
    t = block_size - 1
    torch.manual_seed(1)
    ids = torch.randint(4, 20, (2, t))
    packed = {"position_ids": torch.cat([torch.arange(90), torch.arange(t - 90)]).expand(2, t)}
    padded = {"attention_mask": (torch.arange(t)[None, :] < torch.tensor([[t], [t - 30]])).long()}
    for inputs in (packed, padded):
        out = {}
        for backend in ("matmul", "sdpa"):
            model = model_for(variant, attention_backend=backend, block_size=block_size).eval()
            out[backend] = model(input_ids=ids, labels=ids, **inputs)
        torch.testing.assert_close(out["matmul"].logits, out["sdpa"].logits, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(out["matmul"].loss, out["sdpa"].loss, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("variant", VARIANTS)
def test_dropout_is_still_applied_in_training(variant):
    model = model_for(variant).train()
    batch = fixed_batch(model.config)
    torch.manual_seed(0)
    a = model(**batch).logits
    b = model(**batch).logits
    model.eval()
    c = model(**batch).logits
    assert not torch.allclose(a, b)
    assert not torch.allclose(a, c)


def _questions() -> list[str]:
    names = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Marie Curie", "Niels Bohr", "Emmy Noether", "Al"]
    return [f"Where was {n} born?" for n in names]


@pytest.mark.parametrize("variant", VARIANTS)
def test_batched_decoding_equals_one_at_a_time(variant):
    tokenizer = CharTokenizer.from_corpus(CORPUS)
    model = model_for(variant, vocab_size=len(tokenizer), block_size=64).eval()
    questions = _questions()
    batched = greedy_decode(model, tokenizer, questions, batch_size=4, bf16=False, max_new_tokens=12)
    single = [
        greedy_decode(model, tokenizer, [q], batch_size=1, bf16=False, max_new_tokens=12)[0]
        for q in questions
    ]
    assert [p.text for p in batched] == [p.text for p in single]
    assert any(p.text for p in batched)  # not a trivially empty comparison


def test_batched_decoding_equals_the_original_no_cache_loop():
    tokenizer = CharTokenizer.from_corpus(CORPUS)
    torch.manual_seed(0)
    cfg = CharGPTConfig(vocab_size=len(tokenizer), block_size=64, n_layer=2, n_head=4, n_embd=64)
    model = CharGPTForCausalLM(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    model.eval()
    ref = ReferenceGPT(vocab_size=len(tokenizer), block_size=64, n_layer=2, n_head=4, n_embd=64)
    ref.load_state_dict(_reference_state(model))
    ref.eval()
    questions = _questions()
    ours = greedy_decode(model, tokenizer, questions, batch_size=8, bf16=False, max_new_tokens=12)
    mask_id = tokenizer.mask_token_id
    for q, pred in zip(questions, ours):
        prompt = tokenizer.encode_chars(q + "⁇")
        out = sample_greedy(ref, prompt, steps=12)
        end = out.index(mask_id) if mask_id in out else len(out)
        assert pred.text == "".join(tokenizer.id_to_char[i] for i in out[:end])


def test_benchmark_quick_run_writes_report(tmp_path):
    main = _load_benchmark("run").main
    data_dir = REPO.parent / "shared" / "data"
    sections = (
        "perceiver" if not (data_dir / "cs224n-a5" / "wiki.txt").exists() else "pretrain,decode,perceiver"
    )
    out = tmp_path / "BENCHMARKS.md"
    assert main(["--quick", "--data_dir", str(data_dir), "--output", str(out), "--sections", sections]) == 0
    text = out.read_text()
    assert "Vanilla vs perceiver" in text and "| 128 |" in text
    assert (tmp_path / "bench_results" / "perceiver_scaling.png").stat().st_size > 1000
    if "pretrain" in sections:
        assert "original course code (minGPT)" in text
        assert "Interleaved (the target's measurement)" in text and "× interleaved" in text
        assert (tmp_path / "bench_results" / "pretraining.png").exists()
    if "decode" in sections:
        assert "## Decoding the birthplace questions" in text and "| dev | 8 |" in text
        assert (
            "The other variants, randomly initialised the same way" in text and "perceiver (m = 64)" in text
        )
    # --report_only rewrites the same report from the saved results.json, measuring nothing
    measured = text
    out.write_text("stale")
    assert (
        main(["--report_only", "--output", str(out), "--results_dir", str(tmp_path / "bench_results")]) == 0
    )
    assert out.read_text() == measured
    with pytest.raises(SystemExit, match="does not exist"):
        main(["--report_only", "--output", str(out), "--results_dir", str(tmp_path / "nothing")])
    # A CPU without native bf16 gets a section saying so, with the measured cost of emulation.
    results = tmp_path / "bench_results" / "results.json"
    for native in (True, False):
        res = json.loads(results.read_text())
        res["native_bf16"] = native
        results.write_text(json.dumps(res))
        main(["--report_only", "--output", str(out), "--results_dir", str(tmp_path / "bench_results")])
        text = out.read_text()
        assert ("## This CPU has no native bf16" in text) is (not native)
        assert f"took {res['bf16_matmul_slowdown']:.1f}× the time" in text or native
    # A run on a GPU: the device is named, the perceiver table adds the peak allocated memory, and
    # the CPU roofline is not applied to it even where the host CPU is the AVX512-BF16 one.
    res = json.loads(results.read_text())
    res.update(
        device="cuda",
        native_bf16=True,
        machine="NVIDIA H200 (CUDA 13.0; host CPU: AMD EPYC (AVX512-BF16, no AMX), 16 cores), torch x",
    )
    for i, r in enumerate(res["perceiver"]):
        r["peak_allocated_mib"] = 1000.0 + i
    results.write_text(json.dumps(res))
    main(["--report_only", "--output", str(out), "--results_dir", str(tmp_path / "bench_results")])
    text = out.read_text()
    assert (
        "- Machine: NVIDIA H200 (CUDA 13.0; host CPU" in text and "## This CPU has no native bf16" not in text
    )
    assert "ms (MiB / peak MiB)" in text and " / 1000)" in text
    if "pretrain" in sections:
        assert "What the target asks of the hardware" not in text


def test_interleaved_times_alternate_the_steps_and_reverse_the_order():
    bench = _load_benchmark("bench_char_gpt")
    calls = []
    steps = {"a": lambda i: calls.append(("a", i)), "b": lambda i: calls.append(("b", i))}
    times = bench.interleaved_times(steps, rounds=3, per_turn=1)
    # one warm-up call each, then a b / b a / a b
    assert [name for name, _ in calls] == ["a", "b", "a", "b", "b", "a", "a", "b"]
    assert [i for _, i in calls][:2] == [0, 0]
    assert sorted(times) == ["a", "b"] and all(len(t) == 3 and min(t) >= 0 for t in times.values())
    calls.clear()
    times = bench.interleaved_times(steps, rounds=2, per_turn=2)
    assert [name for name, _ in calls] == ["a", "b", "a", "a", "b", "b", "b", "b", "a", "a"]
    assert all(len(t) == 2 for t in times.values())  # one timed call per turn


def test_benchmark_device_argument():
    bench_run = _load_benchmark("run")
    assert bench_run.parse_args(["--device", "cpu"]).device == "cpu"
    assert bench_run.parse_args([]).device == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            bench_run.parse_args(["--device", "cuda"])
    assert "CUDA" not in bench_run.machine_line(torch.device("cpu"))


def test_step_gflop_counts_the_spec_model():
    bench_run = _load_benchmark("run")
    # one row of one token: 6 FLOP per weight of the 4 blocks' Linear layers and the head, plus the
    # 1 x 1 attention products (2 per head dimension, forward: Q K^T and A V) times 3
    weights = 4 * (4 * 256 * 256 + 2 * 256 * 1024) + 256 * 256
    assert bench_run.step_gflop("1x1") * 1e9 == pytest.approx(6 * weights + 3 * 4 * 2 * 2 * 256)
    assert bench_run.step_gflop("2x8") > 16 * bench_run.step_gflop("1x1")  # attention grows as T^2


def _load_benchmark(name: str):
    return load_script(f"benchmarks/{name}.py", f"hfmodels_benchmarks_{name}")
