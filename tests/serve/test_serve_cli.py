"""`archc serve` from the command line, and the notebook view (no server)."""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from click.testing import CliRunner

import archc
from archc.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_help_stays_light_and_lists_serve():
    code = ("import sys\nfrom archc.__main__ import run\nsys.argv = ['archc', '--help']\n"
            "try:\n    run()\nexcept SystemExit:\n    pass\n"
            "print('HEAVY', [m for m in ('starlette', 'uvicorn', 'torch', 'archc.serve') if m in sys.modules], file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "  serve " in done.stdout
    assert done.stderr.strip().splitlines()[-1] == "HEAVY []", done.stderr


def test_bad_spec_and_bad_port_are_one_line_exit_2():
    result = CliRunner().invoke(main, ["serve", "no/such/spec"])
    assert result.exit_code == 2 and result.output.startswith("archc: error: no/such/spec: no such spec")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", "resnet18", "--port", str(port)])
    assert result.exit_code == 2 and f"cannot listen on 127.0.0.1:{port}" in result.output, result.output


def test_serve_prints_its_url_answers_and_stops_on_ctrl_c():
    proc = subprocess.Popen([sys.executable, "-m", "archc", "serve", "cifar/resnet20", "--port", "0", "--workers", "1"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("archc serve: http://127.0.0.1:"), line
        url = line.split()[2]
        for _ in range(300):  # the workers start before the first request is answered
            try:
                with urllib.request.urlopen(url + "api/config", timeout=30) as response:
                    config = json.load(response)
                break
            except OSError:
                import time

                time.sleep(0.1)
        assert config["initial"]["origin"] == "cifar/resnet20" and "extends" in config["initial"]["text"]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode in (0, 130), proc.stderr.read()


def test_non_loopback_host_warns():
    from archc.serve.cli import _is_loopback

    assert _is_loopback("127.0.0.1") and _is_loopback("localhost") and _is_loopback("::1")
    assert not _is_loopback("0.0.0.0") and not _is_loopback("192.168.1.2")


def test_notebook_display_of_spec_and_model_escapes_spec_text():
    text = ('archc: 1\nname: xss\ntitle: "<script>alert(1)</script>"\n'
            "stages:\n  - residual: {block: basic, width: 8, blocks: 1}\n")
    spec = archc.loads(text)
    html = spec._repr_html_()
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<svg" in html and "<table>" in html
    model = archc.lower(archc.load("resnet18"))
    html = model._repr_html_()
    assert "11,689,512" in html and 'id="stage3"' in html


def test_notebook_display_of_a_spec_that_does_not_lower_shows_the_error():
    spec = archc.load(ROOT / "tests" / "bad_specs" / "kernel_too_big.yaml")  # validates, does not lower
    html = spec._repr_html_()
    assert html.startswith('<pre class="archc-error">') and "does not fit the 4x4 input" in html
