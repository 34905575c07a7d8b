// A small dependency-free SVG writer for the bench's two kinds of chart:
// latency-throughput curves (lines with markers, optional log y axis) and
// grouped bars (the batch-size histogram). Fixed layout, system font,
// colours from one palette; good enough to read in a README, not a plot library.
const W = 720;
const H = 420;
const M = { left: 70, right: 180, top: 40, bottom: 55 };
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const PW = W - M.left - M.right;
const PH = H - M.top - M.bottom;

export interface LineSeries {
  name: string;
  /** Points in drawing order; `label` is written next to the marker (e.g. the connection count). */
  points: { x: number; y: number; label?: string }[];
}

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: LineSeries[];
  logY?: boolean;
}

export interface BarChart {
  title: string;
  xLabel: string;
  yLabel: string;
  categories: string[];
  series: { name: string; values: number[] }[];
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const num = (x: number) => (Math.abs(x) >= 1000 ? x.toLocaleString('en-US', { maximumFractionDigits: 0 }) : String(Number(x.toPrecision(3))));

function frame(title: string, xLabel: string, yLabel: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${M.left}" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<text x="${M.left + PW / 2}" y="${H - 12}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text transform="translate(16 ${M.top + PH / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`,
    `<rect x="${M.left}" y="${M.top}" width="${PW}" height="${PH}" fill="none" stroke="#888"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

/** About five round ticks over [0, max]. */
function linearTicks(max: number): number[] {
  if (!(max > 0)) return [0, 1];
  const step0 = max / 5;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((k) => k * mag).find((s) => s >= step0) ?? 10 * mag;
  const ticks = [];
  for (let t = 0; t <= max + step * 1e-9; t += step) ticks.push(t);
  if (ticks[ticks.length - 1] < max) ticks.push(ticks[ticks.length - 1] + step);
  return ticks;
}

/** 1-2-5 ticks per decade covering [min, max]. */
function logTicks(min: number, max: number): number[] {
  const ticks = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) for (const k of [1, 2, 5]) ticks.push(k * 10 ** e);
  const lo = ticks.filter((t) => t <= min).pop() ?? ticks[0];
  const hi = ticks.find((t) => t >= max) ?? ticks[ticks.length - 1];
  return ticks.filter((t) => t >= lo && t <= hi);
}

function legend(names: string[]): string[] {
  return names.map((name, i) => {
    const y = M.top + 10 + i * 18;
    const x = M.left + PW + 14;
    return `<rect x="${x}" y="${y - 9}" width="12" height="12" fill="${PALETTE[i % PALETTE.length]}"/><text x="${x + 18}" y="${y + 1}">${esc(name)}</text>`;
  });
}

export function lineChart(c: LineChart): string {
  const pts = c.series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!c.logY || p.y > 0));
  const xt = linearTicks(Math.max(...pts.map((p) => p.x), 0));
  const ys = pts.map((p) => p.y);
  const yt = c.logY ? logTicks(Math.min(...ys, 1), Math.max(...ys, 10)) : linearTicks(Math.max(...ys, 0));
  const X = (x: number) => M.left + (x / xt[xt.length - 1]) * PW;
  const [y0, y1] = c.logY ? [Math.log10(yt[0]), Math.log10(yt[yt.length - 1])] : [0, yt[yt.length - 1]];
  const Y = (y: number) => M.top + PH - (((c.logY ? Math.log10(y) : y) - y0) / (y1 - y0 || 1)) * PH;
  const body = [
    ...xt.map((t) => `<line x1="${X(t)}" y1="${M.top}" x2="${X(t)}" y2="${M.top + PH}" stroke="#eee"/><text x="${X(t)}" y="${M.top + PH + 16}" text-anchor="middle">${num(t)}</text>`),
    ...yt.map((t) => `<line x1="${M.left}" y1="${Y(t)}" x2="${M.left + PW}" y2="${Y(t)}" stroke="#eee"/><text x="${M.left - 6}" y="${Y(t) + 4}" text-anchor="end">${num(t)}</text>`),
  ];
  c.series.forEach((s, i) => {
    const colour = PALETTE[i % PALETTE.length];
    const ok = s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!c.logY || p.y > 0));
    if (ok.length > 1) body.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${ok.map((p) => `${X(p.x).toFixed(1)},${Y(p.y).toFixed(1)}`).join(' ')}"/>`);
    for (const p of ok) {
      body.push(`<circle cx="${X(p.x).toFixed(1)}" cy="${Y(p.y).toFixed(1)}" r="3.5" fill="${colour}"/>`);
      if (p.label) body.push(`<text x="${(X(p.x) + 5).toFixed(1)}" y="${(Y(p.y) - 6).toFixed(1)}" font-size="10" fill="${colour}">${esc(p.label)}</text>`);
    }
  });
  return frame(c.title, c.xLabel, c.yLabel, [...body, ...legend(c.series.map((s) => s.name))]);
}

export function barChart(c: BarChart): string {
  const yt = linearTicks(Math.max(...c.series.flatMap((s) => s.values).filter(Number.isFinite), 0));
  const Y = (y: number) => M.top + PH - (y / yt[yt.length - 1]) * PH;
  const slot = PW / Math.max(1, c.categories.length);
  const bar = (slot * 0.8) / Math.max(1, c.series.length);
  const body = yt.map((t) => `<line x1="${M.left}" y1="${Y(t)}" x2="${M.left + PW}" y2="${Y(t)}" stroke="#eee"/><text x="${M.left - 6}" y="${Y(t) + 4}" text-anchor="end">${num(t)}</text>`);
  c.categories.forEach((cat, j) => {
    body.push(`<text x="${(M.left + slot * (j + 0.5)).toFixed(1)}" y="${M.top + PH + 16}" text-anchor="middle">${esc(cat)}</text>`);
    c.series.forEach((s, i) => {
      const v = s.values[j] ?? 0;
      const x = M.left + slot * j + slot * 0.1 + bar * i;
      body.push(`<rect x="${x.toFixed(1)}" y="${Y(v).toFixed(1)}" width="${(bar - 1).toFixed(1)}" height="${(M.top + PH - Y(v)).toFixed(1)}" fill="${PALETTE[i % PALETTE.length]}"/>`);
    });
  });
  return frame(c.title, c.xLabel, c.yLabel, [...body, ...legend(c.series.map((s) => s.name))]);
}
