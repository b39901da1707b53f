"""The web app over HTTP (Starlette's test client, real worker processes): API, limits, headers."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from archc.serve import jobs
from archc.serve.app import STATIC, ServeConfig, create_app
from serve_helpers import EDITOR_CASES, check_located, corpus_text

HOSTS = ("testserver", "127.0.0.1", "localhost")


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(ServeConfig(workers=2, time_limit=20.0, allowed_hosts=HOSTS))) as c:
        yield c


def analyze(client, text, **extra):
    """As the page sends it (json.dumps escapes lone surrogates, which the corpus's non-UTF-8 bytes become)."""
    return client.post("/api/analyze", content=json.dumps({"text": text, **extra}),
                       headers={"content-type": "application/json"})


def test_page_and_static_files_with_security_headers(client):
    page = client.get("/")
    assert page.status_code == 200 and "archc playground" in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["x-frame-options"] == "DENY"
    for asset in ("app.js", "diagram.js", "panels.js", "app.css", "vendor/codemirror/codemirror.js",
                  "vendor/codemirror/yaml.js"):
        assert client.get(f"/static/{asset}").status_code == 200, asset
    assert "MIT" in (STATIC / "vendor" / "codemirror" / "LICENSE").read_text()
    assert client.get("/static/../jobs.py").status_code == 404


def test_the_page_fetches_nothing_from_elsewhere():
    for path in STATIC.rglob("*"):
        if path.suffix in (".html", ".js", ".css") and "vendor" not in path.parts:
            text = path.read_text()
            assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text, path


def test_gallery_spec_and_schema(client):
    assert "cifar/resnet110" in client.get("/api/gallery").json()["specs"]
    assert client.get("/api/spec/cifar/resnet20").json()["text"].startswith("archc: 1")
    assert client.get("/api/spec/../pyproject").status_code == 404
    assert "residual" in client.get("/api/schema").json()["keys"]


def test_analyze_valid_and_invalid(client):
    ok = analyze(client, jobs.gallery_text("resnet18"), origin="resnet18").json()
    assert ok["ok"] and ok["cost"]["total"]["params"] == 11_689_512
    bad = analyze(client, "archc: 1\nname: x\nstages:\n  - residual: {block: basic, width: -3, blocks: 2}\n").json()
    assert not bad["ok"] and (bad["error"]["line"], bad["error"]["col"]) == (4, 37)


@pytest.mark.parametrize("headers,body,status", [
    ({"content-type": "text/plain"}, b'{"text": ""}', 400),  # a cross-site form cannot send JSON without preflight
    ({"content-type": "application/json"}, b"{not json", 400),
    ({"content-type": "application/json"}, b'{"text": "' + b"x" * 2_100_000 + b'"}', 400),
    ({"content-type": "application/json", "host": "evil.example"}, b'{"text": ""}', 400),  # DNS rebinding
])
def test_refused_requests(client, headers, body, status):
    assert client.post("/api/analyze", content=body, headers=headers).status_code == status


def test_hostile_corpus_each_located_and_server_responsive(client):
    for name in EDITOR_CASES:
        started = time.monotonic()
        result = analyze(client, corpus_text(name)).json()
        assert not result["ok"], name
        check_located(name, result["error"])
        assert time.monotonic() - started < 5, name
        assert client.get("/api/health").json() == {"ok": True}


def test_xss_text_comes_back_as_data_never_markup(client):
    text = ('archc: 1\nname: xss  # <script>alert("comment")</script>\n'
            'title: "<script>alert(1)</script><img src=x onerror=alert(2)>"\n'
            'description: "</svg><script>alert(3)</script>"\n'
            "stages:\n  - residual: {block: basic, width: 8, blocks: 1}\n")
    result = analyze(client, text).json()
    assert result["ok"], result
    assert result["title"] == "<script>alert(1)</script><img src=x onerror=alert(2)>"
    svg = result["svg"]
    assert "<script" not in svg and "<img" not in svg and "&lt;script&gt;alert(1)" in svg


def _session_members(sid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":  # session id (field 6); zombies have ended
                members.append(int(entry.name))
    return members


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_time_limit_kills_the_worker_and_its_dot_and_the_server_goes_on():
    config = ServeConfig(workers=1, time_limit=1.0, allowed_hosts=HOSTS)
    with TestClient(create_app(config)) as c:
        pool = c.app.state.archc.pool
        old = pool._all[0].process.pid
        started = time.monotonic()
        slow = c.post("/api/analyze", json={"text": jobs.gallery_text("cifar/resnet110"), "origin": "cifar/resnet110",
                                            "overrides": ["vars.n=200"], "level": "layer"})
        assert slow.status_code == 503 and "took longer than 1 s" in slow.json()["error"]["message"]
        assert time.monotonic() - started < 15
        assert pool.replaced == 1 and pool._all[0].process.pid != old
        deadline = time.monotonic() + 10
        while _session_members(old) and time.monotonic() < deadline:  # SIGKILL is delivered, not awaited
            time.sleep(0.1)
        assert _session_members(old) == []  # the worker and the `dot` it ran are gone
        assert c.post("/api/analyze", json={"text": jobs.gallery_text("resnet18")}).json()["ok"]


def test_downloads(client):
    text = jobs.gallery_text("cifar/resnet20")
    pdf = client.post("/api/download/pdf", json={"text": text, "origin": "cifar/resnet20"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-disposition"] == 'attachment; filename="resnet20.pdf"'
    py = client.post("/api/download/py", json={"text": text, "origin": "cifar/resnet20"})
    assert py.status_code == 200 and "class Resnet20" in py.text and "import torch" in py.text
    compile(py.text, "resnet20.py", "exec")
    assert client.post("/api/download/exe", json={"text": text}).status_code == 400
    assert client.post("/api/download/pdf", json={"text": "name: ["}).status_code == 422


def test_compare(client):
    body = {"a": {"text": jobs.gallery_text("plain34")}, "b": {"text": jobs.gallery_text("resnet34")}}
    result = client.post("/api/compare", json=body).json()
    assert result["ok"] and result["totals"]["paths"][0] == "1" and result["raw"]["b"]["paths"] == "65,536"
    body["b"]["text"] = "name: ["
    bad = client.post("/api/compare", json=body).json()
    assert not bad["ok"] and bad["error"]["message"].startswith("spec B: spec.yaml:2:1: invalid YAML")


def test_nothing_left_in_the_temp_folder(client, tmp_path):
    before = {p.name for p in Path(os.environ.get("TMPDIR", "/tmp")).glob("archc-serve-*")}
    analyze(client, jobs.gallery_text("cifar/resnet20"), origin="cifar/resnet20")
    analyze(client, "name: [")
    after = {p.name for p in Path(os.environ.get("TMPDIR", "/tmp")).glob("archc-serve-*")}
    assert after <= before
