"""Benchmarks of the character GPT: training throughput, decoding, perceiver scaling.

Every timing is the median of `repeats` runs after `warmup` untimed ones, in this process, so the
ratios in BENCHMARKS.md compare paths measured side by side under the same conditions. Every
function takes the `device` to measure on (the CPU by default; on a GPU each timed run ends with
`torch.cuda.synchronize()`).
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from hfmodels.char_gpt import CharGPTConfig, CharGPTForCausalLM, CharTokenizer
from hfmodels.data import (
    BirthplaceCollator,
    SpanCorruptionCollator,
    build_char_tokenizer,
    load_birthplaces,
    load_wiki_corpus,
)
from hfmodels.evaluation.birthplaces import greedy_decode
from hfmodels.training.precision import native_bf16

try:  # benchmarks/ is run as a script directory
    from reference_mingpt import ReferenceGPT, reference_pair, sample_greedy, train_step
except ImportError:  # imported as a package (tests)
    from benchmarks.reference_mingpt import ReferenceGPT, reference_pair, sample_greedy, train_step


CPU = torch.device("cpu")


def synchronize(device: torch.device = CPU) -> None:
    """Wait for the work queued on `device` (a no-op on the CPU, which runs it eagerly)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(
    fn: Callable[[int], object], repeats: int, warmup: int = 1, device: torch.device = CPU
) -> list[float]:
    """Wall-clock seconds of `fn(i)` for `repeats` runs after `warmup` untimed runs, the work
    queued on `device` included."""
    for i in range(warmup):
        fn(i)
    times = []
    for i in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn(warmup + i)
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times


def autocast(bf16: bool, device: torch.device = CPU):
    """bf16 autocast on `device` when `bf16`, else a no-op context."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def to_device(batches: list[dict], device: torch.device) -> list[dict]:
    """`batches` with every tensor moved to `device`."""
    return [{k: v.to(device) for k, v in b.items()} for b in batches]


class CharGPTData:
    """The study's tokenizer, corpus and birthplace splits, loaded once."""

    def __init__(self, data_dir: str | Path):
        self.tokenizer: CharTokenizer = build_char_tokenizer(data_dir)
        self.wiki = load_wiki_corpus(data_dir, self.tokenizer)
        self.birth = load_birthplaces(data_dir, self.tokenizer)
        self.vocab_size = len(self.tokenizer)

    def wiki_batches(self, n: int, batch_size: int, pack: bool, pad_to_block: bool, seed: int = 0):
        """`n` span-corruption batches of the collator, from a fixed shuffle of the corpus."""
        collator = SpanCorruptionCollator(
            self.tokenizer, 128, pack=pack, pad_to_block=pad_to_block, seed=seed
        )
        g = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(self.wiki), generator=g).tolist()
        batches = []
        for i in range(n):
            rows = [self.wiki[order[(i * batch_size + j) % len(order)]] for j in range(batch_size)]
            batches.append(collator(rows))
        return batches

    def birth_batches(self, n: int, batch_size: int, pad_to_block: bool, pack: bool = False):
        """`n` finetuning batches of [`BirthplaceCollator`] from the training split."""
        collator = BirthplaceCollator(self.tokenizer, 128, pad_to_block=pad_to_block, pack=pack)
        train = self.birth["train"]
        batches = []
        for i in range(n):
            rows = [train[(i * batch_size + j) % len(train)] for j in range(batch_size)]
            batches.append(collator(rows))
        return batches


