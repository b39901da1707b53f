"""A longer fuzz campaign than the test suite runs: N mutated and N valid specs through every static stage.

    python bench/fuzz_campaign.py [N]      (default 2000 of each; results go in docs/reliability.md)
Prints how many cases ran, how many were rejected with a located ArchcError, how many passed all
stages, and every unexpected exception (the campaign's findings)."""
from __future__ import annotations

import collections
import sys
import time
import traceback
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from fuzzing import mutated_spec, valid_spec  # noqa: E402

import archc  # noqa: E402
from archc.errors import ArchcError  # noqa: E402
from archc.ir.dag import to_dag  # noqa: E402

STAGES: list = []


def _stage(name: str):
    def register(fn):
        STAGES.append((name, fn))
        return fn
    return register


@_stage("dag")
def _dag(ir):
    to_dag(ir)


@_stage("codegen")
def _codegen(ir):
    compile(archc.generate_source(ir), "generated.py", "exec")


@_stage("torch")
def _torch(ir):
    if ir.cost_with_aux().params < 200_000:
        archc.compile(ir)


def _optional_stages() -> None:
    try:
        from archc.render import dot_source
    except ImportError:
        dot_source = None
    if dot_source is not None:
        @_stage("diagram")
        def _diagram(ir):
            for level in ("stage", "block", "layer"):
                dot_source(ir, level=level)
    try:
        from archc.analysis import ReportOptions, analyze
        from archc.analysis.markdown import render_report
    except ImportError:
        analyze = None
    if analyze is not None:
        @_stage("analysis")
        def _analysis(ir):
            small = ir.cost_with_aux().params < 200_000
            render_report(analyze(ir, ReportOptions(fvcore=small, init=False)), [])


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    _optional_stages()
    counts: collections.Counter = collections.Counter()
    findings: list[str] = []

    def run(spec: dict) -> None:
        counts["cases"] += 1
        text = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
        try:
            ir = archc.lower(archc.loads(text, "fuzz.yaml"))
        except ArchcError as exc:
            counts["rejected (located ArchcError)" if exc.loc else "rejected WITHOUT location"] += 1
            return
        except Exception:  # noqa: BLE001 - a finding
            findings.append(traceback.format_exc(limit=3))
            return
        for name, fn in STAGES:
            try:
                fn(ir)
            except ArchcError:
                counts[f"rejected at {name}"] += 1
                return
            except Exception:  # noqa: BLE001 - a finding
                findings.append(f"{name}: " + traceback.format_exc(limit=3))
                return
        counts["passed every stage"] += 1

    start = time.perf_counter()
    for strategy in (valid_spec(), mutated_spec()):
        def case(spec: dict) -> None:
            run(spec)

        given(strategy)(settings(max_examples=n, deadline=None, database=None,
                                 suppress_health_check=list(HealthCheck))(case))()
    elapsed = time.perf_counter() - start
    print(f"stages: load, lower, {', '.join(name for name, _ in STAGES)}")
    for key, value in sorted(counts.items()):
        print(f"{key:<36} {value:>7}")
    print(f"{'unexpected exceptions (findings)':<36} {len(findings):>7}")
    print(f"{'seconds':<36} {elapsed:>7.1f}")
    for finding in findings[:10]:
        print("-" * 60)
        print(finding)


if __name__ == "__main__":
    main()
