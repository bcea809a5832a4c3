"""POST /v1/classify on a live server: probabilities per choice for the base model and an
adapter (checked against the evaluation code run on an independently loaded model), the
`calibrated` mark, calibration as dnd.evaluation.calibration computes it, the prior cache,
and bad requests as 4xx JSON naming the field."""

from __future__ import annotations

import json

import pytest
from serve_live import BOOLQ_LIKE, SST2_LIKE, chat, data_dir, make_adapter, server  # noqa: F401 (fixtures)

CHOICES = ["positive", "negative"]
PROMPT = "Review: a gorgeous film, witty acting.\nIs this review positive or negative?"


def classify(client, **body) -> dict:
    r = client.post("/v1/classify", json={"prompt": PROMPT, "choices": CHOICES, **body})
    assert r.status_code == 200, r.text
    return r.json()


def probs(out: dict) -> list[float]:
    return [c["probability"] for c in out["choices"]]


@pytest.fixture(scope="module")
def reference(tiny_model):
    """Scores and calibrations from the evaluation code on a model loaded apart from the
    server's: the base model, or the PEFT directory of an adapter."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from dnd.evaluation.calibration import estimate, norm_scores
    from dnd.evaluation.scoring import choice_logprobs
    from dnd.tasks.items import Item

    tok = AutoTokenizer.from_pretrained(tiny_model)

    def model_of(adapter_dir):
        base = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
        return PeftModel.from_pretrained(base, adapter_dir).eval() if adapter_dir else base

    def run(adapter_dir=None, prompt=PROMPT, choices=CHOICES, cal_prompts=None):
        model = model_of(adapter_dir)
        norm = norm_scores(choice_logprobs(model, tok, [Item(prompt=prompt, choices=tuple(choices))])[0])
        cal = estimate(model, tok, cal_prompts, tuple(choices)) if cal_prompts else None
        return norm, cal

    return run


def test_probabilities_of_the_base_model_and_an_adapter(server, reference):
    from dnd.evaluation.calibration import probabilities

    before = chat(server.client, "base", "Is it good?")
    aid = make_adapter(server.client, SST2_LIKE)["id"]
    seen = {}
    for model, adapter_dir in (("base", None), (aid, server.svc.store.root / aid)):
        out = classify(server.client, model=model)
        assert out["object"] == "classification" and out["model"] == model
        assert not out["calibrated"] and out["calibration"] is None
        assert [c["choice"] for c in out["choices"]] == CHOICES
        assert sum(probs(out)) == pytest.approx(1.0, abs=1e-9)
        norm, _ = reference(adapter_dir)
        assert [c["logprob"] for c in out["choices"]] == pytest.approx(norm, abs=1e-4)
        assert probs(out) == pytest.approx(probabilities(None, CHOICES, norm), abs=1e-5)
        assert out["prediction"] == CHOICES[max(range(2), key=probs(out).__getitem__)]
        seen[model] = [c["logprob"] for c in out["choices"]]
    assert seen["base"] != pytest.approx(seen[aid], abs=1e-6)  # the adapter was really swapped in
    assert classify(server.client)["choices"] == classify(server.client, model="base")["choices"]  # default: base
    assert chat(server.client, "base", "Is it good?") == before  # scoring left the base model as it was


def test_a_marked_adapter_calibrates_from_its_prompts(server, reference):
    from dnd.evaluation.calibration import probabilities

    created = make_adapter(server.client, BOOLQ_LIKE, calibrated=True)
    aid = created["id"]
    assert created["calibrated"]
    assert json.loads((server.svc.store.root / aid / "dnd_generation.json").read_text())["calibrated"] is True
    assert {a["id"]: a["calibrated"] for a in server.client.get("/v1/adapters").json()["data"]}[aid] is True
    choices = ["yes", "no"]
    cal_out = classify(server.client, model=aid, choices=choices, prompt=BOOLQ_LIKE[0])
    plain = classify(server.client, model=aid, choices=choices, prompt=BOOLQ_LIKE[0], calibrate=False)
    assert cal_out["calibrated"] and not plain["calibrated"]
    assert cal_out["calibration"]["rule"] == "batch" and cal_out["calibration"]["n_prompts"] == len(BOOLQ_LIKE)
    assert sum(probs(cal_out)) == pytest.approx(1.0, abs=1e-9)

    norm, cal = reference(server.svc.store.root / aid, BOOLQ_LIKE[0], choices, BOOLQ_LIKE)
    assert cal_out["calibration"]["prior"] == pytest.approx(list(cal.prior), abs=1e-5)
    assert probs(cal_out) == pytest.approx(probabilities(cal, choices, norm), abs=1e-5)
    assert probs(plain) == pytest.approx(probabilities(None, choices, norm), abs=1e-5)
    # dividing out the prior moves probability away from the choice the model favours anyway
    favoured = max(range(2), key=cal.prior.__getitem__)
    assert cal.prior[favoured] > 0.5 and probs(cal_out)[favoured] < probs(plain)[favoured]
    assert [c["logprob"] for c in cal_out["choices"]] == [c["logprob"] for c in plain["choices"]]


def test_priors_are_cached_per_label_set(server):
    priors = server.svc.priors
    cal_prompts = SST2_LIKE[:5]
    first = classify(server.client, calibration_prompts=cal_prompts)  # base model, prompts given: calibrated
    assert first["calibrated"] and first["calibration"]["n_prompts"] == 5
    hits, misses, size = priors.hits, priors.misses, len(priors)
    swapped = classify(server.client, calibration_prompts=cal_prompts, choices=CHOICES[::-1])
    assert (priors.hits, priors.misses, len(priors)) == (hits + 1, misses, size)  # same label set: no estimate
    assert probs(swapped) == pytest.approx(probs(first)[::-1], abs=1e-9)
    other = classify(server.client, calibration_prompts=cal_prompts, calibration_rule="domain")
    assert (priors.misses, len(priors)) == (misses + 1, size + 1) and other["calibration"]["rule"] == "domain"
    assert probs(other) != pytest.approx(probs(first), abs=1e-9)
    plain = classify(server.client, calibration_prompts=cal_prompts, calibrate=False)
    assert not plain["calibrated"] and probs(plain) != pytest.approx(probs(first), abs=1e-9)


def test_the_mark_can_change(server):
    aid = make_adapter(server.client, SST2_LIKE[:4])["id"]
    assert not server.client.get(f"/v1/adapters/{aid}").json()["calibrated"]
    assert not classify(server.client, model=aid)["calibrated"]
    r = server.client.patch(f"/v1/adapters/{aid}", json={"calibrated": True})
    assert r.status_code == 200 and r.json()["calibrated"]
    assert server.client.get(f"/v1/adapters/{aid}").json()["calibrated"]
    assert classify(server.client, model=aid)["calibration"]["n_prompts"] == 4
    again = make_adapter(server.client, SST2_LIKE[:4], calibrated=False)  # re-posting re-marks a cached adapter
    assert again["cached"] and not again["calibrated"] and not classify(server.client, model=aid)["calibrated"]
    assert make_adapter(server.client, SST2_LIKE[:4])["calibrated"] is False  # no flag: left as it is

    described = make_adapter(server.client, None, description="Say whether a review is positive.")["id"]
    for r in (server.client.patch(f"/v1/adapters/{described}", json={"calibrated": True}),
              server.client.post("/v1/adapters", json={"description": "Another task.", "calibrated": True}),
              server.client.post("/v1/classify", json={"model": described, "prompt": "x", "choices": CHOICES,
                                                       "calibrate": True})):
        assert r.status_code == 400 and r.json()["error"]["param"] in ("calibrated", "calibration_prompts"), r.text
    for body, status, param in (({"calibrated": [1]}, 400, "calibrated"), ({}, 400, "calibrated"),
                                ({"calibrated": True, "name": "x"}, 400, "name")):
        r = server.client.patch(f"/v1/adapters/{aid}", json=body)
        assert r.status_code == status and r.json()["error"]["param"] == param, r.text
    r = server.client.patch("/v1/adapters/dnd-00000000000000000000", json={"calibrated": True})
    assert r.status_code == 404 and r.json()["error"]["param"] == "id"


OK = {"prompt": PROMPT, "choices": CHOICES}
BAD = [
    ({"prompt": PROMPT}, 400, "choices"),
    ({**OK, "choices": "positive"}, 400, "choices"),
    ({**OK, "choices": {"a": 1}}, 400, "choices"),
    ({**OK, "choices": ["positive"]}, 400, "choices"),
    ({**OK, "choices": []}, 400, "choices"),
    ({**OK, "choices": ["yes", "no", "yes"]}, 400, "choices"),
    ({**OK, "choices": [f"c{i}" for i in range(65)]}, 400, "choices"),
    ({**OK, "choices": ["yes", 5]}, 400, "choices[1]"),
    ({**OK, "choices": ["yes", None]}, 400, "choices[1]"),
    ({**OK, "choices": ["yes", " "]}, 400, "choices[1]"),
    ({"choices": CHOICES}, 400, "prompt"),
    ({**OK, "prompt": ""}, 400, "prompt"),
    ({**OK, "prompt": "  \n"}, 400, "prompt"),
    ({**OK, "prompt": 3}, 400, "prompt"),
    ({**OK, "prompt": "w " * 240}, 400, "prompt"),
    ({**OK, "model": "dnd-00000000000000000000"}, 404, "model"),
    ({**OK, "model": "../../etc/passwd"}, 400, "model"),
    ({**OK, "model": ""}, 400, "model"),
    ({**OK, "calibrate": True}, 400, "calibration_prompts"),
    ({**OK, "calibration_prompts": []}, 400, "calibration_prompts"),
    ({**OK, "calibration_prompts": ["", " "]}, 400, "calibration_prompts"),
    ({**OK, "calibration_prompts": "one prompt"}, 400, "calibration_prompts"),
    ({**OK, "calibration_prompts": ["p"] * 51}, 400, "calibration_prompts"),
    ({**OK, "calibration_prompts": ["ok", "x" * 501]}, 400, "calibration_prompts[1]"),
    ({**OK, "calibration_rule": "median"}, 400, "calibration_rule"),
    ({**OK, "temperature": 0}, 400, "temperature"),
]


@pytest.mark.parametrize("body,status,param", BAD, ids=[f"{b[2]}-{i}" for i, b in enumerate(BAD)])
def test_bad_requests_are_4xx_json_naming_the_field(server, body, status, param):
    r = server.client.post("/v1/classify", json=body)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["param"] == param and err["message"].startswith(param), err
