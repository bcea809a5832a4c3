"""Every row of a batch through its own LoRA: many conditions' adapters in one forward pass.

The functional objective scores each condition's labeled items under that condition's
generated adapter. Done one condition at a time (torch.func.functional_call on PEFT's
modules), a step on the CPU is mostly fixed per-call cost: the model's forward, its masks
and rotary positions, PEFT's per-module dispatch, for a few short rows each time
(benchmarks/bench_functional_step.py). Here the rows of all conditions go through the model
once: PEFT's adapters are switched off and a forward hook on each adapted module adds the
row's own low-rank update,

    y[s] = base(x[s]) + scaling * x[s] @ A[c(s)]^T @ B[c(s)]^T       c(s): row s's condition

as PEFT computes it (activations cast to the LoRA weights' fp32, the sum cast back), so the
value is the per-condition one up to summation order.

    with row_lora(peft_model, {key: (C, *shape)}, rows):     # rows: (S,) condition of each row
        out = peft_model(...)                                  # (S, ...) rows, differentiable in the weights
"""

from __future__ import annotations

import contextlib

import torch

ADAPTER = "default"


def _module_path(key: str) -> str:
    """PEFT's saved key (…q_proj.lora_A.weight) -> the LoRA layer's module path (…q_proj)."""
    return key.split(".lora_")[0]


@contextlib.contextmanager
def row_lora(peft_model, state: dict[str, torch.Tensor], rows: torch.Tensor):
    """Run `peft_model` with row s of every input through the adapter `state[...][rows[s]]`.

    state: PEFT saved names -> (C, r, in) lora_A / (C, out, r) lora_B, the C conditions'
    weights (only the modules named here are adapted; every other LoRA layer is off);
    rows: (S,) long, each input row's condition. LoRA dropout must be 0."""
    modules = {}
    for key in state:
        modules.setdefault(_module_path(key), {})["A" if ".lora_A." in key else "B"] = state[key]
    hooks = []

    def hook_for(a: torch.Tensor, b: torch.Tensor, scaling: float):
        a_rows, b_rows = a[rows].transpose(1, 2), b[rows].transpose(1, 2)  # (S, in, r), (S, r, out)

        def add_delta(module, args, out):
            x = args[0]  # (S, T, in)
            delta = torch.bmm(torch.bmm(x.to(a_rows.dtype), a_rows), b_rows) * scaling  # (S, T, out)
            return (out.to(delta.dtype) + delta).to(out.dtype)

        return add_delta

    with peft_model.disable_adapter():
        try:
            for path, ab in modules.items():
                layer = peft_model.get_submodule(path)
                if float(getattr(layer.lora_dropout[ADAPTER], "p", 0.0)) != 0.0:
                    raise ValueError(f"{path}: row_lora needs lora_dropout 0")
                hooks.append(layer.register_forward_hook(hook_for(ab["A"], ab["B"], layer.scaling[ADAPTER])))
            yield
        finally:
            for h in hooks:
                h.remove()
