/** Two small hand-made SVG charts: latency distributions and throughput bars. */

const COLORS: Record<string, string> = {
  parley: '#d62728',
  stock: '#1f77b4',
  apollo: '#9467bd',
  mercurius: '#2ca02c',
  floor: '#7f7f7f',
  pgbench: '#444444',
};
const color = (name: string) => COLORS[name] ?? '#8c564b';
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

export interface Curve {
  name: string;
  /** 101 latency values: the 0th..100th percentiles, in ms. */
  curve: number[];
  note?: string;
}

/** Latency CDFs: x = latency (ms, log scale), y = percentile. */
export function latencyChart(title: string, subtitle: string, curves: Curve[]): string {
  const W = 760;
  const H = 420;
  const L = 60;
  const R = 180;
  const T = 56;
  const B = 50;
  const all = curves.flatMap((c) => c.curve).filter((v) => Number.isFinite(v) && v > 0);
  const lo = Math.max(0.1, Math.min(...all, 1));
  const hi = Math.max(...all, 10);
  const lx0 = Math.floor(Math.log10(lo));
  const lx1 = Math.ceil(Math.log10(hi));
  const x = (v: number) => L + ((Math.log10(Math.max(v, 10 ** lx0)) - lx0) / (lx1 - lx0)) * (W - L - R);
  const y = (p: number) => T + (1 - p / 100) * (H - T - B);
  const parts: string[] = [];
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${L}" y="24" font-size="16" font-weight="bold">${esc(title)}</text>`);
  parts.push(`<text x="${L}" y="42" font-size="12" fill="#555">${esc(subtitle)}</text>`);
  for (let e = lx0; e <= lx1; e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v > 10 ** lx1) continue;
      const xx = x(v);
      parts.push(`<line x1="${xx}" y1="${T}" x2="${xx}" y2="${H - B}" stroke="#eee"/>`);
      parts.push(`<text x="${xx}" y="${H - B + 16}" font-size="11" text-anchor="middle">${fmt(v)}</text>`);
    }
  }
  for (const p of [0, 25, 50, 75, 90, 99]) {
    parts.push(`<line x1="${L}" y1="${y(p)}" x2="${W - R}" y2="${y(p)}" stroke="#eee"/>`);
    parts.push(`<text x="${L - 6}" y="${y(p) + 4}" font-size="11" text-anchor="end">p${p}</text>`);
  }
  parts.push(`<line x1="${x(100)}" y1="${T}" x2="${x(100)}" y2="${H - B}" stroke="#c00" stroke-dasharray="4 3"/>`);
  parts.push(`<text x="${x(100) + 3}" y="${T + 10}" font-size="10" fill="#c00">100 ms</text>`);
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 12}" font-size="12" text-anchor="middle">send → receipt latency, ms (log scale)</text>`);
  curves.forEach((c, i) => {
    const pts = c.curve
      .map((v, p) => (Number.isFinite(v) ? `${x(v).toFixed(1)},${y(p).toFixed(1)}` : ''))
      .filter(Boolean)
      .join(' ');
    if (pts) parts.push(`<polyline points="${pts}" fill="none" stroke="${color(c.name)}" stroke-width="2"/>`);
    const ly = T + 10 + i * 34;
    parts.push(`<line x1="${W - R + 14}" y1="${ly}" x2="${W - R + 34}" y2="${ly}" stroke="${color(c.name)}" stroke-width="3"/>`);
    parts.push(`<text x="${W - R + 40}" y="${ly + 4}" font-size="12">${esc(c.name)}</text>`);
    if (c.note) parts.push(`<text x="${W - R + 40}" y="${ly + 18}" font-size="10" fill="#555">${esc(c.note)}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">${parts.join('')}</svg>\n`;
}

export interface BarPanel {
  title: string;
  unit: string;
  bars: { name: string; value: number; label?: string }[];
}

/** Horizontal bar panels stacked vertically, one scale per panel. */
export function barChart(title: string, subtitle: string, panels: BarPanel[]): string {
  const W = 860;
  const L = 110;
  const R = 250;
  const barH = 18;
  const parts: string[] = [];
  let yy = 60;
  parts.push(`<text x="12" y="24" font-size="16" font-weight="bold">${esc(title)}</text>`);
  parts.push(`<text x="12" y="42" font-size="12" fill="#555">${esc(subtitle)}</text>`);
  for (const panel of panels) {
    parts.push(`<text x="12" y="${yy + 14}" font-size="13" font-weight="bold">${esc(panel.title)}</text>`);
    yy += 24;
    const max = Math.max(1, ...panel.bars.map((b) => (Number.isFinite(b.value) ? b.value : 0)));
    for (const bar of panel.bars) {
      const w = Number.isFinite(bar.value) ? (bar.value / max) * (W - L - R) : 0;
      parts.push(`<text x="${L - 6}" y="${yy + 13}" font-size="12" text-anchor="end">${esc(bar.name)}</text>`);
      parts.push(`<rect x="${L}" y="${yy}" width="${Math.max(0, w).toFixed(1)}" height="${barH}" fill="${color(bar.name)}"/>`);
      const text = bar.label ?? (Number.isFinite(bar.value) ? `${Math.round(bar.value).toLocaleString('en')} ${panel.unit}` : 'failed');
      parts.push(`<text x="${L + w + 6}" y="${yy + 13}" font-size="11">${esc(text)}</text>`);
      yy += barH + 6;
    }
    yy += 14;
  }
  const H = yy + 10;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif"><rect width="${W}" height="${H}" fill="white"/>${parts.join('')}</svg>\n`;
}
