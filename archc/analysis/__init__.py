"""Static analyses of a lowered model: complexity (cross-checked by fvcore), bottleneck savings,
paths, signal propagation at init, and the reports that gather them.

    from archc.analysis import analyze
    report = analyze(archc.lower("specs/resnet50.yaml"))   # JSON-ready dict
"""
from archc.analysis.complexity import complexity
from archc.analysis.initprop import InitConfig, init_propagation
from archc.analysis.paths import PathResult, path_counts, share_in_window
from archc.analysis.report import ReportOptions, build_report as analyze, write_report
from archc.analysis.savings import bottleneck_savings, mac_formula

__all__ = ["analyze", "complexity", "bottleneck_savings", "mac_formula", "path_counts", "share_in_window",
           "PathResult", "init_propagation", "InitConfig", "ReportOptions", "write_report", "fvcore_crosscheck"]


def fvcore_crosscheck(model, seed: int = 0):  # noqa: ANN001, ANN201 - lazy: fvcore and torch load on use
    """Analytic conv/fc MACs vs fvcore's FlopCountAnalysis on the compiled module (see crosscheck.py)."""
    from archc.analysis.crosscheck import fvcore_crosscheck as run

    return run(model, seed)
