// Tables and plots from the analysis JSON. Every piece of text goes in through textContent: nothing
// from a spec is ever parsed as HTML.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

export const num = (v) => (v === null || v === undefined ? "" : Number(v).toLocaleString("en-US"));
export const shape = (s) => (s ? s.join("×") : "");
const pct = (v) => `${(100 * v).toFixed(1)}%`;
const si = (v) => {
  const a = Math.abs(v);
  if (a >= 1e9) return `${(v / 1e9).toFixed(3)} G`;
  if (a >= 1e6) return `${(v / 1e6).toFixed(2)} M`;
  if (a >= 1e3) return `${(v / 1e3).toFixed(2)} K`;
  return String(v);
};

function row(cells, cls = "") {
  const tr = el("tr", cls ? { class: cls } : {});
  for (const [text, numeric] of cells) tr.append(el("td", numeric ? { class: "num" } : {}, text));
  return tr;
}

function head(names) {
  const tr = el("tr");
  names.forEach(([n, numeric]) => tr.append(el("th", numeric ? { class: "num" } : {}, n)));
  return el("thead", {}, tr);
}

export function showCost(table, totalsLine, data) {
  const c = data.cost;
  table.replaceChildren(head([["stage"], ["kind"], ["input"], ["output"], ["params", 1], ["MACs", 1], ["share", 1]]));
  const body = el("tbody");
  for (const s of c.stages) {
    const tr = row([[s.name], [s.kind], [shape(s.input)], [shape(s.output)], [num(s.params), 1], [num(s.macs), 1],
                    [pct(s.share_macs), 1]]);
    tr.dataset.stage = s.path;
    body.append(tr);
  }
  for (const a of c.aux_heads) {
    body.append(row([[a.name], [a.kind], [shape(a.input)], [shape(a.output)], [num(a.params), 1], [num(a.macs), 1], [""]]));
  }
  body.append(row([["total"], [""], [shape(data.input)], [""], [num(c.total.params), 1], [num(c.total.macs), 1],
                   ["100%", 1]], "total"));
  table.append(body);
  let line = `${data.title}: ${num(c.total.params)} params · ${si(c.total.macs)}MACs · ` +
             `${si(c.total.flops)}FLOPs (2 × MACs) · ${num(c.weighted_ops)} conv/fc ops`;
  if (c.total_with_aux.params !== c.total.params) line += ` · ${num(c.total_with_aux.params)} params with aux heads`;
  totalsLine.textContent = line;
}

export function showSavings(box, sv) {
  const parts = [];
  if (sv.modules.length) {
    const t = el("table", {}, head([["module"], ["MACs", 1], ["without 1×1", 1], ["factor", 1]]));
    for (const m of sv.modules) t.append(row([[m.name.split(".").pop()], [num(m.macs), 1], [num(m.naive_macs), 1],
                                              [`${m.factor.toFixed(2)}×`, 1]]));
    const tot = sv.modules_total;
    t.append(row([["total"], [num(tot.macs), 1], [num(tot.naive_macs), 1], [`${tot.factor.toFixed(2)}×`, 1]], "total"));
    parts.push(el("p", { class: "note" }, "Inception modules with and without their 1×1 reductions:"), t);
  }
  if (sv.stages.length) {
    const t = el("table", {}, head([["stage"], ["rewrite"], ["MACs", 1], ["counterpart", 1], ["factor", 1]]));
    for (const s of sv.stages) t.append(row([[s.name], [s.rewrite], [num(s.macs), 1], [num(s.counterpart_macs), 1],
                                             [`${s.factor.toFixed(2)}×`, 1]]));
    const n = sv.network;
    t.append(row([["network"], [""], [num(n.macs), 1], [num(n.counterpart_macs), 1], [`${n.factor.toFixed(2)}×`, 1]], "total"));
    parts.push(el("p", { class: "note" }, "Each block stage rewritten (bottleneck ↔ basic), same widths:"), t);
  }
  if (!parts.length) parts.push(el("p", { class: "note" }, "No inception modules and no basic/bottleneck stages: nothing to rewrite."));
  box.replaceChildren(...parts);
}

const SVG = "http://www.w3.org/2000/svg";
function svgEl(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

export function showPaths(line, box, p) {
  line.textContent = `${p.paths} input→output paths · ${p.blocks_on_main_path} blocks on the main path · ` +
    `length in blocks ${p.blocks.min}..${p.blocks.max} (mean ${p.blocks.mean.toFixed(1)}) · in weighted layers ` +
    `${p.layers.min}..${p.layers.max} · ${pct(p.effective_share)} of paths ${p.window[0]}..${p.window[1]} blocks long`;
  const h = p.histogram_blocks;
  const W = 300, H = 120, pad = 22;
  const svg = svgEl("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img", id: "histogram-svg" });
  svg.append(svgEl("title", {}, "number of paths by length in blocks"));
  if (h.length) {
    const lo = h[0][0], hi = h[h.length - 1][0];
    const span = Math.max(1, hi - lo + 1), top = Math.max(...h.map((b) => b[1]));
    const bw = (W - 2 * pad) / span;
    for (const [len, share] of h) {
      const bh = top > 0 ? (H - 2 * pad) * share / top : 0;
      const x = pad + (len - lo) * bw, inWindow = len >= p.window[0] && len <= p.window[1];
      const bar = svgEl("rect", { x: x.toFixed(2), y: (H - pad - bh).toFixed(2), width: Math.max(0.5, bw - 0.5).toFixed(2),
                                  height: bh.toFixed(2), fill: inWindow ? "#c0504d" : "#4f81bd", class: "bar" });
      bar.append(svgEl("title", {}, `${len} blocks: ${pct(share)} of paths`));
      svg.append(bar);
    }
    svg.append(svgEl("text", { x: pad, y: H - 6, "font-size": 10 }, String(lo)));
    svg.append(svgEl("text", { x: W - pad, y: H - 6, "font-size": 10, "text-anchor": "end" }, String(hi)));
    svg.append(svgEl("text", { x: W / 2, y: H - 6, "font-size": 10, "text-anchor": "middle" }, "path length (blocks)"));
    svg.append(svgEl("text", { x: pad, y: 12, "font-size": 10 }, `share of paths; red: ${p.window[0]}..${p.window[1]}`));
  }
  box.replaceChildren(svg);
}

export function showCompare(totals, stages, data) {
  const a = data.a, b = data.b;
  totals.replaceChildren(head([[""], [`A: ${a.title}`, 1], [`B: ${b.title}`, 1]]));
  for (const [label, [x, y]] of Object.entries(data.totals)) totals.append(row([[label], [x, 1], [y, 1]]));
  stages.replaceChildren(head([["A stage"], ["output"], ["params", 1], ["MACs", 1], ["B stage"], ["output"], ["params", 1], ["MACs", 1]]));
  for (const [x, y] of data.stages) {
    const side = (s) => (s ? [[s.name], [shape(s.output)], [num(s.params), 1], [num(s.macs), 1]] : [[""], [""], ["", 1], ["", 1]]);
    stages.append(row([...side(x), ...side(y)]));
  }
}
