"""Count-based baselines for the LSTM language model: a unigram model and an interpolated
Kneser-Ney trigram (docs/lstm_lm.md, "Baselines").

Both read the same word ids as the LSTM (the same vocabulary, `<unk>` included as an ordinary
word) and score a token stream the same way: every token but the first, each given the tokens
before it. A few lines of counts rather than `nltk.lm`, whose per-word Python scoring over a
12,882-word vocabulary is slow and which would add a dependency for two small classes.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np


def _discount(counts_of_counts: Counter) -> float:
    """Ney's estimate `D = n1 / (n1 + 2 n2)` (n_k: how many events were seen exactly k times),
    clipped into (0, 1); 0.75 when either is zero."""
    n1, n2 = counts_of_counts.get(1, 0), counts_of_counts.get(2, 0)
    if n1 == 0 or n2 == 0:
        return 0.75
    return min(max(n1 / (n1 + 2 * n2), 1e-3), 0.999)


class UnigramLM:
    """`P(w) = (c(w) + k) / (N + k V)` over the training tokens (maximum likelihood when `k = 0`)."""

    def __init__(self, vocab_size: int, add_k: float = 0.0):
        self.vocab_size = vocab_size
        self.add_k = add_k
        self.probs: np.ndarray | None = None

    def fit(self, ids: Sequence[int]) -> UnigramLM:
        """Count the training token ids."""
        counts = np.bincount(np.asarray(ids, dtype=np.int64), minlength=self.vocab_size).astype(np.float64)
        self.probs = (counts + self.add_k) / (counts.sum() + self.add_k * self.vocab_size)
        return self

    def distribution(self, context: Sequence[int] = ()) -> np.ndarray:
        """`P(. )` over the vocabulary (the context is ignored)."""
        return self.probs

    def token_nlls(self, ids: Sequence[int]) -> np.ndarray:
        """`-log P(w_t)` for every token but the first (the tokens an LSTM can predict)."""
        with np.errstate(divide="ignore"):
            return -np.log(self.probs[np.asarray(ids[1:], dtype=np.int64)])


class KneserNeyTrigramLM:
    """Interpolated Kneser-Ney trigram (Chen & Goodman 1999, eq. 2 with one discount per order):

    `P3(w|u,v) = max(c(uvw) - D3, 0) / c(uv.) + D3 N1+(uv.) / c(uv.) * P2(w|v)`;
    `P2(w|v) = max(N1+(.vw) - D2, 0) / N1+(.v.) + D2 N1+(v.) / N1+(.v.) * P1(w)` over continuation
    counts; `P1(w) = max(N1+(.w) - D1, 0) / N1+(..) + D1 N1+(.) / N1+(..) / V`, so every word of the
    vocabulary has a probability. An unseen context falls through to the next order. Discounts are
    Ney's `n1 / (n1 + 2 n2)` for each order."""

    def __init__(self, vocab_size: int):
        self.vocab_size = vocab_size

    def fit(self, ids: Sequence[int]) -> KneserNeyTrigramLM:
        """Count trigrams, bigram and unigram continuation counts of the training token ids."""
        ids = [int(i) for i in ids]
        tri = Counter(zip(ids, ids[1:], ids[2:]))
        self.tri = tri
        self.ctx = Counter()  # c(uv.)
        self.ctx_types = Counter()  # N1+(uv.)
        self.cont2 = Counter()  # N1+(.vw)
        for (u, v, w), n in tri.items():
            self.ctx[u, v] += n
            self.ctx_types[u, v] += 1
            self.cont2[v, w] += 1
        self.cont2_total = Counter()  # N1+(.v.)
        self.cont2_types = Counter()  # N1+(v.)
        cont1 = np.zeros(self.vocab_size, dtype=np.float64)  # N1+(.w)
        for (v, _w), n in self.cont2.items():
            self.cont2_total[v] += n
            self.cont2_types[v] += 1
        for _, w in set(zip(ids, ids[1:])):
            cont1[w] += 1
        self.d3 = _discount(Counter(tri.values()))
        self.d2 = _discount(Counter(self.cont2.values()))
        self.d1 = _discount(Counter(cont1[cont1 > 0].astype(int).tolist()))
        total1, types1 = cont1.sum(), (cont1 > 0).sum()
        self.p1 = np.maximum(cont1 - self.d1, 0) / total1 + self.d1 * types1 / total1 / self.vocab_size
        return self

    def _p2(self, w: int, v: int | None) -> float:
        total = self.cont2_total.get(v, 0) if v is not None else 0
        if total == 0:
            return float(self.p1[w])
        head = max(self.cont2.get((v, w), 0) - self.d2, 0.0) / total
        return head + self.d2 * self.cont2_types[v] / total * float(self.p1[w])

    def prob(self, w: int, u: int | None, v: int | None) -> float:
        """`P(w | u, v)`; `u` and/or `v` may be `None` (no context that far back)."""
        n = self.ctx.get((u, v), 0) if u is not None else 0
        p2 = self._p2(w, v)
        if n == 0:
            return p2
        head = max(self.tri.get((u, v, w), 0) - self.d3, 0.0) / n
        return head + self.d3 * self.ctx_types[u, v] / n * p2

    def distribution(self, context: Sequence[int]) -> np.ndarray:
        """`P(. | context[-2:])` over the whole vocabulary (a vector summing to 1)."""
        u = context[-2] if len(context) >= 2 else None
        v = context[-1] if context else None
        return np.array([self.prob(w, u, v) for w in range(self.vocab_size)])

    def token_nlls(self, ids: Sequence[int]) -> np.ndarray:
        """`-log P(w_t | w_{t-2}, w_{t-1})` for every token but the first."""
        ids = [int(i) for i in ids]
        out = np.empty(len(ids) - 1)
        for t in range(1, len(ids)):
            out[t - 1] = -math.log(self.prob(ids[t], ids[t - 2] if t >= 2 else None, ids[t - 1]))
        return out


def perplexity(token_nlls: np.ndarray) -> float:
    """`exp(mean NLL)`."""
    return float(math.exp(float(np.mean(token_nlls))))


__all__ = ["KneserNeyTrigramLM", "UnigramLM", "perplexity"]
