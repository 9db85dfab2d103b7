"""A faithful minimal reimplementation of the course's minGPT fp32 code path (the baseline of the ratios).

What it keeps from the original (CS224N a5 `mingpt-demo/mingpt/model.py`, `trainer.py`, `utils.py`):
- attention as explicit matmuls with a registered lower-triangular mask buffer, `masked_fill(-inf)`,
  softmax and `nn.Dropout` on the weights, all in fp32;
- padded 128 x 127 batches (`x = s[:-1]`, `y = s[1:]` of the block-padded string) and the loss
  `cross_entropy(..., ignore_index=0)` over all positions;
- AdamW with betas (0.9, 0.95) and weight decay 0.1 on matmul weights only, gradient clipping 1.0;
- evaluation as `utils.sample`: one question at a time, the whole context re-run for every new
  character (no key/value cache), greedy.
Only the vanilla variant is reimplemented; it has the study's 3,323,392 parameters (docs/definitions.md).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class CausalSelfAttention(nn.Module):
    """minGPT's masked multi-head self-attention (manual masked softmax, fp32)."""

    def __init__(self, n_embd: int, n_head: int, block_size: int, pdrop: float):
        super().__init__()
        self.key = nn.Linear(n_embd, n_embd)
        self.query = nn.Linear(n_embd, n_embd)
        self.value = nn.Linear(n_embd, n_embd)
        self.attn_drop = nn.Dropout(pdrop)
        self.resid_drop = nn.Dropout(pdrop)
        self.proj = nn.Linear(n_embd, n_embd)
        self.register_buffer(
            "mask", torch.tril(torch.ones(block_size, block_size)).view(1, 1, block_size, block_size)
        )
        self.n_head = n_head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.size()
        k = self.key(x).view(b, t, self.n_head, c // self.n_head).transpose(1, 2)
        q = self.query(x).view(b, t, self.n_head, c // self.n_head).transpose(1, 2)
        v = self.value(x).view(b, t, self.n_head, c // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.mask[:, :, :t, :t] == 0, -1e10)  # the course code's fill value
        att = F.softmax(att, dim=-1)
        att = self.attn_drop(att)
        y = att @ v
        y = y.transpose(1, 2).contiguous().view(b, t, c)
        return self.resid_drop(self.proj(y))


class Block(nn.Module):
    """Pre-LayerNorm Transformer block of minGPT."""

    def __init__(self, n_embd: int, n_head: int, block_size: int, pdrop: float):
        super().__init__()
        self.ln1 = nn.LayerNorm(n_embd)
        self.ln2 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, block_size, pdrop)
        self.mlp = nn.Sequential(
            nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd), nn.Dropout(pdrop)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class ReferenceGPT(nn.Module):
    """minGPT `GPT` (vanilla variant) with the study's defaults."""

    def __init__(
        self,
        vocab_size: int = 256,
        block_size: int = 128,
        n_layer: int = 4,
        n_head: int = 8,
        n_embd: int = 256,
        pdrop: float = 0.1,
    ):
        super().__init__()
        self.tok_emb = nn.Embedding(vocab_size, n_embd)
        self.pos_emb = nn.Parameter(torch.zeros(1, block_size, n_embd))
        self.drop = nn.Dropout(pdrop)
        self.blocks = nn.Sequential(*[Block(n_embd, n_head, block_size, pdrop) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.head = nn.Linear(n_embd, vocab_size, bias=False)
        self.block_size = block_size
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            module.weight.data.normal_(mean=0.0, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                module.bias.data.zero_()
        elif isinstance(module, nn.LayerNorm):
            module.bias.data.zero_()
            module.weight.data.fill_(1.0)

    def configure_optimizers(self, lr: float = 6e-3) -> torch.optim.AdamW:
        """AdamW(betas=(0.9, 0.95)) with weight decay 0.1 on Linear weights only, as the course trainer."""
        decay, no_decay = [], []
        for _, m in self.named_modules():
            for pn, p in m.named_parameters(recurse=False):
                (decay if pn.endswith("weight") and isinstance(m, nn.Linear) else no_decay).append(p)
        groups = [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95))

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """Logits (and the loss with PAD = 0 ignored) as minGPT returns them."""
        t = idx.size(1)
        x = self.drop(self.tok_emb(idx) + self.pos_emb[:, :t, :])
        x = self.ln_f(self.blocks(x))
        logits = self.head(x)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=0)
        return logits, loss


def reference_pair(input_ids: torch.Tensor, pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The original's `(x, y)` from block-padded `input_ids` (`x = s[:-1]`): `y` is `x` shifted left
    with PAD after the last input (the original's last target is always PAD in the study's data)."""
    y = torch.full_like(input_ids, pad_id)
    y[:, :-1] = input_ids[:, 1:]
    return input_ids, y


def train_step(
    model: ReferenceGPT, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor
) -> float:
    """One step of the course trainer: forward, backward, clip 1.0, AdamW."""
    _, loss = model(x, y)
    model.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return loss.item()


@torch.no_grad()
def sample_greedy(model: ReferenceGPT, prompt: list[int], steps: int = 32) -> list[int]:
    """`utils.sample(model, x, 32, sample=False)`: re-runs the whole (cropped) context per character."""
    x = torch.tensor([prompt], dtype=torch.long, device=next(model.parameters()).device)
    for _ in range(steps):
        x_cond = x if x.size(1) <= model.block_size else x[:, -model.block_size :]
        logits, _ = model(x_cond)
        ix = logits[:, -1, :].argmax(dim=-1, keepdim=True)
        x = torch.cat((x, ix), dim=1)
    return x[0, len(prompt) :].tolist()


__all__ = ["ReferenceGPT", "reference_pair", "train_step", "sample_greedy"]