# Paths of the training-step benchmark. "original" is our model run the way the course ran it
# (fp32, padded block-size rows, explicit-matmul attention, torch dropout, plain AdamW), so each
# optimisation can be switched on one at a time.
PATHS = {
    "original-style": dict(
        bf16=False, pack=False, pad_to_block=True, backend="matmul", fast_dropout=False, fused=False
    ),
    "+ bf16 autocast": dict(
        bf16=True, pack=False, pad_to_block=True, backend="matmul", fast_dropout=False, fused=False
    ),
    "+ cheap dropout masks": dict(
        bf16=True, pack=False, pad_to_block=True, backend="matmul", fast_dropout=True, fused=False
    ),
    "+ fused AdamW": dict(
        bf16=True, pack=False, pad_to_block=True, backend="matmul", fast_dropout=True, fused=True
    ),
    "+ packed rows (fast path)": dict(
        bf16=True, pack=True, pad_to_block=False, backend="matmul", fast_dropout=True, fused=True
    ),
    "fast path with SDPA": dict(
        bf16=True, pack=True, pad_to_block=False, backend="sdpa", fast_dropout=True, fused=True
    ),
    "fast path in fp32": dict(
        bf16=False, pack=True, pad_to_block=False, backend="matmul", fast_dropout=True, fused=True
    ),
}


def _optimizer(model: torch.nn.Module, fused: bool, lr: float = 6e-3) -> torch.optim.AdamW:
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "wte" not in n and "wpe" not in n]
    other = [
        p for n, p in model.named_parameters() if not (p.dim() >= 2 and "wte" not in n and "wpe" not in n)
    ]
    groups = [{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), fused=fused or None)


def _non_pad_targets(batch: dict) -> int:
    labels = batch["labels"]
    return int(((labels != -100) & (labels != 0)).sum())


def model_step_fn(
    model: CharGPTForCausalLM,
    batches: list[dict],
    bf16: bool,
    fused: bool,
    lr: float = 6e-3,
    device: torch.device = CPU,
):
    """A full training step (forward, backward, clip 1.0, AdamW at constant `lr`) on `batches[i % len]`,
    with the model moved to `device` (the batches must be there already)."""
    model.to(device)
    optimizer = _optimizer(model, fused, lr)
    model.train()

    def step(i: int) -> float:
        batch = batches[i % len(batches)]
        with autocast(bf16, device):
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    return step


def seeded_model(vocab_size: int, variant: str, **config) -> CharGPTForCausalLM:
    """A randomly initialised model of `variant` (the perceiver with m = 64, as in the study), seed 0."""
    torch.manual_seed(0)
    return CharGPTForCausalLM(
        CharGPTConfig(vocab_size=vocab_size, attention_type=variant, bottleneck_dim=64, **config)
    )


def path_step_fn(vocab_size: int, path: dict, batches: list[dict], device: torch.device = CPU):
    """A training step (`model_step_fn`) of a vanilla model built, seeded, for one of `PATHS` (`path["bf16"]`
    as given: callers turn it off where bf16 is not native)."""
    model = seeded_model(
        vocab_size, "vanilla", attention_backend=path["backend"], fast_dropout=path["fast_dropout"]
    )
    return model_step_fn(model, batches, path["bf16"], path["fused"], device=device)


def fast_path_step_fn(vocab_size: int, batches: list[dict], device: torch.device = CPU):
    """A training step (`path_step_fn`) of the vanilla fast path, `PATHS["+ packed rows (fast path)"]`, on
    packed `batches`, in bf16 where `device` multiplies it natively."""
    p = PATHS["+ packed rows (fast path)"]
    return path_step_fn(vocab_size, {**p, "bf16": p["bf16"] and native_bf16(device)}, batches, device)


def reference_step_fn(data: CharGPTData, batches: list[dict], device: torch.device = CPU):
    """A training step of the original course code (`reference_mingpt`, seeded init) on `batches[i % len]`."""
    torch.manual_seed(0)
    ref = ReferenceGPT(vocab_size=data.vocab_size).to(device)
    ref_opt = ref.configure_optimizers()
    pairs = [reference_pair(b["input_ids"]) for b in batches]
    ref.train()
    return lambda i: train_step(ref, ref_opt, *pairs[i % len(pairs)])


