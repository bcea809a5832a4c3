"""Conditions through the CLI: prompts alone, a description alone, or both -> PEFT adapters."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from dnd.artifacts import ADAPTER_CONFIG, ADAPTER_WEIGHTS
from dnd.fileio import read_json
from dnd.generator import config as C
from dnd.generator.condition import ConditionSettings
from dnd.generator.descriptions import instruction_lines, task_descriptions
from dnd.generator.train import train_generator
from dnd.tasks.registry import load_pools


def dnd(*args):
    return subprocess.run([sys.executable, "-m", "dnd.cli", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def shared_generator(tmp_path_factory, tiny_zoo):
    out = tmp_path_factory.mktemp("shared") / "gen"
    config = C.GeneratorConfig(
        condition=ConditionSettings(n_prompts=8), decoder=C.DecoderSettings(hidden_channels=(16,)),
        head=C.HeadSettings(width=16, embed_dim=8, cond_dim=16), reference="zoo-mean",
        train=C.GenTrainSettings(steps=20, batch_size=4, lr=3e-3, warmup_steps=2, max_pool=32))
    train_generator(tiny_zoo, out, config)
    return out


def test_prompts_description_or_both_give_adapters_that_load(shared_generator, tiny_model, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    prompts = tmp_path / "p.txt"
    prompts.write_text("\n".join(it.prompt.replace("\n", " ") for it in load_pools("sst2")[1][:8]))
    desc = "Classify the sentiment of a movie review as positive or negative."
    tok = AutoTokenizer.from_pretrained(tiny_model)
    batch = tok(["Is the sky blue? Answer yes or no."], return_tensors="pt")
    weights = {}
    for name, flags in (("prompts", ["--prompts", str(prompts)]), ("description", ["--description", desc]),
                        ("both", ["--prompts", str(prompts), "--description", desc])):
        out = tmp_path / name
        r = dnd("generate", "--generator", str(shared_generator), "--out", str(out), *flags)
        assert r.returncode == 0, r.stderr
        assert read_json(out / ADAPTER_CONFIG)["r"] == 8  # reference (4) + generated (4) ranks
        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), out).eval()
        with torch.no_grad():
            assert torch.isfinite(model(**batch).logits).all()
        weights[name] = torch.cat([v.flatten() for v in model.state_dict().values()])
    assert "description" in read_json(tmp_path / "both" / "dnd_generation.json")
    assert not torch.equal(weights["prompts"], weights["description"])  # the condition changes the adapter
    assert not torch.equal(weights["prompts"], weights["both"])


def test_description_refusals(tiny_generator, shared_generator, tmp_path):
    r = dnd("generate", "--generator", str(shared_generator), "--out", str(tmp_path / "a"))
    assert r.returncode == 2 and "--description" in r.stderr and "Traceback" not in r.stderr
    r = dnd("generate", "--generator", str(tiny_generator), "--out", str(tmp_path / "b"), "--description", "a task")
    assert r.returncode == 2 and "without descriptions" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_registry_tasks_have_descriptions():
    prompts = [it.prompt for it in load_pools("sst2")[0][:50]]
    assert instruction_lines(prompts) == ["Is the sentiment of this sentence positive or negative?",
                                          "Answer positive or negative."]
    descs = task_descriptions("sst2", prompts)
    assert len(descs) == 2 and "positive or negative" in descs[1] and "sentiment" in descs[1]
