"""adapter_config.json without peft: the same content as LoraConfig.save_pretrained, from a
cache after the first use (so `dnd generate` need not import peft), robust to a bad cache."""

from __future__ import annotations

import json

import pytest

from dnd.artifacts import ADAPTER_CONFIG
from dnd.lora.io import peft_config_dict, write_adapter_config
from dnd.lora.settings import LoraSettings

LORA = LoraSettings(r=16, lora_alpha=32)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DND_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "peft_configs"


def test_written_config_is_peft_own(tmp_path):
    from peft import LoraConfig

    want = LORA.to_peft()
    want.base_model_name_or_path = "some-base"
    want.save_pretrained(tmp_path / "peft")
    write_adapter_config(LORA, "some-base", tmp_path / "ours")
    a, b = (json.loads((tmp_path / d / ADAPTER_CONFIG).read_text()) for d in ("peft", "ours"))
    assert sorted(a.pop("target_modules")) == sorted(b.pop("target_modules"))  # peft: a set, in hash order
    assert a == b and b["r"] == 16 and b["base_model_name_or_path"] == "some-base" and b["peft_type"] == "LORA"
    loaded = LoraConfig.from_pretrained(tmp_path / "ours")
    assert loaded.target_modules == set(LORA.target_modules) and loaded.lora_alpha == 32
    ours = (tmp_path / "ours" / ADAPTER_CONFIG).read_text()
    assert ours == json.dumps(json.loads(ours), indent=2, sort_keys=True)  # save_pretrained's layout
    assert json.loads(ours)["target_modules"] == list(LORA.target_modules)  # stable between runs


def test_later_writes_come_from_the_cache_without_peft(cache, monkeypatch):
    first = peft_config_dict(LORA, "a")
    assert len(list(cache.glob("*.json"))) == 1

    def no_peft(self):
        raise AssertionError("peft imported although the cache holds this config")

    monkeypatch.setattr(LoraSettings, "to_peft", no_peft)
    assert peft_config_dict(LORA, "b") == {**first, "base_model_name_or_path": "b"}
    with pytest.raises(AssertionError, match="peft imported"):  # other settings: another entry
        peft_config_dict(LoraSettings(r=4, lora_alpha=8), "a")


def test_a_damaged_cache_entry_is_computed_again(cache):
    want = peft_config_dict(LORA, "a")
    (entry,) = cache.glob("*.json")
    entry.write_text("{not json")
    assert peft_config_dict(LORA, "a") == want
    assert json.loads(entry.read_text())["r"] == 16  # and replaced