def pretraining_throughput(
    data: CharGPTData, repeats: int, quick: bool, device: torch.device = CPU
) -> list[dict]:
    """Training-step throughput of the study's model (docs/definitions.md), batch 128, on `device`."""
    results = []
    n_batches = repeats + 1
    batch_size = 16 if quick else 128
    padded = to_device(data.wiki_batches(n_batches, batch_size, pack=False, pad_to_block=True), device)
    packed = to_device(data.wiki_batches(n_batches, batch_size, pack=True, pad_to_block=False), device)
    longest = to_device(data.wiki_batches(n_batches, batch_size, pack=False, pad_to_block=False), device)
    tokens = statistics.mean(_non_pad_targets(b) for b in padded)
    tokens_packed = statistics.mean(_non_pad_targets(b) for b in packed)

    def record(name: str, variant: str, precision: str, batches, step, info: str = ""):
        times = timed(step, repeats, device=device)
        med = statistics.median(times)
        toks = statistics.mean(_non_pad_targets(b) for b in batches)
        shape = "x".join(str(s) for s in batches[0]["input_ids"].shape)
        results.append(
            dict(
                path=name,
                variant=variant,
                precision=precision,
                ms_per_step=med * 1000,
                examples_per_s=batch_size / med,
                tokens_per_s=toks / med,
                rows=shape,
                info=info,
                batch_size=batch_size,
                times=times,
            )
        )
        print(
            f"  {variant:11s} {precision:5s} {name:28s} {med * 1000:7.0f} ms  {batch_size / med:6.1f} ex/s",
            flush=True,
        )

    # The course's own code path (vanilla only): the denominator of every ratio.
    record(
        "original course code (minGPT)", "vanilla", "fp32", padded, reference_step_fn(data, padded, device)
    )

    paths = PATHS if not quick else {k: PATHS[k] for k in ("original-style", "+ packed rows (fast path)")}
    native = native_bf16(device)
    if not native:
        # Emulated bf16 matmuls are several times slower than fp32 (`bf16_matmul_slowdown`), so
        # the ladder runs in fp32, the recipes' default on such a CPU: without the bf16 step, and
        # without the fp32 copy of the fast path, which the fast path itself now is.
        paths = {
            k: {**p, "bf16": False}
            for k, p in paths.items()
            if k not in ("+ bf16 autocast", "fast path in fp32")
        }
    for name, p in paths.items():
        batches = packed if p["pack"] else padded
        record(
            name,
            "vanilla",
            "bf16" if p["bf16"] else "fp32",
            batches,
            path_step_fn(data.vocab_size, p, batches, device),
        )

    # The other variants: original-style (fp32, padded rows) against the fast path. The
    # synthesizer's inputs are one shorter (its B has block_size - 1 columns): slice the padded
    # rows (the last input is always PAD there). The perceiver cannot take packed rows: it gets
    # rows padded to the longest example of the batch. Their fast path runs in the recipe's
    # default precision: bf16 where this CPU multiplies bf16 natively, fp32 where it would emulate it.
    fast_precision = "bf16" if native else "fp32"
    for variant in ("synthesizer", "perceiver"):
        for precision, fast in (("fp32", False), (fast_precision, True)):
            model = seeded_model(data.vocab_size, variant, attention_backend="matmul", fast_dropout=fast)
            if not fast:
                batches = padded
            else:
                batches = packed if variant == "synthesizer" else longest
            if variant == "synthesizer":
                width = model.config.max_input_length
                batches = [{k: v[:, :width] for k, v in b.items()} for b in batches]
            name = (
                "original-style"
                if not fast
                else ("fast path (packed)" if variant == "synthesizer" else "fast path (padded to longest)")
            )
            record(
                name,
                variant,
                precision,
                batches,
                model_step_fn(model, batches, precision == "bf16", fast, device=device),
            )
    for r in results:
        r["non_pad_targets_per_batch"] = tokens if "pack" not in r["path"] else tokens_packed
    return results


