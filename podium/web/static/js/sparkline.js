// A rank-history sparkline as SVG built through the DOM (no inline styles: CSP-safe). Rank 1 is
// drawn at the top; the y-axis spans the ranks seen.
const NS = "http://www.w3.org/2000/svg";
const W = 200, H = 40, PAD = 3;

export function drawSparkline(svg, points) {
  svg.replaceChildren();
  if (points.length === 0) return;
  const ts = points.map((p) => p.t), ranks = points.map((p) => p.rank);
  const t0 = Math.min(...ts), t1 = Math.max(...ts), r0 = Math.min(...ranks), r1 = Math.max(...ranks);
  const x = (t) => (t1 === t0 ? W / 2 + (t - t0) * (W / 2 - PAD) : PAD + ((t - t0) / (t1 - t0)) * (W - 2 * PAD));
  const y = (r) => (r1 === r0 ? H / 2 : PAD + ((r - r0) / (r1 - r0)) * (H - 2 * PAD));
  const line = document.createElementNS(NS, "polyline");
  const drawn = points.length === 1 ? [{ ...points[0], t: t0 - 1 }, { ...points[0], t: t0 + 1 }] : points;
  line.setAttribute("points", drawn.map((p) => `${x(p.t).toFixed(1)},${y(p.rank).toFixed(1)}`).join(" "));
  line.setAttribute("class", "spark-line");
  svg.append(line);
}
