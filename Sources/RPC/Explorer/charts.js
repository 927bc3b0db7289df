// Small inline-SVG charts: grouped bars and a step line. No library; sized by viewBox, so they scale with the page.

const NS = 'http://www.w3.org/2000/svg';

function el(tag, attrs = {}, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function shortNumber(v) {
  if (v >= 1e9) return `${+(v / 1e9).toFixed(1)}G`;
  if (v >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (v >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
  return `${+v.toFixed(2)}`;
}

const W = 480, H = 180, L = 40, R = 8, T = 10, B = 28;

function frame(title, max) {
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title });
  svg.appendChild(el('title', {}, title));
  for (let i = 0; i <= 4; i++) {
    const y = T + (H - T - B) * (1 - i / 4);
    svg.appendChild(el('line', { x1: L, x2: W - R, y1: y, y2: y, class: 'grid' }));
    svg.appendChild(el('text', { x: L - 4, y: y + 3, class: 'axis', 'text-anchor': 'end' }, shortNumber((max * i) / 4)));
  }
  return svg;
}

function legend(series) {
  const box = document.createElement('div');
  box.className = 'legend';
  series.forEach((s, i) => {
    const item = document.createElement('span');
    const sw = document.createElement('i');
    sw.className = `s${i}`;
    item.append(sw, s.name);
    box.appendChild(item);
  });
  return box;
}

/**
 * Grouped bars: `labels[i]` under group i, one bar per series (`{name, values}`); `link(i)` makes a group a link.
 * Returns a figure element (with a caption and legend), or a short note when there is nothing to draw.
 */
export function barChart({ title, labels, series, link }) {
  const fig = document.createElement('figure');
  fig.className = 'chart-box';
  const cap = document.createElement('figcaption');
  cap.textContent = title;
  fig.appendChild(cap);
  if (labels.length === 0) {
    const p = document.createElement('p');
    p.className = 'muted';
    p.textContent = 'No data yet.';
    fig.appendChild(p);
    return fig;
  }
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.values.map(Number))));
  const svg = frame(title, max);
  const plotW = W - L - R, plotH = H - T - B;
  const gw = plotW / labels.length;
  const bw = Math.max(1, (gw * 0.8) / series.length);
  const every = Math.max(1, Math.ceil(labels.length / 12));
  labels.forEach((label, i) => {
    const g = el('g', { class: 'group' });
    series.forEach((s, j) => {
      const v = Number(s.values[i]) || 0;
      const h = (plotH * v) / max;
      const x = L + i * gw + gw * 0.1 + j * bw;
      const r = el('rect', { x: x.toFixed(1), y: (T + plotH - h).toFixed(1), width: bw.toFixed(1), height: Math.max(h, 0).toFixed(1), class: `s${j}` });
      r.appendChild(el('title', {}, `${label}: ${s.name} ${s.values[i]}`));
      g.appendChild(r);
    });
    if (i % every === 0) g.appendChild(el('text', { x: (L + i * gw + gw / 2).toFixed(1), y: H - B + 14, class: 'axis', 'text-anchor': 'middle' }, label));
    if (link) {
      const a = el('a', { href: link(i) });
      a.appendChild(g);
      svg.appendChild(a);
    } else {
      svg.appendChild(g);
    }
  });
  fig.append(svg, legend(series));
  return fig;
}

/** Step lines over x (heights): series `{name, points: [[x, y], …]}` sorted by x, drawn from x0 to x1. */
export function lineChart({ title, series, x0, x1, xLabel = 'height' }) {
  const fig = document.createElement('figure');
  fig.className = 'chart-box';
  const cap = document.createElement('figcaption');
  cap.textContent = title;
  fig.appendChild(cap);
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  if (ys.length === 0 || !(x1 > x0)) {
    const p = document.createElement('p');
    p.className = 'muted';
    p.textContent = 'None yet.';
    fig.appendChild(p);
    return fig;
  }
  const max = niceMax(Math.max(...ys));
  const svg = frame(title, max);
  const plotW = W - L - R, plotH = H - T - B;
  const sx = (x) => L + (plotW * (x - x0)) / (x1 - x0);
  const sy = (y) => T + plotH - (plotH * y) / max;
  series.forEach((s, j) => {
    let d = `M${sx(x0).toFixed(1)},${sy(0).toFixed(1)}`;
    let last = 0;
    for (const [x, y] of s.points) {
      d += ` H${sx(x).toFixed(1)} V${sy(y).toFixed(1)}`;
      last = y;
    }
    d += ` H${sx(x1).toFixed(1)}`;
    const path = el('path', { d, class: `line s${j}` });
    path.appendChild(el('title', {}, `${s.name}: ${last}`));
    svg.appendChild(path);
  });
  for (const x of [x0, Math.round((x0 + x1) / 2), x1]) {
    svg.appendChild(el('text', { x: sx(x).toFixed(1), y: H - B + 14, class: 'axis', 'text-anchor': 'middle' }, String(x)));
  }
  svg.appendChild(el('text', { x: W - R, y: H - 2, class: 'axis', 'text-anchor': 'end' }, xLabel));
  fig.append(svg, legend(series));
  return fig;
}
