// The diagram pane: Graphviz's SVG put into the page after removing anything that could run, zoom with
// the wheel, pan by dragging, and a click on a stage or block reported to `onExpand(path)`.
const DANGEROUS = ["script", "foreignObject", "iframe", "object", "embed", "use"];

export function sanitize(svgText) {
  const doc = new DOMParser().parseFromString(svgText, "image/svg+xml");
  const root = doc.documentElement;
  if (root.nodeName !== "svg" || doc.getElementsByTagName("parsererror").length) throw new Error("not an SVG");
  for (const tag of DANGEROUS) for (const n of [...root.getElementsByTagName(tag)]) n.remove();
  for (const n of [root, ...root.getElementsByTagName("*")]) {
    for (const attr of [...n.attributes]) {
      const name = attr.name.toLowerCase(), value = attr.value.trim().toLowerCase();
      if (name.startsWith("on") || ((name === "href" || name.endsWith(":href")) && !value.startsWith("#"))) {
        n.removeAttribute(attr.name);
      }
    }
  }
  return document.importNode(root, true);
}

export class Diagram {
  constructor(frame, canvas, onExpand) {
    Object.assign(this, { frame, canvas, onExpand, scale: 1, x: 0, y: 0, drag: null });
    frame.addEventListener("wheel", (e) => {
      e.preventDefault();
      this.zoomAt(e.deltaY < 0 ? 1.15 : 1 / 1.15, e.offsetX, e.offsetY);
    }, { passive: false });
    frame.addEventListener("pointerdown", (e) => {
      this.drag = { x0: e.clientX, y0: e.clientY, x: this.x, y: this.y, moved: false };
      frame.classList.add("dragging");
    });
    window.addEventListener("pointermove", (e) => {
      if (!this.drag) return;
      const dx = e.clientX - this.drag.x0, dy = e.clientY - this.drag.y0;
      if (Math.abs(dx) + Math.abs(dy) > 4) this.drag.moved = true;
      if (this.drag.moved) { this.x = this.drag.x + dx; this.y = this.drag.y + dy; this.apply(); }
    });
    window.addEventListener("pointerup", (e) => {
      const click = this.drag && !this.drag.moved;
      this.drag = null;
      frame.classList.remove("dragging");
      if (click) this.clicked(e.target);
    });
  }

  show(svgText, targets, focus) {
    const svg = sanitize(svgText);
    this.targets = targets;
    this.focus = focus;
    for (const g of svg.querySelectorAll("g.node, g.cluster")) {
      if (this.targetOf(g)) g.classList.add("expandable");
    }
    this.canvas.replaceChildren(svg);
    this.fit();
  }

  // the stage or block a drawn node or cluster belongs to, one level below what is shown
  targetOf(g) {
    let id = g.classList.contains("cluster") ? (g.querySelector("title")?.textContent || "").replace(/^cluster_/, "") : g.id;
    if (!id) return null;
    const parts = id.split(".");
    for (let i = 1; i <= parts.length; i++) {
      const path = parts.slice(0, i).join(".");
      if (path in this.targets && path !== this.focus && (!this.focus || path.startsWith(this.focus + "."))) return path;
    }
    return null;
  }

  clicked(target) {
    const g = target.closest && target.closest("g.node, g.cluster");
    const path = g && this.targetOf(g);
    if (path) this.onExpand(path, this.targets[path]);
  }

  apply() { this.canvas.style.transform = `translate(${this.x}px, ${this.y}px) scale(${this.scale})`; }

  zoomAt(factor, cx, cy) {
    const s = Math.min(20, Math.max(0.02, this.scale * factor));
    this.x = cx - (cx - this.x) * (s / this.scale);
    this.y = cy - (cy - this.y) * (s / this.scale);
    this.scale = s;
    this.apply();
  }

  zoom(factor) { this.zoomAt(factor, this.frame.clientWidth / 2, this.frame.clientHeight / 2); }

  fit() {
    const svg = this.canvas.firstElementChild;
    if (!svg) return;
    const w = svg.width.baseVal.value || 1, h = svg.height.baseVal.value || 1;
    const fw = this.frame.clientWidth, fh = this.frame.clientHeight;
    this.scale = Math.min(fw / w, fh / h, 1.5);
    this.x = (fw - w * this.scale) / 2;
    this.y = Math.max(0, (fh - h * this.scale) / 2);
    this.apply();
  }
}