def interleaved_times(
    steps: dict[str, Callable[[int], object]], rounds: int, per_turn: int = 2, device: torch.device = CPU
):
    """Seconds per call of each of `steps`, taking turns for `rounds` rounds (the order reversed
    every other round) after one warm-up call each. A turn makes `per_turn` calls and times only
    the last: the first call after the other step has run pays for the memory that step freed
    (page faults, cold caches), which a training run, doing one kind of step, never pays. On a
    shared machine whose speed drifts over minutes, both steps are slowed alike, so their ratio
    is steadier than that of figures measured one after the other."""
    names = list(steps)
    for name in names:
        steps[name](0)
    times: dict[str, list[float]] = {name: [] for name in names}
    calls = 1
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            for _ in range(per_turn - 1):
                steps[name](calls)
                calls += 1
            synchronize(device)
            start = time.perf_counter()
            steps[name](calls)
            synchronize(device)
            times[name].append(time.perf_counter() - start)
            calls += 1
    return times


def pretraining_headline(
    data: CharGPTData, rounds: int, quick: bool, device: torch.device = CPU, per_turn: int = 2
) -> dict:
    """The vanilla target's ratio measured interleaved: the original course code and the fast path
    take turns (`interleaved_times`), on the same kind of batches as the ladder."""
    batch_size = 16 if quick else 128
    padded = to_device(data.wiki_batches(rounds + 1, batch_size, pack=False, pad_to_block=True), device)
    packed = to_device(data.wiki_batches(rounds + 1, batch_size, pack=True, pad_to_block=False), device)
    bf16 = PATHS["+ packed rows (fast path)"]["bf16"] and native_bf16(device)
    fast_step = fast_path_step_fn(data.vocab_size, packed, device)
    times = interleaved_times(
        {"original": reference_step_fn(data, padded, device), "fast": fast_step}, rounds, per_turn, device
    )
    med = {k: statistics.median(v) for k, v in times.items()}
    return dict(
        rounds=rounds,
        per_turn=per_turn,
        batch_size=batch_size,
        precision="bf16" if bf16 else "fp32",
        original_ms=med["original"] * 1000,
        fast_ms=med["fast"] * 1000,
        original_examples_per_s=batch_size / med["original"],
        fast_examples_per_s=batch_size / med["fast"],
        ratio=med["original"] / med["fast"],
        times=times,
    )


def collator_speed(data: CharGPTData, repeats: int) -> dict:
    """Milliseconds for `SpanCorruptionCollator` to build one batch of 128 (padded / packed)."""
    rows = [data.wiki[i] for i in range(128)]
    out = {}
    for pack in (False, True):
        collator = SpanCorruptionCollator(data.tokenizer, 128, pack=pack, seed=0)
        times = timed(lambda i, c=collator: c(rows), max(5, repeats * 4))
        out["packed" if pack else "padded"] = statistics.median(times) * 1000
    return out


def finetuning_throughput(
    data: CharGPTData, repeats: int, quick: bool = False, device: torch.device = CPU
) -> list[dict]:
    """Birthplace finetuning steps (batch 256): original-style padded fp32 vs the fast path, rows
    padded to the longest question (questions are short, so padding to the block wastes most
    compute) or packed (the recipe's default for vanilla and synthesizer), in bf16 where this CPU
    has it natively and fp32 elsewhere."""
    results = []
    batch_size = 32 if quick else 256
    native = native_bf16(device)
    precision = "bf16" if native else "fp32"
    for name, bf16, pad_to_block, fast, pack in (
        ("original-style (fp32, 127 columns)", False, True, False, False),
        (f"fast path ({precision}, padded to longest)", native, False, True, False),
        (f"fast path ({precision}, packed rows)", native, False, True, True),
    ):
        torch.manual_seed(0)
        batches = to_device(data.birth_batches(repeats + 1, batch_size, pad_to_block, pack), device)
        cfg = CharGPTConfig(vocab_size=data.vocab_size, attention_backend="matmul", fast_dropout=fast)
        model = CharGPTForCausalLM(cfg)
        times = timed(model_step_fn(model, batches, bf16, fast, device=device), repeats, device=device)
        med = statistics.median(times)
        results.append(
            dict(
                path=name,
                ms_per_step=med * 1000,
                examples_per_s=batch_size / med,
                rows="x".join(str(s) for s in batches[0]["input_ids"].shape),
                batch_size=batch_size,
                times=times,
            )
        )
        print(f"  finetune {name:40s} {med * 1000:7.0f} ms  {batch_size / med:6.1f} ex/s", flush=True)
    return results


