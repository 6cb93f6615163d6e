// Interactive explorers for the static site: a RoPE explorer and an attention-bias explorer.
//
// Hand-written on purpose: the figures are three small line plots and one heat map, which a
// canvas draws in a few dozen lines; a plotting library would add megabytes to every page
// and a dependency to keep in step. Everything runs in the page, offline, with nothing
// loaded from another host.
//
// The numbers follow posemb (the book's library), formula for formula, in float64:
//   ropeFrequencies  <-> posemb.rope_frequencies (default, linear, ntk, dynamic, yarn, llama3)
//   alibiSlopes      <-> posemb.alibi_slopes
//   t5Bucket         <-> posemb.t5_bucket (its logarithm in float32, as posemb and T5 do)
//   kerpleBias       <-> posemb.KerpleBias's logarithmic variant
// scripts/browser_check.py and tests/test_explorers.py compare them with posemb in a browser.
(function () {
  "use strict";

  // ------------------------------------------------------------------ formulas

  function inverseFrequencies(dim, base) {
    const out = [];
    for (let t = 0; t < dim / 2; t++) out.push(Math.pow(base, -(2 * t) / dim));
    return out;
  }

  function ntkExponent(dim) {
    return dim / (dim - 2);
  }

  // scaling: {rope_type, factor, original_max_position_embeddings, beta_fast, beta_slow,
  //           low_freq_factor, high_freq_factor}; seqLen and maxPositions as in posemb.
  function ropeFrequencies(dim, base, scaling, seqLen, maxPositions) {
    const theta = inverseFrequencies(dim, base);
    const type = scaling ? scaling.rope_type || "default" : "default";
    if (type === "default") return { invFreq: theta, attentionFactor: 1.0 };
    const s = scaling.factor;
    if (type === "linear") return { invFreq: theta.map((x) => x / s), attentionFactor: 1.0 };
    if (type === "ntk") {
      return { invFreq: inverseFrequencies(dim, base * Math.pow(s, ntkExponent(dim))),
               attentionFactor: 1.0 };
    }
    if (type === "dynamic") {
      const m = maxPositions;
      const n = seqLen == null ? m : Math.max(seqLen, m);
      const b = base * Math.pow((s * n) / m - (s - 1), ntkExponent(dim));
      return { invFreq: inverseFrequencies(dim, b), attentionFactor: 1.0 };
    }
    const L = scaling.original_max_position_embeddings;
    if (type === "yarn") {
      const betaFast = scaling.beta_fast == null ? 32 : scaling.beta_fast;
      const betaSlow = scaling.beta_slow == null ? 1 : scaling.beta_slow;
      const pair = (turns) => (dim * Math.log(L / (turns * 2 * Math.PI))) / (2 * Math.log(base));
      let lo = Math.floor(pair(betaFast));
      let hi = Math.ceil(pair(betaSlow));
      lo = Math.max(lo, 0);
      hi = Math.min(hi, dim - 1);
      if (lo === hi) hi += 0.001;
      const invFreq = theta.map((x, i) => {
        const ramp = Math.min(1, Math.max(0, (i - lo) / (hi - lo)));
        return (x / s) * ramp + x * (1 - ramp);
      });
      return { invFreq, attentionFactor: s <= 1 ? 1.0 : 0.1 * Math.log(s) + 1.0 };
    }
    if (type === "llama3") {
      const low = scaling.low_freq_factor;
      const high = scaling.high_freq_factor;
      const invFreq = theta.map((x) => {
        const wavelength = (2 * Math.PI) / x;
        if (wavelength >= L / high && wavelength <= L / low) {
          const g = (L / wavelength - low) / (high - low);
          return ((1 - g) * x) / s + g * x;
        }
        return wavelength > L / low ? x / s : x;
      });
      return { invFreq, attentionFactor: 1.0 };
    }
    throw new Error("unknown rope_type " + type);
  }

  // Mean over pairs of cos(r * theta_i), times the attention factor squared: the logit of a
  // query with an all-equal-pairs key of itself at offset r, relative to offset 0.
  function relativeLogit(invFreq, attentionFactor, offsets) {
    const h = invFreq.length;
    return offsets.map((r) => {
      let sum = 0;
      for (const x of invFreq) sum += Math.cos(r * x);
      return (attentionFactor * attentionFactor * sum) / h;
    });
  }

  // First pair whose original wavelength exceeds the training context L (-1 if none).
  function criticalPair(dim, base, L) {
    const theta = inverseFrequencies(dim, base);
    return theta.findIndex((x) => (2 * Math.PI) / x > L);
  }

  function alibiSlopes(numHeads) {
    const powerOfTwo = (n) => {
      const start = Math.pow(2, -8 / n);
      const out = [];
      for (let i = 0; i < n; i++) out.push(Math.pow(start, i + 1));
      return out;
    };
    const m = Math.pow(2, Math.floor(Math.log2(numHeads)));
    const extra = powerOfTwo(2 * m).filter((_, i) => i % 2 === 0).slice(0, numHeads - m);
    return powerOfTwo(m).concat(extra).map(Math.fround);
  }

  function t5Bucket(rel, bidirectional, numBuckets, maxDistance) {
    let offset = 0;
    let distance;
    let half = numBuckets;
    if (bidirectional) {
      half = Math.floor(numBuckets / 2);
      offset = rel > 0 ? half : 0;
      distance = Math.abs(rel);
    } else {
      distance = Math.max(-rel, 0);
    }
    const exact = Math.floor(half / 2);
    if (distance < exact) return offset + distance;
    const f = Math.fround;
    const ratio = f(f(Math.log(f(f(Math.max(distance, 1)) / exact))) / f(Math.log(maxDistance / exact)));
    const far = exact + Math.trunc(f(ratio * (half - exact)));
    return offset + Math.min(far, half - 1);
  }

  function kerpleBias(distance, r1, r2) {
    return -r1 * Math.log(1 + r2 * distance);
  }

  // ------------------------------------------------------------------ drawing

  const INK = "#222";
  const GRID = "#ddd";
  const SERIES = ["#0072B2", "#E69F00", "#009E73", "#D55E00"];

  function setupCanvas(canvas) {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || 320;
    const height = canvas.clientHeight || 220;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = "12px sans-serif";
    return { ctx, width, height };
  }

  function niceTicks(lo, hi, log) {
    if (log) {
      const out = [];
      for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
        const v = Math.pow(10, e);
        if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
      }
      return out;
    }
    const span = hi - lo || 1;
    const step = Math.pow(10, Math.floor(Math.log10(span / 4)));
    const mult = span / step > 20 ? 5 : span / step > 8 ? 2 : 1;
    const out = [];
    for (let v = Math.ceil(lo / (step * mult)) * step * mult; v <= hi + 1e-9; v += step * mult) {
      out.push(Math.abs(v) < 1e-12 ? 0 : v);
    }
    return out;
  }

  function fmt(v) {
    if (v === 0) return "0";
    const a = Math.abs(v);
    if (a >= 1e6) return Math.round(v / 1e5) / 10 + "M";
    if (a >= 1e4) return Math.round(v / 1e2) / 10 + "k";
    if (a < 1e-2) return v.toExponential(0).replace("e-", "e-");
    return String(Math.round(v * 100) / 100);
  }

  // series: [{x: [], y: [], label, dash: [], marker: bool}]; lines: [{y, label}] horizontal
  function linePlot(canvas, series, opts) {
    const { ctx, width, height } = setupCanvas(canvas);
    // the legend has a row of its own between the title and the plot, never on the data
    const labelled = series.filter((s) => s.label);
    const pad = { l: 52, r: 10, t: labelled.length ? 40 : 22, b: 36 };
    const xs = series.flatMap((s) => s.x);
    const ys = series.flatMap((s) => s.y).concat((opts.lines || []).map((l) => l.y));
    const xlo = opts.xmin ?? Math.min(...xs);
    const xhi = opts.xmax ?? Math.max(...xs);
    let ylo = opts.ymin ?? Math.min(...ys);
    let yhi = opts.ymax ?? Math.max(...ys);
    if (ylo === yhi) { ylo -= 1; yhi += 1; }
    const tx = opts.xlog
      ? (x) => pad.l + ((Math.log(x) - Math.log(xlo)) / (Math.log(xhi) - Math.log(xlo) || 1)) * (width - pad.l - pad.r)
      : (x) => pad.l + ((x - xlo) / (xhi - xlo || 1)) * (width - pad.l - pad.r);
    const ty = opts.ylog
      ? (y) => height - pad.b - ((Math.log(y) - Math.log(ylo)) / (Math.log(yhi) - Math.log(ylo))) * (height - pad.t - pad.b)
      : (y) => height - pad.b - ((y - ylo) / (yhi - ylo)) * (height - pad.t - pad.b);
    ctx.strokeStyle = GRID;
    ctx.fillStyle = INK;
    ctx.lineWidth = 1;
    for (const v of niceTicks(ylo, yhi, opts.ylog)) {
      ctx.beginPath(); ctx.moveTo(pad.l, ty(v)); ctx.lineTo(width - pad.r, ty(v)); ctx.stroke();
      ctx.textAlign = "right"; ctx.fillText(fmt(v), pad.l - 4, ty(v) + 4);
    }
    for (const v of niceTicks(xlo, xhi, Boolean(opts.xlog))) {
      ctx.textAlign = "center"; ctx.fillText(fmt(v), tx(v), height - pad.b + 14);
    }
    ctx.strokeStyle = INK;
    ctx.beginPath(); ctx.moveTo(pad.l, pad.t); ctx.lineTo(pad.l, height - pad.b);
    ctx.lineTo(width - pad.r, height - pad.b); ctx.stroke();
    ctx.textAlign = "center"; ctx.fillText(opts.xlabel || "", (pad.l + width - pad.r) / 2, height - 4);
    ctx.textAlign = "left"; ctx.fillText(opts.title || "", pad.l, 14);
    for (const line of opts.lines || []) {
      ctx.strokeStyle = "#777"; ctx.setLineDash([4, 3]);
      ctx.beginPath(); ctx.moveTo(pad.l, ty(line.y)); ctx.lineTo(width - pad.r, ty(line.y)); ctx.stroke();
      ctx.setLineDash([]);
    }
    series.forEach((s, k) => {
      ctx.strokeStyle = ctx.fillStyle = SERIES[k % SERIES.length];
      ctx.lineWidth = 2; ctx.setLineDash(s.dash || []);
      ctx.beginPath();
      s.x.forEach((x, i) => (i ? ctx.lineTo(tx(x), ty(s.y[i])) : ctx.moveTo(tx(x), ty(s.y[i]))));
      ctx.stroke(); ctx.setLineDash([]);
      if (s.marker) {
        s.x.forEach((x, i) => { ctx.beginPath(); ctx.arc(tx(x), ty(s.y[i]), 2.5, 0, 2 * Math.PI); ctx.fill(); });
      }
    });
    // labels of the reference lines, on a white box drawn over the data so no line
    // crosses them, at the left end where the rising wavelength curves are lowest
    ctx.textAlign = "left";
    // labels sit above their line; one that would touch the label above it goes below its
    // line instead (two lines close together, such as a target twice the context)
    const placed = [];
    for (const line of [...(opts.lines || [])].sort((a, b) => ty(a.y) - ty(b.y))) {
      const w = ctx.measureText(line.label).width + 6;
      const x = pad.l + 6;
      let y = ty(line.y) - 3;
      if (placed.some((py) => Math.abs(py - y) < 15)) y = ty(line.y) + 13;
      placed.push(y);
      ctx.fillStyle = "rgba(255, 255, 255, 0.92)";
      ctx.fillRect(x - 3, y - 11, w, 14);
      ctx.fillStyle = "#444";
      ctx.fillText(line.label, x, y);
    }
    // legend: a short sample of each line (with its dash pattern) and its label, in a row
    let lx = pad.l + 4;
    series.forEach((s, k) => {
      if (!s.label) return;
      const ly = 29;
      ctx.strokeStyle = SERIES[k % SERIES.length]; ctx.lineWidth = 2; ctx.setLineDash(s.dash || []);
      ctx.beginPath(); ctx.moveTo(lx, ly); ctx.lineTo(lx + 24, ly); ctx.stroke();
      ctx.setLineDash([]); ctx.fillStyle = INK; ctx.textAlign = "left";
      ctx.fillText(s.label, lx + 28, ly + 4);
      lx += 28 + ctx.measureText(s.label).width + 16;
    });
  }

  // A diverging blue-white-red map for signed values (0 is white).
  function diverging(v, vmax) {
    const t = Math.max(-1, Math.min(1, v / (vmax || 1)));
    const blend = (a, b, w) => Math.round(a + (b - a) * w);
    return t < 0
      ? `rgb(${blend(255, 33, -t)},${blend(255, 102, -t)},${blend(255, 172, -t)})`
      : `rgb(${blend(255, 178, t)},${blend(255, 24, t)},${blend(255, 43, t)})`;
  }

  function heatMap(canvas, matrix, opts) {
    const { ctx, width, height } = setupCanvas(canvas);
    const n = matrix.length;
    const size = Math.min(width - 110, height - 60);  // room for ticks and the colour bar
    const cell = size / n;
    const x0 = 44;
    const y0 = 24;
    let vmax = 0;
    for (const row of matrix) for (const v of row) if (v != null) vmax = Math.max(vmax, Math.abs(v));
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const v = matrix[i][j];
        ctx.fillStyle = v == null ? "#bbb" : opts.sequential ? sequential(v / (vmax || 1)) : diverging(v, vmax);
        ctx.fillRect(x0 + j * cell, y0 + i * cell, Math.ceil(cell), Math.ceil(cell));
      }
    }
    ctx.fillStyle = INK;
    ctx.textAlign = "left"; ctx.fillText(opts.title || "", x0, 14);
    // ticks every 4, 8 or 16 positions, at the centre of their cell
    const every = n <= 16 ? 4 : n <= 40 ? 8 : 16;
    ctx.strokeStyle = INK; ctx.lineWidth = 1;
    for (let k = 0; k < n; k += every) {
      const c = (k + 0.5) * cell;
      ctx.beginPath(); ctx.moveTo(x0 + c, y0 + size); ctx.lineTo(x0 + c, y0 + size + 4); ctx.stroke();
      ctx.beginPath(); ctx.moveTo(x0 - 4, y0 + c); ctx.lineTo(x0, y0 + c); ctx.stroke();
      ctx.textAlign = "center"; ctx.fillText(String(k), x0 + c, y0 + size + 15);
      ctx.textAlign = "right"; ctx.fillText(String(k), x0 - 6, y0 + c + 4);
    }
    ctx.textAlign = "center"; ctx.fillText("key position j", x0 + size / 2, y0 + size + 30);
    ctx.save(); ctx.translate(10, y0 + size / 2); ctx.rotate(-Math.PI / 2);
    ctx.fillText("query position i", 0, 0); ctx.restore();
    // colour bar
    const bx = x0 + size + 14;
    for (let k = 0; k < 100; k++) {
      const v = opts.sequential ? vmax * (1 - k / 99) : vmax * (1 - (2 * k) / 99);
      ctx.fillStyle = opts.sequential ? sequential(v / (vmax || 1)) : diverging(v, vmax);
      ctx.fillRect(bx, y0 + (k * size) / 100, 12, size / 100 + 1);
    }
    ctx.fillStyle = INK; ctx.textAlign = "left";
    ctx.fillText(fmt(vmax), bx + 16, y0 + 8);
    ctx.fillText(fmt(opts.sequential ? 0 : -vmax), bx + 16, y0 + size);
  }

  // cividis-like sequential map, dark blue (0) to yellow (1)
  function sequential(t) {
    t = Math.max(0, Math.min(1, t));
    const r = Math.round(0 + 253 * t);
    const g = Math.round(32 + 199 * t);
    const b = Math.round(77 + (56 - 77) * t);
    return `rgb(${r},${g},${b})`;
  }

  // ------------------------------------------------------------------ widgets

  function control(root, name) {
    return root.querySelector(`[data-control="${name}"]`);
  }

  function value(root, name) {
    const el = control(root, name);
    if (el.type === "checkbox") return el.checked;
    const v = el.value;
    return el.type === "range" || el.type === "number" || /^-?[\d.e+]+$/.test(v) ? Number(v) : v;
  }

  function setReadout(root, name, text) {
    const el = root.querySelector(`[data-readout="${name}"]`);
    if (el) el.textContent = text;
  }

  function ropeSettings(root) {
    const method = value(root, "method");
    const factor = value(root, "factor");
    const L = value(root, "context");
    const scalings = {
      none: null,
      linear: { rope_type: "linear", factor },
      ntk: { rope_type: "ntk", factor },
      dynamic: { rope_type: "dynamic", factor },
      yarn: { rope_type: "yarn", factor, original_max_position_embeddings: L },
      llama3: { rope_type: "llama3", factor, low_freq_factor: 1, high_freq_factor: 4,
                original_max_position_embeddings: L },
    };
    return { dim: value(root, "dim"), base: value(root, "base"), L, factor, method,
             position: value(root, "position"), scaling: scalings[method] };
  }

  function drawRope(root) {
    const s = ropeSettings(root);
    const target = Math.round(s.L * (s.method === "none" ? 1 : s.factor));
    const orig = ropeFrequencies(s.dim, s.base, null);
    const scaled = ropeFrequencies(s.dim, s.base, s.scaling, target, s.L);
    const pairs = orig.invFreq.map((_, i) => i);
    const wave = (f) => f.map((x) => (2 * Math.PI) / x);
    const factor = control(root, "factor");
    factor.disabled = s.method === "none";  // no scaling: the factor means nothing
    factor.closest("label").classList.toggle("explorer-disabled", factor.disabled);
    const waveSeries = s.method === "none"
      ? [{ x: pairs, y: wave(orig.invFreq), label: "original (no scaling)", marker: true }]
      : [{ x: pairs, y: wave(orig.invFreq), label: "original", dash: [5, 3] },
         { x: pairs, y: wave(scaled.invFreq), label: "scaled", marker: true }];
    linePlot(root.querySelector('[data-plot="wavelength"]'), waveSeries, { ylog: true, xlabel: "pair index t", title: "wavelength of each pair (positions per turn)",
         lines: [{ y: s.L, label: `training context ${s.L}` }].concat(
           target !== s.L ? [{ y: target, label: `target ${target}` }] : []) });
    const turns = scaled.invFreq.map((x) => (s.position * x) / (2 * Math.PI));
    linePlot(root.querySelector('[data-plot="rotation"]'), [
      { x: pairs, y: turns.map((t) => Math.max(t, 1e-6)), label: `turns at position ${s.position}`, marker: true },
    ], { ylog: true, xlabel: "pair index t", title: `rotation of each pair at position ${s.position} (turns)`,
         lines: [{ y: 1, label: "one turn" }] });
    const offsets = [];  // 600 offsets, evenly spaced on a log axis from 1 to the target
    for (let k = 0; k < 600; k++) offsets.push(Math.pow(target, k / 599));
    linePlot(root.querySelector('[data-plot="decay"]'), [
      { x: offsets, y: relativeLogit(scaled.invFreq, scaled.attentionFactor, offsets), label: "" },
    ], { xlog: true, xlabel: "offset m - n (log scale)",
         title: "relative logit of a query with itself, by offset" });
    const critical = criticalPair(s.dim, s.base, s.L);
    setReadout(root, "critical", critical < 0 ? "none" : String(critical));
    setReadout(root, "attention-factor", scaled.attentionFactor.toFixed(4));
    setReadout(root, "slowest-wavelength", fmt(Math.max(...wave(scaled.invFreq))));
    setReadout(root, "factor-value", s.method === "none" ? "1 (no scaling)" : String(s.factor));
    setReadout(root, "position-value", String(s.position));
  }

  function drawBias(root) {
    const kind = value(root, "kind");
    const heads = value(root, "heads");
    const head = Math.min(value(root, "head"), heads - 1);
    const n = value(root, "length");
    const causal = value(root, "causal");
    control(root, "head").max = String(heads - 1);
    setReadout(root, "head-value", String(head));
    setReadout(root, "heads-value", String(heads));
    setReadout(root, "length-value", String(n));
    const matrix = [];
    let title;
    const slope = alibiSlopes(heads)[head];
    for (let i = 0; i < n; i++) {
      const row = [];
      for (let j = 0; j < n; j++) {
        if (causal && j > i) { row.push(null); continue; }
        if (kind === "alibi") row.push(-slope * Math.abs(i - j));
        else if (kind === "t5") row.push(t5Bucket(j - i, !causal, 32, 128));
        else row.push(kerpleBias(Math.abs(i - j), value(root, "r1"), value(root, "r2")));
      }
      matrix.push(row);
    }
    if (kind === "alibi") {
      title = `ALiBi, head ${head} of ${heads}: slope ${fmt(slope)}`;
      setReadout(root, "detail", `slope of head ${head}: ${slope.toPrecision(6)}`);
    } else if (kind === "t5") {
      title = "T5: bucket of each offset";
      setReadout(root, "detail", `32 buckets, max distance 128; offset -${n - 1} falls in bucket ` +
                 `${t5Bucket(-(n - 1), !causal, 32, 128)}`);
    } else {
      title = `KERPLE (log): -r1 log(1 + r2 |i - j|)`;
      setReadout(root, "detail", `bias at distance ${n - 1}: ${kerpleBias(n - 1, value(root, "r1"), value(root, "r2")).toPrecision(6)}`);
    }
    heatMap(root.querySelector('[data-plot="bias"]'), matrix, { title, sequential: kind === "t5" });
    for (const el of root.querySelectorAll("[data-kerple]")) el.hidden = kind !== "kerple";
    // only ALiBi differs by head here: T5's map is its bucket index, KERPLE's uses r1, r2
    for (const el of root.querySelectorAll("[data-alibi]")) el.hidden = kind !== "alibi";
  }

  function wire(root, draw) {
    for (const el of root.querySelectorAll("[data-control]")) {
      el.addEventListener("input", () => draw(root));
      el.addEventListener("change", () => draw(root));
    }
    draw(root);
    window.addEventListener("resize", () => draw(root));
  }

  function init() {
    for (const root of document.querySelectorAll('[data-explorer="rope"]')) wire(root, drawRope);
    for (const root of document.querySelectorAll('[data-explorer="bias"]')) wire(root, drawBias);
  }

  window.posembExplorers = { inverseFrequencies, ropeFrequencies, relativeLogit, criticalPair,
                             alibiSlopes, t5Bucket, kerpleBias };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
