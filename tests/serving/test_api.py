"""`dnd serve`'s HTTP API on a live localhost server: every endpoint, errors as 4xx JSON
naming the field, ids (content-derived, no traversal), limits, persistence across a restart."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import zipfile

import pytest

from serve_live import BOOLQ_LIKE, SST2_LIKE, LiveServer, chat, data_dir, make_adapter, server  # noqa: F401 (fixtures)


def test_page_server_and_models(server):
    page = server.client.get("/")
    assert page.status_code == 200 and 'id="drop"' in page.text and "/page/app.js" in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # no CDN: every resource is local
    js = server.client.get("/page/app.js")
    assert js.status_code == 200 and "dataTransfer" in js.text
    info = server.client.get("/v1/server").json()
    assert info["generator_tasks"] == ["sst2", "boolq"] and info["note_tasks"] == ["sst2", "boolq"]
    assert info["limits"]["max_prompts"] == 50
    models = server.client.get("/v1/models").json()
    assert models["object"] == "list" and models["data"][0]["id"] == "base"
    assert server.client.get("/v1/models/base").json()["id"] == "base"


def test_create_is_content_addressed_and_writes_a_peft_dir(server, tiny_model):
    a = make_adapter(server.client, SST2_LIKE, name="reviews")
    assert a["id"].startswith("dnd-") and len(a["id"]) == 24 and not a["cached"]
    assert a["n_prompts"] == len(SST2_LIKE) and a["name"] == "reviews"
    assert a["timings"]["generate_s"] > 0 and "encode_s" in a["timings"]
    sims = [n["similarity"] for n in a["nearest"]]
    assert {n["task"] for n in a["nearest"]} == {"sst2", "boolq"} and sims == sorted(sims, reverse=True)
    assert a["far"] == (sims[0] < a["far_threshold"])
    again = make_adapter(server.client, SST2_LIKE, name="another label")
    assert again["id"] == a["id"] and again["cached"] and again["created"] == a["created"]
    assert make_adapter(server.client, SST2_LIKE, seed=1)["id"] != a["id"]
    assert make_adapter(server.client, SST2_LIKE[:-1])["id"] != a["id"]

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    d = server.svc.store.root / a["id"]
    peft = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), d)
    assert peft.peft_config["default"].r == server.svc.generator.lora.r
    assert json.loads((d / "dnd_prompts.json").read_text())["prompts"] == SST2_LIKE
    assert not [p for p in server.svc.store.root.iterdir() if p.name.startswith(".")]  # no temp dirs left


def test_file_uploads(server):
    txt = make_adapter(server.client, None, file={"name": "p.txt", "content": "\n".join(BOOLQ_LIKE) + "\n\n"})
    assert txt["n_prompts"] == len(BOOLQ_LIKE)
    rows = "\n".join(json.dumps({"prompt": p, "answer": "yes"}) for p in BOOLQ_LIKE)
    jsonl = make_adapter(server.client, None, file={"name": "p.jsonl", "content": rows})
    assert jsonl["id"] == txt["id"] and jsonl["cached"]  # same prompts, same adapter: labels ignored
    only_description = make_adapter(server.client, None, description="Answer yes/no questions about a passage.")
    assert only_description["n_prompts"] == 0 and only_description["description_use"] == "prompt"
    bad = server.client.post("/v1/adapters", json={"file": {"name": "p.jsonl", "content": '{"prompt": "a"}\n{oops\n'}})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "file.content"
    assert "p.jsonl:2" in bad.json()["error"]["message"]


def test_get_list_download_delete(server):
    a = make_adapter(server.client, BOOLQ_LIKE[:5])
    got = server.client.get(f"/v1/adapters/{a['id']}").json()
    assert got["id"] == a["id"] and got["size_bytes"] > 0
    assert a["id"] in [x["id"] for x in server.client.get("/v1/adapters").json()["data"]]
    assert a["id"] in [m["id"] for m in server.client.get("/v1/models").json()["data"]]
    z = server.client.get(f"/v1/adapters/{a['id']}/download")
    assert z.status_code == 200 and z.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(z.content)) as zf:
        names = set(zf.namelist())
        assert {f"{a['id']}/adapter_config.json", f"{a['id']}/adapter_model.safetensors"} <= names
        weights = zf.read(f"{a['id']}/adapter_model.safetensors")
    assert weights == (server.svc.store.root / a["id"] / "adapter_model.safetensors").read_bytes()
    assert chat(server.client, a["id"], "hi")  # loaded into the engine before the delete
    assert server.client.delete(f"/v1/adapters/{a['id']}").json()["deleted"]
    assert not (server.svc.store.root / a["id"]).exists()
    for r in (server.client.get(f"/v1/adapters/{a['id']}"), server.client.delete(f"/v1/adapters/{a['id']}"),
              server.client.post("/v1/chat/completions", json={"model": a["id"], "messages": [{"role": "user", "content": "x"}]})):
        assert r.status_code == 404 and r.json()["error"]["param"] in ("id", "model")


MSG = [{"role": "user", "content": "hello"}]
BAD = [
    ("post", "/v1/adapters", {}, 400, "prompts"),
    ("post", "/v1/adapters", {"prompts": "one string"}, 400, "prompts"),
    ("post", "/v1/adapters", {"prompts": ["x"], "seed": -1}, 400, "seed"),
    ("post", "/v1/adapters", {"prompts": ["x"], "colour": "red"}, 400, "colour"),
    ("post", "/v1/adapters", {"file": {"name": "p.csv", "content": "a"}}, 400, "file.name"),
    ("post", "/v1/adapters", {"file": {"content": "a"}}, 400, "file.name"),
    ("post", "/v1/adapters", {"prompts": ["p"] * 51}, 400, "prompts"),
    ("post", "/v1/adapters", {"prompts": ["ok", "x" * 501]}, 400, "prompts[1]"),
    ("post", "/v1/adapters", {"prompts": ["ok"], "description": "d" * 301}, 400, "description"),
    ("post", "/v1/adapters", {"prompts": ["x" * 400] * 200}, 413, "body"),
    ("get", "/v1/adapters/dnd-NOTHEX0000000000000", None, 400, "id"),
    ("get", "/v1/adapters/%2E%2E", None, 400, "id"),
    ("get", "/v1/adapters/dnd-0123456789abcdef0123%0A", None, 400, "id"),
    ("get", "/v1/adapters/dnd-00000000000000000000/download", None, 404, "id"),
    ("delete", "/v1/adapters/.%2E", None, 400, "id"),
    ("post", "/v1/chat/completions", {"messages": MSG}, 400, "model"),
    ("post", "/v1/chat/completions", {"model": "../../etc/passwd", "messages": MSG}, 400, "model"),
    ("post", "/v1/chat/completions", {"model": "dnd-00000000000000000000", "messages": MSG}, 404, "model"),
    ("post", "/v1/chat/completions", {"model": "base", "messages": []}, 400, "messages"),
    ("post", "/v1/chat/completions", {"model": "base", "messages": [{"role": "robot", "content": "x"}]}, 400, "messages[0].role"),
    ("post", "/v1/chat/completions", {"model": "base", "messages": [{"role": "user"}]}, 400, "messages[0].content"),
    ("post", "/v1/chat/completions", {"model": "base", "messages": MSG, "max_tokens": 65}, 400, "max_tokens"),
    ("post", "/v1/chat/completions", {"model": "base", "messages": MSG, "max_tokens": 0}, 400, "max_tokens"),
    ("post", "/v1/chat/completions", {"model": "base", "messages": MSG, "temperature": 5}, 400, "temperature"),
    ("post", "/v1/chat/completions", {"model": "base", "messages": MSG, "n": 2}, 400, "n"),
    ("post", "/v1/chat/completions", {"model": "base", "messages": [{"role": "user", "content": "w " * 300}]}, 400, "messages"),
    ("post", "/v1/completions", {"model": "base"}, 400, "prompt"),
    ("post", "/v1/completions", {"model": "base", "prompt": ["a", "b"]}, 400, "prompt"),
    ("post", "/v1/completions", {"model": "base", "prompt": "x", "stop": ["", "y"]}, 400, "stop"),
]


@pytest.mark.parametrize("method,path,body,status,param", BAD, ids=[f"{b[1]}-{b[4]}-{i}" for i, b in enumerate(BAD)])
def test_bad_requests_are_4xx_json_naming_the_field(server, method, path, body, status, param):
    r = server.client.request(method.upper(), path, json=body)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["param"] == param and err["message"].startswith(param), err


def test_invalid_json_and_unknown_route(server):
    r = server.client.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "body"
    for path in ("/v1/nothing", "/v1/adapters/..%2F..%2Fetc%2Fpasswd", "/v1/adapters/%2E%2E%2Fserve_data/download"):
        r = server.client.get(path)
        assert r.status_code in (400, 404) and "error" in r.json(), (path, r.text)


def test_chunked_body_over_the_limit(server):
    body = json.dumps({"prompts": ["x" * 400] * 200}).encode()  # 80 kB, over the 64 KiB limit
    r = server.client.post("/v1/adapters", content=iter([body[i:i + 8192] for i in range(0, len(body), 8192)]),
                           headers={"content-type": "application/json"})  # no Content-Length: chunked
    assert r.status_code == 413 and r.json()["error"]["param"] == "body"


BIG = 20 * 1000 * 1000  # a 20 MB upload, far over the 64 KiB limit


def _post(url: str, data) -> tuple[int, dict]:
    """POST with urllib, which sends the whole body before it reads the answer (a server that
    answers early and closes resets such a client's connection)."""
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_a_20_mb_upload_gets_a_readable_413(server):
    """The client sends the whole body and then reads the 413 JSON, not a reset connection."""
    status, body = _post(f"{server.url}/v1/adapters", b"x" * BIG)
    assert status == 413 and body["error"]["param"] == "body" and f"{BIG} bytes" in body["error"]["message"]
    chunks = iter([b"x" * (1 << 20)] * (BIG >> 20))  # an iterable: sent chunked, no Content-Length
    status, body = _post(f"{server.url}/v1/adapters", chunks)
    assert status == 413 and "--max-body-bytes" in body["error"]["message"]
    assert server.client.get("/v1/models").status_code == 200  # and the server is fine


def test_expect_100_continue_is_refused_before_the_body(server):
    """A client that asks first (Expect: 100-continue) gets the 413 without sending the body."""
    import socket

    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(f"POST /v1/adapters HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {BIG}\r\nExpect: 100-continue\r\n\r\n".encode())
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            data = sock.recv(65536)
            if not data:
                break
            reply += data
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413") and b"100 Continue" not in head
    assert json.loads(body)["error"]["param"] == "body"


def test_generation_limits_and_timeouts(server):
    from dnd.serving.chat import GenParams
    from dnd.serving.errors import ApiError

    engine = server.svc.engine
    ids = engine.chat_ids(MSG)
    with pytest.raises(ApiError) as late:
        engine.submit(None, ids, GenParams(max_new_tokens=4), deadline=time.monotonic() - 1).result()
    assert late.value.status == 503 and late.value.code == "timeout"
    engine.max_queue, saved = 0, engine.max_queue
    try:
        r = server.client.post("/v1/chat/completions", json={"model": "base", "messages": MSG})
        assert r.status_code == 503 and r.json()["error"]["code"] == "queue_full"
    finally:
        engine.max_queue = saved
    r = server.client.post("/v1/completions", json={"model": "base", "prompt": "Once", "max_tokens": 5})
    assert r.json()["usage"]["completion_tokens"] <= 5


def test_adapters_survive_a_restart(server, tiny_generator, data_dir):
    a = make_adapter(server.client, SST2_LIKE[:6])
    answer = chat(server.client, a["id"], "Is this good?")
    server2 = LiveServer(tiny_generator, data_dir)  # a fresh process state over the same data dir
    try:
        assert a["id"] in [x["id"] for x in server2.client.get("/v1/adapters").json()["data"]]
        assert chat(server2.client, a["id"], "Is this good?") == answer
        again = make_adapter(server2.client, SST2_LIKE[:6])
        assert again["id"] == a["id"] and again["cached"]
    finally:
        server2.stop()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_errors_are_one_line(tmp_path, tiny_generator):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for args, needle in ((["--generator", str(tiny_generator), "--port", str(port)], "--port"),
                             (["--generator", str(tmp_path / "none"), "--port", str(free_port())], "--generator")):
            r = subprocess.run([sys.executable, "-m", "dnd.cli", "serve", *args, "--data", str(tmp_path / "d")],
                               capture_output=True, text=True, timeout=120)
            assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
            assert needle in r.stderr.strip().splitlines()[-1]