def decoding_speed(
    data: CharGPTData, repeats: int, quick: bool, checkpoint: str | None = None, device: torch.device = CPU
) -> dict:
    """Seconds to answer the dev (500) and test (437) questions: the package's batched KV-cache
    greedy decoder against the original one-question-at-a-time loop without a cache (32 steps)."""
    if checkpoint:
        model = CharGPTForCausalLM.from_pretrained(checkpoint)
    else:
        model = seeded_model(data.vocab_size, "vanilla")
    model.to(device).eval()
    dev = list(data.birth["validation"]["question"])
    test = list(data.birth["test"]["question"])
    if quick:
        dev, test = dev[:8], test[:8]
    out: dict = {"checkpoint": checkpoint or "randomly initialised (every answer runs the full 32 steps)"}
    precisions = (True, False) if native_bf16(device) else (False,)  # emulated bf16 is slower than fp32
    for split, questions in (("dev", dev), ("test", test)):
        for bf16 in precisions:
            times = timed(
                lambda i, q=questions, b=bf16: greedy_decode(model, data.tokenizer, q, bf16=b),
                repeats,
                device=device,
            )
            out[f"{split}_batched_{'bf16' if bf16 else 'fp32'}_s"] = statistics.median(times)
        out[f"{split}_questions"] = len(questions)
        print(f"  decode {split}: batched fp32 {out[f'{split}_batched_fp32_s']:.2f} s", flush=True)
    # The original loop: one question at a time, no cache, fp32, 32 steps. Timed once on a
    # subset of the dev questions and scaled (it is linear in the number of questions).
    ref = ReferenceGPT(vocab_size=data.vocab_size)
    ref.load_state_dict(_reference_state(model), strict=True)
    ref.to(device).eval()
    n_ref = min(len(dev), 4 if quick else 100)
    prompts = [data.tokenizer.encode_chars(q + "⁇") for q in dev[:n_ref]]
    sample_greedy(ref, prompts[0])  # warm-up
    synchronize(device)
    start = time.perf_counter()
    for p in prompts:
        sample_greedy(ref, p)
    synchronize(device)
    per_question = (time.perf_counter() - start) / n_ref
    out["reference_questions_timed"] = n_ref
    out["reference_s_per_question"] = per_question
    for split, questions in (("dev", dev), ("test", test)):
        out[f"{split}_reference_s"] = per_question * len(questions)
    print(f"  decode reference: {per_question * 1000:.0f} ms/question", flush=True)
    if not checkpoint:
        # The other variants, randomly initialised the same way, on the dev questions in the
        # default precision (the perceiver with m = 64, as in the study).
        bf16 = native_bf16(device)
        out["variants_precision"] = "bf16" if bf16 else "fp32"
        for variant in ("synthesizer", "perceiver"):
            other = seeded_model(data.vocab_size, variant).to(device).eval()
            times = timed(
                lambda i, m=other: greedy_decode(m, data.tokenizer, dev, bf16=bf16), repeats, device=device
            )
            out[f"dev_{variant}_s"] = statistics.median(times)
            print(f"  decode dev, {variant}: {out[f'dev_{variant}_s']:.2f} s", flush=True)
    return out


def _reference_state(model: CharGPTForCausalLM) -> dict:
    """Our vanilla weights under the reference model's names (same function, same parameters)."""
    sd = model.state_dict()
    out = {
        "tok_emb.weight": sd["transformer.wte.weight"],
        "pos_emb": sd["transformer.wpe.weight"][None],
        "ln_f.weight": sd["transformer.ln_f.weight"],
        "ln_f.bias": sd["transformer.ln_f.bias"],
        "head.weight": sd["lm_head.weight"],
    }
    n = model.config.n_layer
    bs = model.config.block_size
    for i in range(n):
        src, dst = f"transformer.h.{i}.", f"blocks.{i}."
        for a, b in (
            ("ln1", "ln1"),
            ("ln2", "ln2"),
            ("attn.key", "attn.key"),
            ("attn.query", "attn.query"),
            ("attn.value", "attn.value"),
            ("attn.proj", "attn.proj"),
            ("mlp.fc", "mlp.0"),
            ("mlp.proj", "mlp.2"),
        ):
            for p in ("weight", "bias"):
                out[f"{dst}{b}.{p}"] = sd[f"{src}{a}.{p}"]
        out[f"{dst}attn.mask"] = torch.tril(torch.ones(bs, bs, device=sd["lm_head.weight"].device)).view(
            1, 1, bs, bs
        )
    return out


