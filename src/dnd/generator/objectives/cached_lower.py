"""The functional loss at a fraction of the cost: a delta on the top layers only, the
layers below run once per item and cached.

When the generator writes a delta only for the top K of L layers (HeadSettings.top_layers;
the head gives exact zeros below), the layers under them are the same for every condition:
the base model plus the reference adapter. So their output on each labeled item, the hidden
state entering layer L - K, is computed once when the items are encoded (and kept on disk,
like the prompt features), and a training step runs only the top K layers, the final norm
and the LM head on the answer positions:

    item tokens --(layers 0 .. L-K-1, base + reference; once, cached)--> h (len, D)
    h --(layers L-K .. L-1 with reference + generated delta)--> norm --> LM head (answers)

A step then costs about K / L of a full one (benchmarks/bench_functional_step.py). The top
layers run inside the model's own forward (inputs_embeds, its own masks and rotary
positions) with its layer list cut to the top K for the call, so nothing of the model is
rewritten here; a check at the first encode compares this path with the full forward.

    loss = CachedLowerLoss(model, tok, written_lora, top_layers=4, lower_state=written_lower)
    examples = loss.encode(items)                  # (ids, labels, h) per item
    loss(state, examples)                          # state: the top layers' lora_A / lora_B
"""

from __future__ import annotations

import hashlib
import json

import torch

from dnd.assets import cache_dir
from dnd.errors import DndError
from dnd.fileio import memo_tensor
from dnd.lora.attach import attach_lora, layer_of, prepare_precision
from dnd.lora.settings import LoraSettings
from dnd.generator.objectives.row_lora import row_lora
from dnd.lora.train import answer_only_loss, answer_token_losses, collate, encode_example

CHECK_TOLERANCE = 2e-2  # |full - cached| loss at the first encode (bf16 rounding is ~1e-3)


class _Stop(Exception):
    """Raised by the hook that captures a layer's input: nothing above it needs to run."""


class _TopLoss(torch.nn.Module):
    """(cached inputs of the top layers, batch) -> the answer-token loss, as one module so
    that functional_call can substitute the top layers' LoRA weights."""

    def __init__(self, model, decoder, top):
        super().__init__()
        self.model = model
        self.__dict__["decoder"], self.__dict__["top"] = decoder, top  # not registered twice

    def forward(self, hidden, batch, per_token: bool = False):
        full = self.decoder.layers
        self.decoder.layers = self.top  # the model's own forward, over the top layers only
        try:
            if per_token:  # (losses, mask) per row (row_lora: each row through its own adapter)
                return answer_token_losses(self.model, batch, inputs_embeds=hidden)
            return answer_only_loss(self.model, batch, inputs_embeds=hidden)
        finally:
            self.decoder.layers = full


