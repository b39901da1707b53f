"""The malformed-spec corpus: each file gives one located error, exit code 2, no traceback."""
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

import archc
from archc.cli import main

CORPUS = Path(__file__).parent / "bad_specs"
EXPECTED = yaml.safe_load((CORPUS / "expected.yaml").read_text())


def test_corpus_is_complete():
    files = sorted(p.name for p in CORPUS.glob("*.yaml") if p.name != "expected.yaml")
    assert files == sorted(EXPECTED)
    assert len(files) >= 30


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_spec_gives_one_located_error(name):
    expected = EXPECTED[name]
    path = CORPUS / name
    with pytest.raises(archc.SpecError) as info:
        archc.lower(archc.load(path))
    message = info.value.format()
    where = CORPUS / expected.get("file", name)  # an extends cycle is reported where it closes
    prefix = f"{where}:{expected['loc']}:" if expected["loc"] else f"{where}:"
    assert message.startswith(prefix), message
    for words in expected["says"]:
        assert words in message, message
    assert "\n" not in message


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_cli_exit_code_2_without_traceback(name):
    result = CliRunner().invoke(main, ["validate", str(CORPUS / name)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.output.startswith("archc: error: ")
    assert result.output.count("archc: error:") == 1


def test_build_of_bad_spec_writes_nothing(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["build", str(CORPUS / "residual_mismatch.yaml"), "-o", str(out)])
    assert result.exit_code == 2
    assert not out.exists()