def saved_activation_bytes(fn: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Run `fn` (a forward pass) and count the bytes of distinct tensors autograd saves for the
    backward pass: the activation memory of training, independent of allocator noise."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor):
        try:
            storage = t.untyped_storage()
            seen[storage.data_ptr()] = storage.nbytes()
        except (RuntimeError, NotImplementedError):
            pass
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, sum(seen.values())


def bf16_matmul_slowdown(repeats: int = 3) -> float:
    """Time of a bf16 matrix product over the same product in fp32 on this CPU (8192 x 256 by
    256 x 1024, the size of the study's MLP layer on a packed batch). Below 1 where bf16 is
    native; several times above 1 where PyTorch emulates it."""
    torch.manual_seed(0)
    x, w = torch.randn(8192, 256), torch.randn(1024, 256)
    times = {}
    for dtype in (torch.float32, torch.bfloat16):
        a, b = x.to(dtype), w.to(dtype)
        times[dtype] = statistics.median(timed(lambda i, a=a, b=b: torch.nn.functional.linear(a, b), repeats))
    return times[torch.bfloat16] / times[torch.float32]


def perceiver_scaling(repeats: int, quick: bool, device: torch.device = CPU) -> list[dict]:
    """Forward+backward time and saved activation memory of vanilla vs perceiver (m = 32, 64, 128)
    at growing sequence length (block_size = the length), batch 1, training mode, bf16 autocast
    where `device` has native bf16 (fp32 elsewhere); on a GPU also the peak allocated memory."""
    bf16 = native_bf16(device)
    lengths = [64, 128] if quick else [128, 512, 1024, 2048, 4096]
    kinds = [("vanilla", None)] + [("perceiver", m) for m in ((32, 64) if quick else (32, 64, 128))]
    results = []
    for t in lengths:
        for variant, m in kinds:
            torch.manual_seed(0)
            cfg = CharGPTConfig(
                block_size=t,
                attention_type=variant,
                bottleneck_dim=m or 32,
                attention_backend="matmul",
            )
            model = CharGPTForCausalLM(cfg).to(device).train()
            ids = torch.randint(2, cfg.vocab_size, (1, t)).to(device)
            reps = repeats if t <= 1024 else max(2, repeats // 2)

            def fwd(model=model, ids=ids):
                with autocast(bf16, device):
                    return model(input_ids=ids, labels=ids).loss

            def step(i: int, model=model):
                fwd().backward()
                model.zero_grad(set_to_none=True)

            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            times = timed(step, reps, device=device)
            loss, nbytes = saved_activation_bytes(fwd)
            del loss
            med = statistics.median(times)
            results.append(
                dict(
                    length=t,
                    variant=variant if m is None else f"perceiver m={m}",
                    ms=med * 1000,
                    activation_mib=nbytes / 2**20,
                    precision="bf16" if bf16 else "fp32",
                    times=times,
                )
            )
            if device.type == "cuda":
                results[-1]["peak_allocated_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
            print(
                f"  T={t:5d} {results[-1]['variant']:16s} {med * 1000:8.1f} ms  {nbytes / 2**20:8.1f} MiB",
                flush=True,
            )
            del model
    return results


__all__ = [
    "CharGPTData",
    "synchronize",
    "timed",
    "to_device",
    "pretraining_throughput",
    "finetuning_throughput",
    "collator_speed",
    "decoding_speed",
    "perceiver_scaling",
    "bf16_matmul_slowdown",
    "saved_activation_bytes",
]