class CachedLowerLoss:
    """FunctionalLoss's interface (`encode`, `__call__`, `names`) for a delta on the top
    `top_layers` layers. lower_state: the written adapter's weights of the layers below
    (reference + zero delta), set once into the model. Always left-padded, answer-only.
    one_pass: the objectives score every condition at once through `grouped` (row_lora.py)."""

    def __init__(self, model, tokenizer, lora: LoraSettings, top_layers: int, lower_state: dict,
                 device: str = "cpu", max_length: int = 256, precision: str = "bf16", identity: str = "",
                 one_pass: bool = False):
        peft_model = attach_lora(model, lora).to(device)
        prepare_precision(peft_model, precision)
        for p in peft_model.parameters():
            p.requires_grad_(False)
        peft_model.eval()
        decoder = peft_model.get_base_model().get_decoder()
        n_layers = len(getattr(decoder, "layers", ()))
        if not 0 < top_layers < n_layers:
            raise DndError(f"--top-layers {top_layers}: the base model has {n_layers} layers; "
                           f"expected 1 to {n_layers - 1}")
        self.first = n_layers - top_layers
        names = {n.replace(".default.weight", ".weight"): n  # PEFT's saved key -> parameter
                 for n, _ in peft_model.named_parameters() if "lora_" in n}
        params = dict(peft_model.named_parameters())
        with torch.no_grad():
            for key, name in names.items():
                if layer_of(key) < self.first:
                    params[name].copy_(lower_state[key])
        self.names = {k: "model." + n for k, n in names.items() if layer_of(k) >= self.first}
        self.peft_model, self.tokenizer, self.device, self.max_length = peft_model, tokenizer, device, max_length
        self.dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        self.module = _TopLoss(peft_model, decoder, torch.nn.ModuleList(decoder.layers[self.first:]))
        h = hashlib.sha256(json.dumps([identity, lora.to_json(), top_layers, max_length, precision]).encode())
        for key in sorted(lower_state):
            h.update(lower_state[key].float().cpu().contiguous().numpy().tobytes())
        self.key, self.checked, self.one_pass = h.hexdigest(), False, one_pass

    # --- the cached lower layers ------------------------------------------------------------
    @torch.no_grad()
    def _lower(self, examples, batch_size: int = 16) -> list[torch.Tensor]:
        """The hidden state entering layer `first`, (len_i, D) per example, batched by length."""
        captured = {}

        def capture(module, args, kwargs):
            captured["h"] = args[0] if args else kwargs["hidden_states"]
            raise _Stop

        layer = self.peft_model.get_base_model().get_decoder().layers[self.first]
        hook = layer.register_forward_pre_hook(capture, with_kwargs=True)
        out: list[torch.Tensor | None] = [None] * len(examples)
        order = sorted(range(len(examples)), key=lambda i: len(examples[i][0]))
        try:
            for start in range(0, len(order), batch_size):
                idx = order[start: start + batch_size]
                batch = collate([examples[i] for i in idx], self.tokenizer.pad_token_id, left=True)
                try:
                    self.peft_model(input_ids=batch["input_ids"].to(self.device),
                                    attention_mask=batch["attention_mask"].to(self.device),
                                    position_ids=batch["position_ids"].to(self.device))
                except _Stop:
                    pass
                h, width = captured.pop("h"), batch["input_ids"].shape[1]  # (b, W, D)
                for j, i in enumerate(idx):
                    out[i] = h[j, width - len(examples[i][0]):].to(self.dtype).cpu().clone()
        finally:
            hook.remove()
        return out

    def _cached_lower(self, examples) -> list[torch.Tensor]:
        """`_lower(examples)`, memoized on disk as one (sum of lengths, D) tensor."""
        if not examples:
            return []
        h = hashlib.sha256(self.key.encode())
        for ids, labels in examples:
            h.update(json.dumps([ids, labels]).encode())
        path = cache_dir() / "lower_states" / f"{h.hexdigest()[:32]}.safetensors"
        lengths = [len(ids) for ids, _ in examples]
        flat = memo_tensor(path, "hidden", lambda: torch.cat(self._lower(examples)),
                           lambda f: f.shape[0] == sum(lengths))
        return list(flat.split(lengths))

    def encode(self, items) -> list[tuple[list[int], list[int], torch.Tensor]]:
        """Labeled items -> (input_ids, labels, lower-layer output) examples."""
        examples = [encode_example(self.tokenizer, it, self.max_length) for it in items]
        out = [(ids, lab, h) for (ids, lab), h in zip(examples, self._cached_lower(examples))]
        if out and not self.checked:
            self._check(out[:2])
        return out

    @torch.no_grad()
    def _check(self, examples) -> None:
        """The cached path against the full forward on a few items (the top layers as they are)."""
        batch = collate([(ids, lab) for ids, lab, _ in examples], self.tokenizer.pad_token_id, left=True)
        batch = {k: v.to(self.device) for k, v in batch.items()}
        full = float(answer_only_loss(self.peft_model, batch))
        cached = float(self.module(self._inputs(examples), batch))
        if abs(full - cached) > CHECK_TOLERANCE * max(1.0, abs(full)):
            raise DndError(f"--top-layers: this base model's top layers do not run from cached inputs "
                           f"(loss {cached:.4f} against {full:.4f} through the whole model)")
        self.checked = True

    def _inputs(self, examples) -> torch.Tensor:
        """(B, W, D) left-padded lower-layer outputs of a batch."""
        width = max(len(ids) for ids, _, _ in examples)
        hidden = torch.zeros(len(examples), width, examples[0][2].shape[-1], dtype=self.dtype)
        for j, (ids, _, h) in enumerate(examples):
            hidden[j, width - len(ids):] = h
        return hidden.to(self.device)

    def __call__(self, state: dict[str, torch.Tensor], examples) -> torch.Tensor:
        """Mean answer-token loss of `examples` under the adapter `state` (PEFT saved names;
        only the top layers' weights are read)."""
        top = self._top_state(state)
        batch = collate([(ids, lab) for ids, lab, _ in examples], self.tokenizer.pad_token_id, left=True)
        batch = {k: v.to(self.device) for k, v in batch.items()}
        params = {self.names[k]: v for k, v in top.items()}
        return torch.func.functional_call(self.module, params, args=(self._inputs(examples), batch)).float()

    def _top_state(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The top layers' weights of `state`; ValueError naming one that is missing."""
        missing = set(self.names) - set(state)
        if missing:
            raise ValueError(f"generated state lacks {sorted(missing)[0]}")
        return {k: state[k] for k in self.names}

    def grouped(self, state: dict[str, torch.Tensor], groups: list[tuple[int, list]]) -> torch.Tensor:
        """(G,) mean answer-token losses, group g = (c, examples): `examples` under condition
        c's adapter, every group in ONE forward pass (row_lora.py). state: {key: (C, *shape)}
        the conditions' batched weights (only the top layers' are read); the same values as
        calling this loss per group (faster only where per-call overhead dominates)."""
        examples = [ex for _, exs in groups for ex in exs]
        rows = torch.tensor([c for c, exs in groups for _ in exs], device=self.device)  # (S,) condition of each row
        group_of = torch.tensor([g for g, (_, exs) in enumerate(groups) for _ in exs], device=self.device)  # (S,)
        batch = collate([(ids, lab) for ids, lab, _ in examples], self.tokenizer.pad_token_id, left=True)
        batch = {k: v.to(self.device) for k, v in batch.items()}
        with row_lora(self.peft_model, self._top_state(state), rows):
            losses, mask = self.module(self._inputs(examples), batch, per_token=True)  # (S, A) each
        sums = torch.zeros(len(groups), device=losses.device).index_add(0, group_of, (losses * mask).sum(-1))
        counts = torch.zeros(len(groups), device=losses.device).index_add(0, group_of, mask.sum(-1).float())
        return sums / counts  # (G,)
