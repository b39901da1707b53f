"""The playground's view inside Jupyter, with no server: a loaded spec or a lowered model displays its
stage-level diagram and its per-stage cost table (IPython's rich display protocol, `_repr_html_`).

    import archc
    archc.load("specs/resnet50.yaml")        # in a notebook cell: diagram + table
    archc.lower("cifar/resnet56")            # the same for a lowered model

Every piece of spec text is HTML-escaped; the SVG comes from Graphviz with archc's own escaping, and is
checked like the playground's (no script, no event handler). Without Graphviz the table is shown alone.
"""
from __future__ import annotations

from html import escape
from typing import Any

from archc.errors import ArchcError
from archc.formats import shape_text

STYLE = ("<style>.archc-view table{border-collapse:collapse;font-size:12px}.archc-view td,.archc-view th"
         "{padding:2px 6px;border-bottom:1px solid #ddd;text-align:left}.archc-view td.num,.archc-view th.num"
         "{text-align:right}.archc-view .total td{font-weight:bold}</style>")


def _shape(shape: Any) -> str:
    return shape_text(shape, "times")


def cost_table_html(model: Any) -> str:
    from archc.analysis.complexity import complexity

    c = complexity(model)
    head = "".join(f'<th class="num">{h}</th>' if h in ("params", "MACs", "share") else f"<th>{h}</th>"
                   for h in ("stage", "kind", "input", "output", "params", "MACs", "share"))
    rows = [f"<tr>{head}</tr>"]
    for s in c["stages"]:
        rows.append(f"<tr><td>{escape(s['name'])}</td><td>{escape(str(s['kind']))}</td><td>{_shape(s['input'])}</td>"
                    f"<td>{_shape(s['output'])}</td><td class=\"num\">{s['params']:,}</td>"
                    f"<td class=\"num\">{s['macs']:,}</td><td class=\"num\">{100 * s['share_macs']:.1f}%</td></tr>")
    t = c["total"]
    rows.append(f'<tr class="total"><td>total</td><td></td><td>{_shape(model.input_shape)}</td><td></td>'
                f'<td class="num">{t["params"]:,}</td><td class="num">{t["macs"]:,}</td><td class="num">100%</td></tr>')
    return "<table>" + "".join(rows) + "</table>"


def diagram_html(model: Any, level: str = "stage") -> str:
    from archc.render.tool import GraphvizMissing
    from archc.serve.jobs import diagram_svg

    try:
        return f'<div class="archc-diagram">{diagram_svg(model, level, "")}</div>'
    except GraphvizMissing as exc:
        return f"<p><i>No diagram: {escape(exc.message)}</i></p>"


def model_html(model: Any, level: str = "stage") -> str:
    """Diagram and cost table of a lowered model, as one HTML fragment."""
    cost = model.cost
    title = (f"<p><b>{escape(model.title)}</b> ({escape(model.name)}): {cost.params:,} params · "
             f"{cost.macs:,} MACs · input {_shape(model.input_shape)}</p>")
    return (f'{STYLE}<div class="archc-view">{title}{diagram_html(model, level)}'
            f"{cost_table_html(model)}</div>")


def spec_html(spec: Any) -> str:
    """A loaded Spec: lowered, then shown as model_html; a spec that does not lower shows archc's error."""
    from archc.api import lower

    try:
        model = lower(spec)
    except ArchcError as exc:
        return f'<pre class="archc-error">{escape(exc.format())}</pre>'
    return model_html(model)
