/**
 * wasm SIMD kernels that run on tfjs-backend-wasm's own heap (src/simd-kernels.ts
 * instantiates this module with wasm's memory as `env.memory`). Every buffer is a
 * byte address in that heap, passed in by the caller; the module owns no memory
 * of its own there: no data, no allocations, no globals. Compiled by
 * scripts/generate-kernels.ts into src/generated/kernels-wasm.ts.
 *
 * Layouts are tfjs's: NHWC, row-major, float32.
 */

// Bounds checks, compiled in only with `--use BOUNDS=1` (the debug build that the tests
// run against, scripts/compile-kernels.ts; docs/kernels.md). Each kernel first asks the
// caller how many bytes each buffer it was given reaches (`extent`), keeps that range
// per buffer in a global, and checks every load and store against it; `outOfBounds`
// throws. Without BOUNDS, `given` and `inside` compile to nothing: the release build is
// the same module, byte for byte, as without them.

// Imported (debug build only) as kernels.extent and kernels.outOfBounds: AssemblyScript
// names an import's module after the file that declares it.
declare function extent(base: usize): usize;

declare function outOfBounds(buffer: i32, at: usize, bytes: usize, low: usize, high: usize): void;

let low0: usize = 0;
let high0: usize = 0;
let low1: usize = 0;
let high1: usize = 0;
let low2: usize = 0;
let high2: usize = 0;
// Slots 3–6: Adam's update reads four buffers and writes three.
let low3: usize = 0;
let high3: usize = 0;
let low4: usize = 0;
let high4: usize = 0;
let low5: usize = 0;
let high5: usize = 0;
let low6: usize = 0;
let high6: usize = 0;

/** Debug build: buffer `slot` (0 to 6) of this call starts at `base`. */
function given(slot: i32, base: usize): void {
  if (isDefined(BOUNDS)) {
    const high = base + extent(base);
    if (slot === 0) {
      low0 = base;
      high0 = high;
    } else if (slot === 1) {
      low1 = base;
      high1 = high;
    } else if (slot === 2) {
      low2 = base;
      high2 = high;
    } else if (slot === 3) {
      low3 = base;
      high3 = high;
    } else if (slot === 4) {
      low4 = base;
      high4 = high;
    } else if (slot === 5) {
      low5 = base;
      high5 = high;
    } else {
      low6 = base;
      high6 = high;
    }
  }
}

/** Debug build: traps unless `bytes` bytes at `at` lie inside buffer `slot`. */
function inside(slot: i32, at: usize, bytes: usize): void {
  if (isDefined(BOUNDS)) {
    const low =
      slot === 0
        ? low0
        : slot === 1
          ? low1
          : slot === 2
            ? low2
            : slot === 3
              ? low3
              : slot === 4
                ? low4
                : slot === 5
                  ? low5
                  : low6;
    const high =
      slot === 0
        ? high0
        : slot === 1
          ? high1
          : slot === 2
            ? high2
            : slot === 3
              ? high3
              : slot === 4
                ? high4
                : slot === 5
                  ? high5
                  : high6;
    if (bytes > 0 && (at < low || at + bytes > high)) {
      outOfBounds(slot, at, bytes, low, high);
      unreachable();
    }
  }
}

/** Lane offsets 0, 1, 2, 3 (built from splats: a v128 literal would be fine too). */
function lanes(): v128 {
  return i32x4(0, 1, 2, 3);
}

function ceilDiv(a: i32, b: i32): i32 {
  return a <= 0 ? -(-a / b) : (a + b - 1) / b;
}

/**
 * dx of a max pool (NHWC): every window's dy goes to the first maximum of its
 * window (row-major order), channel by channel; overlapping windows add up.
 * Windows start from −∞, so windows whose values are all ≤ 0 pass their
 * gradient too; a window of only NaN passes none (as `v > best` never holds).
 */
export function maxPoolGrad(
  x: usize,
  dy: usize,
  dx: usize,
  batch: i32,
  h: i32,
  w: i32,
  c: i32,
  ho: i32,
  wo: i32,
  fh: i32,
  fw: i32,
  sh: i32,
  sw: i32,
  top: i32,
  left: i32,
): void {
  given(0, x);
  given(1, dy);
  given(2, dx);
  inside(2, dx, (<usize>batch * <usize>h * <usize>w * <usize>c) << 2);
  if (fh === 2 && fw === 2 && sh === 2 && sw === 2 && top === 0 && left === 0) {
    if (2 * ho <= h && 2 * wo <= w && (c & 3) === 0) {
      maxPoolGrad2x2(x, dy, dx, batch, h, w, c, ho, wo);
      return;
    }
  }
  memory.fill(dx, 0, (<usize>batch * <usize>h * <usize>w * <usize>c) << 2);
  const c4 = c & ~3;
  let g = dy;
  for (let n = 0; n < batch; n++) {
    for (let oy = 0; oy < ho; oy++) {
      const y0 = oy * sh - top;
      const yStart = max(0, y0);
      const yEnd = min(h, y0 + fh);
      for (let ox = 0; ox < wo; ox++) {
        const x0 = ox * sw - left;
        const xStart = max(0, x0);
        const xEnd = min(w, x0 + fw);
        for (let ch = 0; ch < c4; ch += 4) {
          let best = f32x4.splat(-Infinity);
          let at = i32x4.splat(-1);
          for (let iy = yStart; iy < yEnd; iy++) {
            for (let ix = xStart; ix < xEnd; ix++) {
              const e = ((n * h + iy) * w + ix) * c + ch;
              inside(0, x + ((<usize>e) << 2), 16);
              const v = v128.load(x + ((<usize>e) << 2));
              const more = f32x4.gt(v, best);
              best = v128.bitselect(v, best, more);
              at = v128.bitselect(i32x4.add(i32x4.splat(e), lanes()), at, more);
            }
          }
          inside(1, g + ((<usize>ch) << 2), 16);
          addAt(dx, i32x4.extract_lane(at, 0), load<f32>(g + ((<usize>ch) << 2)));
          addAt(dx, i32x4.extract_lane(at, 1), load<f32>(g + ((<usize>(ch + 1)) << 2)));
          addAt(dx, i32x4.extract_lane(at, 2), load<f32>(g + ((<usize>(ch + 2)) << 2)));
          addAt(dx, i32x4.extract_lane(at, 3), load<f32>(g + ((<usize>(ch + 3)) << 2)));
        }
        for (let ch = c4; ch < c; ch++) {
          let best = -Infinity as f32;
          let at = -1;
          for (let iy = yStart; iy < yEnd; iy++) {
            for (let ix = xStart; ix < xEnd; ix++) {
              const e = ((n * h + iy) * w + ix) * c + ch;
              inside(0, x + ((<usize>e) << 2), 4);
              const v = load<f32>(x + ((<usize>e) << 2));
              if (v > best) {
                best = v;
                at = e;
              }
            }
          }
          inside(1, g + ((<usize>ch) << 2), 4);
          addAt(dx, at, load<f32>(g + ((<usize>ch) << 2)));
        }
        g += (<usize>c) << 2;
      }
    }
  }
}

/**
 * maxPoolGrad for 2×2 windows at stride 2 inside the input, channels a multiple
 * of 4 (the pools of our CNNs): windows do not overlap, so each entry of dx is
 * written once, dy where it is its window's first maximum and 0 elsewhere, four
 * channels at a time; only rows and columns past the last window are cleared
 * separately. The same rule as the general loop: `v > best` in row-major order
 * from −∞ (ties to the first, NaN never wins).
 */
function maxPoolGrad2x2(
  x: usize,
  dy: usize,
  dx: usize,
  batch: i32,
  h: i32,
  w: i32,
  c: i32,
  ho: i32,
  wo: i32,
): void {
  const row = (<usize>w * <usize>c) << 2;
  const pixel = (<usize>c) << 2;
  let g = dy;
  for (let n = 0; n < batch; n++) {
    const image = <usize>n * <usize>h * row;
    for (let oy = 0; oy < ho; oy++) {
      const r0 = image + <usize>(2 * oy) * row;
      for (let ox = 0; ox < wo; ox++) {
        const p00 = r0 + <usize>(2 * ox) * pixel;
        const p01 = p00 + pixel;
        const p10 = p00 + row;
        const p11 = p10 + pixel;
        inside(0, x + p00, pixel << 1);
        inside(0, x + p10, pixel << 1);
        inside(2, dx + p00, pixel << 1);
        inside(2, dx + p10, pixel << 1);
        inside(1, g, pixel);
        for (let ch: usize = 0; ch < pixel; ch += 16) {
          const v0 = v128.load(x + p00 + ch);
          const v1 = v128.load(x + p01 + ch);
          const v2 = v128.load(x + p10 + ch);
          const v3 = v128.load(x + p11 + ch);
          // w_k: lanes where position k is the first maximum so far.
          let w0 = f32x4.gt(v0, f32x4.splat(-Infinity));
          let best = v128.bitselect(v0, f32x4.splat(-Infinity), w0);
          const w1 = f32x4.gt(v1, best);
          w0 = v128.andnot(w0, w1);
          best = v128.bitselect(v1, best, w1);
          let w1k = w1;
          const w2 = f32x4.gt(v2, best);
          w0 = v128.andnot(w0, w2);
          w1k = v128.andnot(w1k, w2);
          best = v128.bitselect(v2, best, w2);
          const w3 = f32x4.gt(v3, best);
          w0 = v128.andnot(w0, w3);
          w1k = v128.andnot(w1k, w3);
          const w2k = v128.andnot(w2, w3);
          const d = v128.load(g + ch);
          v128.store(dx + p00 + ch, v128.and(d, w0));
          v128.store(dx + p01 + ch, v128.and(d, w1k));
          v128.store(dx + p10 + ch, v128.and(d, w2k));
          v128.store(dx + p11 + ch, v128.and(d, w3));
        }
        g += pixel;
      }
      // Columns past the last window in these two rows.
      const tail = <usize>(w - 2 * wo) * pixel;
      if (tail > 0) {
        const at = r0 + <usize>(2 * wo) * pixel;
        inside(2, dx + at, tail);
        inside(2, dx + at + row, tail);
        memory.fill(dx + at, 0, tail);
        memory.fill(dx + at + row, 0, tail);
      }
    }
    // Rows past the last window.
    const rest = <usize>(h - 2 * ho) * row;
    if (rest > 0) {
      const at = image + <usize>(2 * ho) * row;
      inside(2, dx + at, rest);
      memory.fill(dx + at, 0, rest);
    }
  }
}

function addAt(dx: usize, at: i32, value: f32): void {
  if (at >= 0) {
    const p = dx + ((<usize>at) << 2);
    inside(2, p, 4);
    store<f32>(p, load<f32>(p) + value);
  }
}

/** Rows summed in float32 before they go into the float64 accumulators. */
const BLOCK = 16;

/**
 * out[c] = scale · Σ_r x[r, c] for x read as [rows, cols]. Blocks of up to 16
 * rows are summed in float32 lanes, each block's sum then added into float64
 * accumulators `acc` (cols float64 values, scratch). Error: each block sum is
 * off by at most 15·2⁻²⁴·Σ|x| over its rows, so the total by about
 * 2⁻²⁰·Σ_r |x[r, c]| (plus float64 rounding and the final rounding to float32).
 */
export function sumRows(x: usize, out: usize, acc: usize, rows: i32, cols: i32, scale: f64): void {
  given(0, x);
  given(1, out);
  given(2, acc);
  inside(2, acc, (<usize>cols) << 3);
  memory.fill(acc, 0, (<usize>cols) << 3);
  const c4 = cols & ~3;
  const stride = (<usize>cols) << 2;
  for (let r0 = 0; r0 < rows; r0 += BLOCK) {
    const r1 = min(rows, r0 + BLOCK);
    const base = x + <usize>r0 * stride;
    for (let c = 0; c < c4; c += 4) {
      let p = base + ((<usize>c) << 2);
      inside(0, p, 16);
      let s = v128.load(p);
      for (let r = r0 + 1; r < r1; r++) {
        p += stride;
        inside(0, p, 16);
        s = f32x4.add(s, v128.load(p));
      }
      const a = acc + ((<usize>c) << 3);
      inside(2, a, 32);
      v128.store(a, f64x2.add(v128.load(a), f64x2.promote_low_f32x4(s)));
      const high = v128.shuffle<f32>(s, s, 2, 3, 2, 3);
      v128.store(a, f64x2.add(v128.load(a, 16), f64x2.promote_low_f32x4(high)), 16);
    }
    for (let c = c4; c < cols; c++) {
      let p = base + ((<usize>c) << 2);
      let s: f64 = 0;
      for (let r = r0; r < r1; r++) {
        inside(0, p, 4);
        s += <f64>load<f32>(p);
        p += stride;
      }
      const a = acc + ((<usize>c) << 3);
      inside(2, a, 8);
      store<f64>(a, load<f64>(a) + s);
    }
  }
  for (let c = 0; c < cols; c++) {
    inside(1, out + ((<usize>c) << 2), 4);
    store<f32>(out + ((<usize>c) << 2), <f32>(load<f64>(acc + ((<usize>c) << 3)) * scale));
  }
}

/**
 * The patches of a convolution's input, transposed, for the output rows
 * r0 ≤ r < r1 (r = n·ho + i): out[(ky, kx, ci), (r − r0, j)] =
 * x[n, i·sh + ky·rh − top, j·sw + kx·rw − left, ci], zero outside x. A
 * [kh·kw·cin, (r1 − r0)·wo] matrix, so that its product with those rows of dy
 * ([pixels, cout]) is their part of the filter gradient, in tfjs's
 * [kh, kw, cin, cout] layout.
 */
export function im2colT(
  x: usize,
  out: usize,
  _batch: i32, // part of the shared geometry; r0, r1 say which rows
  h: i32,
  w: i32,
  cin: i32,
  ho: i32,
  wo: i32,
  kh: i32,
  kw: i32,
  sh: i32,
  sw: i32,
  rh: i32,
  rw: i32,
  top: i32,
  left: i32,
  r0: i32,
  r1: i32,
): void {
  given(0, x);
  given(1, out);
  const pixels = <usize>(r1 - r0) * <usize>wo;
  const rowBytes = pixels << 2;
  for (let ky = 0; ky < kh; ky++) {
    for (let kx = 0; kx < kw; kx++) {
      const shift = kx * rw - left;
      const j0 = min(wo, max(0, ceilDiv(-shift, sw)));
      const j1 = max(j0, min(wo, ceilDiv(w - shift, sw)));
      const rows = out + <usize>((ky * kw + kx) * cin) * rowBytes;
      for (let r = r0; r < r1; r++) {
        const n = r / ho;
        const iy = (r % ho) * sh + ky * rh - top;
        const pix = (<usize>(r - r0) * <usize>wo) << 2;
        if (iy < 0 || iy >= h) {
          for (let ci = 0; ci < cin; ci++) {
            inside(1, rows + <usize>ci * rowBytes + pix, (<usize>wo) << 2);
            memory.fill(rows + <usize>ci * rowBytes + pix, 0, (<usize>wo) << 2);
          }
          continue;
        }
        const src = x + ((<usize>((n * h + iy) * w + j0 * sw + shift) * <usize>cin) << 2);
        const step = (<usize>sw * <usize>cin) << 2;
        for (let ci = 0; ci < cin; ci++) {
          const dst = rows + <usize>ci * rowBytes + pix;
          inside(1, dst, (<usize>wo) << 2);
          memory.fill(dst, 0, (<usize>j0) << 2);
          let p = src + ((<usize>ci) << 2);
          for (let j = j0; j < j1; j++) {
            inside(0, p, 4);
            store<f32>(dst + ((<usize>j) << 2), load<f32>(p));
            p += step;
          }
          memory.fill(dst + ((<usize>j1) << 2), 0, (<usize>(wo - j1)) << 2);
        }
      }
    }
  }
}

/** Rows of b per pass (k), and rows of a per pass (m): blocks that stay in cache. */
const KC = 256;
const MC = 64;

/**
 * c[m, n] (+)= Σ_k a(m, k) · b[k, n], b and c row-major ([k, n], [m, n]), a(m, k)
 * at a + m·aM + k·aK bytes: a row-major [m, k] (aM = 4k, aK = 4), or its
 * transpose read in place (aM = 4, aK = 4m; the weight gradient xᵀ·dy of a
 * dense layer). c is overwritten unless `accumulate`. b is read as it is,
 * unpacked: 4×8 register blocks broadcast 4 values of a against 8 columns of
 * b. k and m are split into blocks of KC and MC so that an 8-column panel of b
 * stays in L1 while a block of a is read from L2. Sums run in float32, in order of k.
 */
export function matmul(
  a: usize,
  aM: usize,
  aK: usize,
  b: usize,
  c: usize,
  m: i32,
  k: i32,
  n: i32,
  accumulate: bool,
): void {
  given(0, a);
  given(1, b);
  given(2, c);
  inside(2, c, (<usize>m * <usize>n) << 2);
  if (!accumulate) memory.fill(c, 0, (<usize>m * <usize>n) << 2);
  const m4 = m & ~3;
  const n8 = n & ~7;
  const bRow = (<usize>n) << 2;
  for (let k0 = 0; k0 < k; k0 += KC) {
    const depth = min(k, k0 + KC) - k0;
    const a0 = a + <usize>k0 * aK;
    const b0 = b + <usize>k0 * bRow;
    for (let i0 = 0; i0 < m4; i0 += MC) {
      const i1 = min(m4, i0 + MC);
      for (let j = 0; j < n8; j += 8) {
        for (let i = i0; i < i1; i += 4) {
          const at = c + ((<usize>i * <usize>n + <usize>j) << 2);
          // The block's first and last bytes of each operand (its addresses only grow).
          inside(2, at, 32);
          inside(2, at + 3 * bRow, 32);
          inside(0, a0 + <usize>i * aM, 4);
          inside(0, a0 + <usize>(i + 3) * aM + <usize>(depth - 1) * aK, 4);
          inside(1, b0 + ((<usize>j) << 2), 32);
          inside(1, b0 + ((<usize>j) << 2) + <usize>(depth - 1) * bRow, 32);
          block4x8(a0 + <usize>i * aM, aM, aK, b0 + ((<usize>j) << 2), at, depth, bRow);
        }
      }
    }
    // Rows past the last block of 4 (all columns), and the other rows' columns past the last block of 8.
    for (let i = 0; i < m; i++) {
      for (let j = i < m4 ? n8 : 0; j < n; j++) {
        const at = c + ((<usize>i * <usize>n + <usize>j) << 2);
        let s = load<f32>(at);
        let pa = a0 + <usize>i * aM;
        let pb = b0 + ((<usize>j) << 2);
        for (let kk = 0; kk < depth; kk++) {
          inside(0, pa, 4);
          inside(1, pb, 4);
          s += load<f32>(pa) * load<f32>(pb);
          pa += aK;
          pb += bRow;
        }
        store<f32>(at, s);
      }
    }
  }
}

/** c[0..4, 0..8] += a(0..4, 0..depth) · b[0..depth, 0..8] (strides as `matmul`'s; c's rows bRow apart). */
function block4x8(
  a: usize,
  aM: usize,
  aK: usize,
  b: usize,
  c: usize,
  depth: i32,
  bRow: usize,
): void {
  let s00 = v128.load(c);
  let s01 = v128.load(c, 16);
  let s10 = v128.load(c + bRow);
  let s11 = v128.load(c + bRow, 16);
  let s20 = v128.load(c + 2 * bRow);
  let s21 = v128.load(c + 2 * bRow, 16);
  let s30 = v128.load(c + 3 * bRow);
  let s31 = v128.load(c + 3 * bRow, 16);
  let pa = a;
  let pb = b;
  for (let kk = 0; kk < depth; kk++) {
    const b0 = v128.load(pb);
    const b1 = v128.load(pb, 16);
    const x0 = v128.load32_splat(pa);
    const x1 = v128.load32_splat(pa + aM);
    const x2 = v128.load32_splat(pa + 2 * aM);
    const x3 = v128.load32_splat(pa + 3 * aM);
    s00 = f32x4.add(s00, f32x4.mul(x0, b0));
    s01 = f32x4.add(s01, f32x4.mul(x0, b1));
    s10 = f32x4.add(s10, f32x4.mul(x1, b0));
    s11 = f32x4.add(s11, f32x4.mul(x1, b1));
    s20 = f32x4.add(s20, f32x4.mul(x2, b0));
    s21 = f32x4.add(s21, f32x4.mul(x2, b1));
    s30 = f32x4.add(s30, f32x4.mul(x3, b0));
    s31 = f32x4.add(s31, f32x4.mul(x3, b1));
    pa += aK;
    pb += bRow;
  }
  v128.store(c, s00);
  v128.store(c, s01, 16);
  v128.store(c + bRow, s10);
  v128.store(c + bRow, s11, 16);
  v128.store(c + 2 * bRow, s20);
  v128.store(c + 2 * bRow, s21, 16);
  v128.store(c + 3 * bRow, s30);
  v128.store(c + 3 * bRow, s31, 16);
}

/**
 * The adjoint of im2col, for the input gradient: for the output pixels
 * p0 ≤ p < p1, with p = (n, i, j), adds col[p − p0, (ky, kx, ci)] into
 * dx[n, i·sh + ky·rh − top, j·sw + kx·rw − left, ci] where that is inside dx.
 * `zero`: clear dx first.
 */
export function col2imAdd(
  col: usize,
  dx: usize,
  batch: i32,
  h: i32,
  w: i32,
  cin: i32,
  ho: i32,
  wo: i32,
  kh: i32,
  kw: i32,
  sh: i32,
  sw: i32,
  rh: i32,
  rw: i32,
  top: i32,
  left: i32,
  p0: i32,
  p1: i32,
  zero: bool,
): void {
  given(0, col);
  given(1, dx);
  inside(1, dx, (<usize>batch * <usize>h * <usize>w * <usize>cin) << 2);
  if (zero) memory.fill(dx, 0, (<usize>batch * <usize>h * <usize>w * <usize>cin) << 2);
  const c4 = cin & ~3;
  let src = col;
  for (let p = p0; p < p1; p++) {
    const j = p % wo;
    const i = (p / wo) % ho;
    const n = p / (wo * ho);
    for (let ky = 0; ky < kh; ky++) {
      const iy = i * sh + ky * rh - top;
      if (iy < 0 || iy >= h) {
        src += (<usize>(kw * cin)) << 2;
        continue;
      }
      for (let kx = 0; kx < kw; kx++) {
        const ix = j * sw + kx * rw - left;
        if (ix >= 0 && ix < w) {
          const dst = dx + ((<usize>((n * h + iy) * w + ix) * <usize>cin) << 2);
          inside(1, dst, (<usize>cin) << 2);
          inside(0, src, (<usize>cin) << 2);
          for (let c = 0; c < c4; c += 4) {
            const at = (<usize>c) << 2;
            v128.store(dst + at, f32x4.add(v128.load(dst + at), v128.load(src + at)));
          }
          for (let c = c4; c < cin; c++) {
            const at = (<usize>c) << 2;
            store<f32>(dst + at, load<f32>(dst + at) + load<f32>(src + at));
          }
        }
        src += (<usize>cin) << 2;
      }
    }
  }
}

// --- Winograd F(2×2, 3×3) convolutions (docs/conv-kernels.md) ---------------------------
// A stride-1, undilated 3×3 convolution in 2×2 output tiles: each tile's 4×4 input patch d
// becomes V = Bᵀ·d·B, the filter g becomes U = G·g·Gᵀ (per input and output channel), the
// 16 positions ξ of the tile are 16 products M_ξ = V_ξ·U_ξ over the input channels
// (`matmul`), and the tile's output is Aᵀ·M·A: 16 products per 4 outputs instead of 36.
// Layouts: U [16][cin][cout], V [16][tiles][cin], M [16][tiles][cout], tiles t = (n, ty, tx);
// planes `planeBytes` apart.

/**
 * Bytes from one of the 16 planes of U, V or M to the next: rows·cols floats and 16 more,
 * so that the 16 streams a transform reads or writes do not all fall into the same cache
 * sets (with power-of-two planes they did: a transform took as long as the products).
 */
function planeBytes(rows: i32, cols: i32): usize {
  return (<usize>rows * <usize>cols + 16) << 2;
}

/** 4 floats at p (fewer, `count` < 4, with zeros after), or zeros where `ok` is false or count ≤ 0. */
function loadLanes(slot: i32, p: usize, ok: bool, count: i32): v128 {
  if (!ok || count <= 0) return f32x4.splat(0);
  inside(slot, p, (<usize>count) << 2);
  if (count >= 4) return v128.load(p);
  let v = f32x4.splat(0);
  v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (count > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (count > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

/** The 4 floats at p where `ok`, else zeros: a load from `base` (inside buffer 0), masked off. */
function maskedLoad(p: usize, ok: bool, base: usize): v128 {
  if (ok) inside(0, p, 16);
  return v128.and(v128.load(select<usize>(p, base, ok)), i32x4.splat(select<i32>(-1, 0, ok)));
}

/** Stores the first `count` (≤ 4) lanes of v at p. */
function storeLanes(slot: i32, p: usize, v: v128, count: i32): void {
  inside(slot, p, (<usize>count) << 2);
  if (count >= 4) {
    v128.store(p, v);
    return;
  }
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (count > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (count > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

/**
 * The filter's transform: U[ξ][ci][co] = (G·g·Gᵀ)[ξ] with g[a][b] = w[a, b, ci, co]
 * and G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]], 4 output channels at a time.
 */
export function winogradFilter(w: usize, u: usize, cin: i32, cout: i32): void {
  given(0, w);
  given(1, u);
  const tap = (<usize>cin * <usize>cout) << 2;
  const plane = planeBytes(cin, cout);
  const half = f32x4.splat(0.5);
  for (let ci = 0; ci < cin; ci++) {
    for (let co = 0; co < cout; co += 4) {
      const count = min(4, cout - co);
      const o = (<usize>ci * <usize>cout + <usize>co) << 2;
      const at = w + o;
      const g00 = loadLanes(0, at, true, count);
      const g01 = loadLanes(0, at + tap, true, count);
      const g02 = loadLanes(0, at + 2 * tap, true, count);
      const g10 = loadLanes(0, at + 3 * tap, true, count);
      const g11 = loadLanes(0, at + 4 * tap, true, count);
      const g12 = loadLanes(0, at + 5 * tap, true, count);
      const g20 = loadLanes(0, at + 6 * tap, true, count);
      const g21 = loadLanes(0, at + 7 * tap, true, count);
      const g22 = loadLanes(0, at + 8 * tap, true, count);
      // G·g, row r by columns a, b, c; then row r of (G·g)·Gᵀ into U[4r … 4r + 3].
      for (let r = 0; r < 4; r++) {
        let a: v128;
        let b: v128;
        let c: v128;
        if (r === 0) {
          a = g00;
          b = g01;
          c = g02;
        } else if (r === 1) {
          a = f32x4.mul(f32x4.add(f32x4.add(g00, g10), g20), half);
          b = f32x4.mul(f32x4.add(f32x4.add(g01, g11), g21), half);
          c = f32x4.mul(f32x4.add(f32x4.add(g02, g12), g22), half);
        } else if (r === 2) {
          a = f32x4.mul(f32x4.add(f32x4.sub(g00, g10), g20), half);
          b = f32x4.mul(f32x4.add(f32x4.sub(g01, g11), g21), half);
          c = f32x4.mul(f32x4.add(f32x4.sub(g02, g12), g22), half);
        } else {
          a = g20;
          b = g21;
          c = g22;
        }
        const row = u + <usize>(r * 4) * plane + o;
        storeLanes(1, row, a, count);
        storeLanes(1, row + plane, f32x4.mul(f32x4.add(f32x4.add(a, b), c), half), count);
        storeLanes(1, row + 2 * plane, f32x4.mul(f32x4.add(f32x4.sub(a, b), c), half), count);
        storeLanes(1, row + 3 * plane, c, count);
      }
    }
  }
}

/**
 * The input's transform for the tiles t0 ≤ t < t1: V[ξ][t − t0][ci] = (Bᵀ·d·B)[ξ],
 * d[r][c] = x[n, 2·ty − top + r, 2·tx − left + c, ci] (zero outside x) for ci < vc
 * (V's channels, ≥ cin: those past cin are zeros), with
 * Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]].
 */
export function winogradInput(
  x: usize,
  v: usize,
  _batch: i32, // the entry checks t1 against it
  h: i32,
  w: i32,
  cin: i32,
  vc: i32,
  tilesH: i32,
  tilesW: i32,
  top: i32,
  left: i32,
  t0: i32,
  t1: i32,
): void {
  given(0, x);
  given(1, v);
  const plane = planeBytes(t1 - t0, vc);
  const perImage = tilesH * tilesW;
  const pixel = (<usize>cin) << 2;
  for (let t = t0; t < t1; t++) {
    const n = t / perImage;
    const y0 = ((t % perImage) / tilesW) * 2 - top;
    const x0 = (t % tilesW) * 2 - left;
    const r0 = y0 >= 0 && y0 < h;
    const r1 = y0 + 1 >= 0 && y0 + 1 < h;
    const r2 = y0 + 2 >= 0 && y0 + 2 < h;
    const r3 = y0 + 3 >= 0 && y0 + 3 < h;
    const c0 = x0 >= 0 && x0 < w;
    const c1 = x0 + 1 >= 0 && x0 + 1 < w;
    const c2 = x0 + 2 >= 0 && x0 + 2 < w;
    const c3 = x0 + 3 >= 0 && x0 + 3 < w;
    const whole = r0 && r3 && c0 && c3;
    // Addresses of (row r, column 0); used only where row and column are inside x.
    const p0 = x + <usize>((n * h + y0) * w + x0) * pixel;
    const p1 = p0 + <usize>w * pixel;
    const p2 = p1 + <usize>w * pixel;
    const p3 = p2 + <usize>w * pixel;
    const out = v + <usize>(t - t0) * ((<usize>vc) << 2);
    for (let ci = 0; ci < vc; ci += 4) {
      const count = min(4, cin - ci);
      const lanes = min(4, vc - ci);
      const o = (<usize>ci) << 2;
      const q1 = pixel + o;
      const q2 = 2 * pixel + o;
      const q3 = 3 * pixel + o;
      let d00: v128;
      let d01: v128;
      let d02: v128;
      let d03: v128;
      let d10: v128;
      let d11: v128;
      let d12: v128;
      let d13: v128;
      let d20: v128;
      let d21: v128;
      let d22: v128;
      let d23: v128;
      let d30: v128;
      let d31: v128;
      let d32: v128;
      let d33: v128;
      if (whole && count >= 4) {
        // Inside x: plain loads (loadLanes with constant arguments folds to v128.load).
        d00 = loadLanes(0, p0 + o, true, 4);
        d01 = loadLanes(0, p0 + q1, true, 4);
        d02 = loadLanes(0, p0 + q2, true, 4);
        d03 = loadLanes(0, p0 + q3, true, 4);
        d10 = loadLanes(0, p1 + o, true, 4);
        d11 = loadLanes(0, p1 + q1, true, 4);
        d12 = loadLanes(0, p1 + q2, true, 4);
        d13 = loadLanes(0, p1 + q3, true, 4);
        d20 = loadLanes(0, p2 + o, true, 4);
        d21 = loadLanes(0, p2 + q1, true, 4);
        d22 = loadLanes(0, p2 + q2, true, 4);
        d23 = loadLanes(0, p2 + q3, true, 4);
        d30 = loadLanes(0, p3 + o, true, 4);
        d31 = loadLanes(0, p3 + q1, true, 4);
        d32 = loadLanes(0, p3 + q2, true, 4);
        d33 = loadLanes(0, p3 + q3, true, 4);
      } else if (count >= 4) {
        // At the border: every load from inside x (x itself where the pixel is outside), then
        // masked, without a branch per load.
        d00 = maskedLoad(p0 + o, r0 && c0, x);
        d01 = maskedLoad(p0 + q1, r0 && c1, x);
        d02 = maskedLoad(p0 + q2, r0 && c2, x);
        d03 = maskedLoad(p0 + q3, r0 && c3, x);
        d10 = maskedLoad(p1 + o, r1 && c0, x);
        d11 = maskedLoad(p1 + q1, r1 && c1, x);
        d12 = maskedLoad(p1 + q2, r1 && c2, x);
        d13 = maskedLoad(p1 + q3, r1 && c3, x);
        d20 = maskedLoad(p2 + o, r2 && c0, x);
        d21 = maskedLoad(p2 + q1, r2 && c1, x);
        d22 = maskedLoad(p2 + q2, r2 && c2, x);
        d23 = maskedLoad(p2 + q3, r2 && c3, x);
        d30 = maskedLoad(p3 + o, r3 && c0, x);
        d31 = maskedLoad(p3 + q1, r3 && c1, x);
        d32 = maskedLoad(p3 + q2, r3 && c2, x);
        d33 = maskedLoad(p3 + q3, r3 && c3, x);
      } else {
        d00 = loadLanes(0, p0 + o, r0 && c0, count);
        d01 = loadLanes(0, p0 + q1, r0 && c1, count);
        d02 = loadLanes(0, p0 + q2, r0 && c2, count);
        d03 = loadLanes(0, p0 + q3, r0 && c3, count);
        d10 = loadLanes(0, p1 + o, r1 && c0, count);
        d11 = loadLanes(0, p1 + q1, r1 && c1, count);
        d12 = loadLanes(0, p1 + q2, r1 && c2, count);
        d13 = loadLanes(0, p1 + q3, r1 && c3, count);
        d20 = loadLanes(0, p2 + o, r2 && c0, count);
        d21 = loadLanes(0, p2 + q1, r2 && c1, count);
        d22 = loadLanes(0, p2 + q2, r2 && c2, count);
        d23 = loadLanes(0, p2 + q3, r2 && c3, count);
        d30 = loadLanes(0, p3 + o, r3 && c0, count);
        d31 = loadLanes(0, p3 + q1, r3 && c1, count);
        d32 = loadLanes(0, p3 + q2, r3 && c2, count);
        d33 = loadLanes(0, p3 + q3, r3 && c3, count);
      }
      for (let r = 0; r < 4; r++) {
        // Row r of Bᵀ·d, by columns.
        let e0: v128;
        let e1: v128;
        let e2: v128;
        let e3: v128;
        if (r === 0) {
          e0 = f32x4.sub(d00, d20);
          e1 = f32x4.sub(d01, d21);
          e2 = f32x4.sub(d02, d22);
          e3 = f32x4.sub(d03, d23);
        } else if (r === 1) {
          e0 = f32x4.add(d10, d20);
          e1 = f32x4.add(d11, d21);
          e2 = f32x4.add(d12, d22);
          e3 = f32x4.add(d13, d23);
        } else if (r === 2) {
          e0 = f32x4.sub(d20, d10);
          e1 = f32x4.sub(d21, d11);
          e2 = f32x4.sub(d22, d12);
          e3 = f32x4.sub(d23, d13);
        } else {
          e0 = f32x4.sub(d10, d30);
          e1 = f32x4.sub(d11, d31);
          e2 = f32x4.sub(d12, d32);
          e3 = f32x4.sub(d13, d33);
        }
        const row = out + <usize>(r * 4) * plane + o;
        storeLanes(1, row, f32x4.sub(e0, e2), lanes);
        storeLanes(1, row + plane, f32x4.add(e1, e2), lanes);
        storeLanes(1, row + 2 * plane, f32x4.sub(e2, e1), lanes);
        storeLanes(1, row + 3 * plane, f32x4.sub(e1, e3), lanes);
      }
    }
  }
}

/** M[ξ] = V[ξ]·U[ξ] for the 16 positions ξ: V [16][tiles][cin], U [16][cin][cout], M [16][tiles][cout]. */
export function winogradProducts(
  v: usize,
  u: usize,
  m: usize,
  tiles: i32,
  cin: i32,
  cout: i32,
): void {
  const vPlane = planeBytes(tiles, cin);
  const uPlane = planeBytes(cin, cout);
  const mPlane = planeBytes(tiles, cout);
  for (let xi = 0; xi < 16; xi++) {
    matmul(
      v + <usize>xi * vPlane,
      (<usize>cin) << 2,
      4,
      u + <usize>xi * uPlane,
      m + <usize>xi * mPlane,
      tiles,
      cin,
      cout,
      false,
    );
  }
}

/**
 * The output's transform for the tiles t0 ≤ t < t1: y[n, 2·ty + a, 2·tx + b, co] =
 * (Aᵀ·M·A)[a][b] (+ bias[co]; then max(·, 0) with `relu`) where inside y, with
 * Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]]. `bias` is read only with `hasBias`.
 */
export function winogradOutput(
  m: usize,
  y: usize,
  bias: usize,
  _batch: i32, // the entry checks t1 against it
  ho: i32,
  wo: i32,
  cout: i32,
  tilesH: i32,
  tilesW: i32,
  t0: i32,
  t1: i32,
  hasBias: bool,
  relu: bool,
): void {
  given(0, m);
  given(1, y);
  given(2, bias);
  const plane = planeBytes(t1 - t0, cout);
  const perImage = tilesH * tilesW;
  const pixel = (<usize>cout) << 2;
  const zero = f32x4.splat(0);
  for (let t = t0; t < t1; t++) {
    const n = t / perImage;
    const oy = ((t % perImage) / tilesW) * 2;
    const ox = (t % tilesW) * 2;
    const down = oy + 1 < ho;
    const right = ox + 1 < wo;
    const at = y + <usize>((n * ho + oy) * wo + ox) * pixel;
    const from = m + <usize>(t - t0) * pixel;
    for (let co = 0; co < cout; co += 4) {
      const count = min(4, cout - co);
      const o = (<usize>co) << 2;
      const p = from + o;
      const m00 = loadLanes(0, p, true, count);
      const m01 = loadLanes(0, p + plane, true, count);
      const m02 = loadLanes(0, p + 2 * plane, true, count);
      const m03 = loadLanes(0, p + 3 * plane, true, count);
      const m10 = loadLanes(0, p + 4 * plane, true, count);
      const m11 = loadLanes(0, p + 5 * plane, true, count);
      const m12 = loadLanes(0, p + 6 * plane, true, count);
      const m13 = loadLanes(0, p + 7 * plane, true, count);
      const m20 = loadLanes(0, p + 8 * plane, true, count);
      const m21 = loadLanes(0, p + 9 * plane, true, count);
      const m22 = loadLanes(0, p + 10 * plane, true, count);
      const m23 = loadLanes(0, p + 11 * plane, true, count);
      const m30 = loadLanes(0, p + 12 * plane, true, count);
      const m31 = loadLanes(0, p + 13 * plane, true, count);
      const m32 = loadLanes(0, p + 14 * plane, true, count);
      const m33 = loadLanes(0, p + 15 * plane, true, count);
      // Aᵀ·M, rows 0 and 1, by columns.
      const s00 = f32x4.add(f32x4.add(m00, m10), m20);
      const s01 = f32x4.add(f32x4.add(m01, m11), m21);
      const s02 = f32x4.add(f32x4.add(m02, m12), m22);
      const s03 = f32x4.add(f32x4.add(m03, m13), m23);
      const s10 = f32x4.sub(f32x4.sub(m10, m20), m30);
      const s11 = f32x4.sub(f32x4.sub(m11, m21), m31);
      const s12 = f32x4.sub(f32x4.sub(m12, m22), m32);
      const s13 = f32x4.sub(f32x4.sub(m13, m23), m33);
      const b = loadLanes(2, bias + o, hasBias, count);
      let y00 = f32x4.add(f32x4.add(f32x4.add(s00, s01), s02), b);
      let y01 = f32x4.add(f32x4.sub(f32x4.sub(s01, s02), s03), b);
      let y10 = f32x4.add(f32x4.add(f32x4.add(s10, s11), s12), b);
      let y11 = f32x4.add(f32x4.sub(f32x4.sub(s11, s12), s13), b);
      if (relu) {
        y00 = f32x4.max(y00, zero);
        y01 = f32x4.max(y01, zero);
        y10 = f32x4.max(y10, zero);
        y11 = f32x4.max(y11, zero);
      }
      const q = at + o;
      storeLanes(1, q, y00, count);
      if (right) storeLanes(1, q + pixel, y01, count);
      if (down) {
        const below = q + <usize>wo * pixel;
        storeLanes(1, below, y10, count);
        if (right) storeLanes(1, below + pixel, y11, count);
      }
    }
  }
}

// The filter gradient by F(3×3, 2×2) (docs/conv-kernels.md): dW[a, b, ci, co] = Σ over dy's
// 2×2 tiles of the 4×4 input patch correlated with the tile, = Aᵀ·(Σ_t V_t ⊙ U_t)·A with
// V_t the input's transform above (winogradInput, same tiles), U_t = G·dy_t·Gᵀ and
// G = [[1, 0], [½, ½], [½, −½], [0, −1]], Aᵀ = [[1, 1, 1, 0], [0, 1, −1, 0], [0, 1, 1, 1]].
// The sum over tiles is 16 products Vᵀ_ξ·U_ξ, accumulated over the chunks of tiles.

/**
 * dy's tiles transformed, for the tiles t0 ≤ t < t1: U[ξ][t − t0][co] = (G·g·Gᵀ)[ξ],
 * g[a][b] = dy[n, 2·ty + a, 2·tx + b, co] (zero outside dy).
 */
export function winogradGradientTiles(
  dy: usize,
  u: usize,
  _batch: i32, // the entry checks t1 against it
  ho: i32,
  wo: i32,
  cout: i32,
  tilesH: i32,
  tilesW: i32,
  t0: i32,
  t1: i32,
): void {
  given(0, dy);
  given(1, u);
  const plane = planeBytes(t1 - t0, cout);
  const perImage = tilesH * tilesW;
  const pixel = (<usize>cout) << 2;
  const half = f32x4.splat(0.5);
  const zero = f32x4.splat(0);
  for (let t = t0; t < t1; t++) {
    const n = t / perImage;
    const oy = ((t % perImage) / tilesW) * 2;
    const ox = (t % tilesW) * 2;
    const down = oy + 1 < ho;
    const right = ox + 1 < wo;
    const at = dy + <usize>((n * ho + oy) * wo + ox) * pixel;
    const out = u + <usize>(t - t0) * pixel;
    for (let co = 0; co < cout; co += 4) {
      const count = min(4, cout - co);
      const o = (<usize>co) << 2;
      const g00 = loadLanes(0, at + o, true, count);
      const g01 = loadLanes(0, at + pixel + o, right, count);
      const g10 = loadLanes(0, at + <usize>wo * pixel + o, down, count);
      const g11 = loadLanes(0, at + <usize>(wo + 1) * pixel + o, down && right, count);
      for (let r = 0; r < 4; r++) {
        // Row r of G·g: columns a, b.
        let a: v128;
        let b: v128;
        if (r === 0) {
          a = g00;
          b = g01;
        } else if (r === 1) {
          a = f32x4.mul(f32x4.add(g00, g10), half);
          b = f32x4.mul(f32x4.add(g01, g11), half);
        } else if (r === 2) {
          a = f32x4.mul(f32x4.sub(g00, g10), half);
          b = f32x4.mul(f32x4.sub(g01, g11), half);
        } else {
          a = f32x4.sub(zero, g10);
          b = f32x4.sub(zero, g11);
        }
        const row = out + <usize>(r * 4) * plane + o;
        storeLanes(1, row, a, count);
        storeLanes(1, row + plane, f32x4.mul(f32x4.add(a, b), half), count);
        storeLanes(1, row + 2 * plane, f32x4.mul(f32x4.sub(a, b), half), count);
        storeLanes(1, row + 3 * plane, f32x4.sub(zero, b), count);
      }
    }
  }
}

/**
 * M[ξ] (+)= V[ξ]ᵀ·U[ξ] for the 16 positions ξ: V [16][tiles][cin] read transposed in
 * place, U [16][tiles][cout], M [16][cin][cout]; M is overwritten unless `accumulate`.
 */
export function winogradGradientProducts(
  v: usize,
  u: usize,
  m: usize,
  tiles: i32,
  cin: i32,
  cout: i32,
  accumulate: bool,
): void {
  const vPlane = planeBytes(tiles, cin);
  const uPlane = planeBytes(tiles, cout);
  const mPlane = planeBytes(cin, cout);
  for (let xi = 0; xi < 16; xi++) {
    matmul(
      v + <usize>xi * vPlane,
      4,
      (<usize>cin) << 2,
      u + <usize>xi * uPlane,
      m + <usize>xi * mPlane,
      cin,
      tiles,
      cout,
      accumulate,
    );
  }
}

/** dW[a, b, ci, co] = (Aᵀ·M·A)[a][b] over every (ci, co), 4 at a time: M [16][cin·cout], dW [9][cin·cout]. */
export function winogradFilterGradient(m: usize, dw: usize, pairs: i32): void {
  given(0, m);
  given(1, dw);
  const plane = planeBytes(pairs, 1);
  const tap = (<usize>pairs) << 2;
  for (let q = 0; q < pairs; q += 4) {
    const count = min(4, pairs - q);
    const p = m + ((<usize>q) << 2);
    const m00 = loadLanes(0, p, true, count);
    const m01 = loadLanes(0, p + plane, true, count);
    const m02 = loadLanes(0, p + 2 * plane, true, count);
    const m03 = loadLanes(0, p + 3 * plane, true, count);
    const m10 = loadLanes(0, p + 4 * plane, true, count);
    const m11 = loadLanes(0, p + 5 * plane, true, count);
    const m12 = loadLanes(0, p + 6 * plane, true, count);
    const m13 = loadLanes(0, p + 7 * plane, true, count);
    const m20 = loadLanes(0, p + 8 * plane, true, count);
    const m21 = loadLanes(0, p + 9 * plane, true, count);
    const m22 = loadLanes(0, p + 10 * plane, true, count);
    const m23 = loadLanes(0, p + 11 * plane, true, count);
    const m30 = loadLanes(0, p + 12 * plane, true, count);
    const m31 = loadLanes(0, p + 13 * plane, true, count);
    const m32 = loadLanes(0, p + 14 * plane, true, count);
    const m33 = loadLanes(0, p + 15 * plane, true, count);
    const to = dw + ((<usize>q) << 2);
    for (let k = 0; k < 3; k++) {
      // Row k of Aᵀ·M, by columns.
      let s0: v128;
      let s1: v128;
      let s2: v128;
      let s3: v128;
      if (k === 0) {
        s0 = f32x4.add(f32x4.add(m00, m10), m20);
        s1 = f32x4.add(f32x4.add(m01, m11), m21);
        s2 = f32x4.add(f32x4.add(m02, m12), m22);
        s3 = f32x4.add(f32x4.add(m03, m13), m23);
      } else if (k === 1) {
        s0 = f32x4.sub(m10, m20);
        s1 = f32x4.sub(m11, m21);
        s2 = f32x4.sub(m12, m22);
        s3 = f32x4.sub(m13, m23);
      } else {
        s0 = f32x4.add(f32x4.add(m10, m20), m30);
        s1 = f32x4.add(f32x4.add(m11, m21), m31);
        s2 = f32x4.add(f32x4.add(m12, m22), m32);
        s3 = f32x4.add(f32x4.add(m13, m23), m33);
      }
      const row = to + <usize>(k * 3) * tap;
      storeLanes(1, row, f32x4.add(f32x4.add(s0, s1), s2), count);
      storeLanes(1, row + tap, f32x4.sub(s1, s2), count);
      storeLanes(1, row + 2 * tap, f32x4.add(f32x4.add(s1, s2), s3), count);
    }
  }
}

/** out[r, c] = x[r, c] + bias[c] for x read as [rows, cols]: a bias add. */
export function addRows(x: usize, bias: usize, out: usize, rows: i32, cols: i32): void {
  given(0, x);
  given(1, bias);
  given(2, out);
  inside(1, bias, (<usize>cols) << 2);
  const c4 = cols & ~3;
  const stride = (<usize>cols) << 2;
  for (let r = 0; r < rows; r++) {
    const from = x + <usize>r * stride;
    const to = out + <usize>r * stride;
    inside(0, from, stride);
    inside(2, to, stride);
    for (let c = 0; c < c4; c += 4) {
      const at = (<usize>c) << 2;
      v128.store(to + at, f32x4.add(v128.load(from + at), v128.load(bias + at)));
    }
    for (let c = c4; c < cols; c++) {
      const at = (<usize>c) << 2;
      store<f32>(to + at, load<f32>(from + at) + load<f32>(bias + at));
    }
  }
}

/**
 * c[r, j] = act(c[r, j] + bias[j]) in place, c read as [rows, cols], the bias
 * added only if `withBias`: _FusedMatMul's epilogue after `matmul`. act: 0
 * linear, 1 relu max(x, 0), 2 relu6 min(max(x, 0), 6); wasm's max and min
 * keep NaN a NaN, as tfjs's kernels do.
 */
export function biasActivation(
  c: usize,
  bias: usize,
  rows: i32,
  cols: i32,
  withBias: bool,
  act: i32,
): void {
  given(0, c);
  if (withBias) {
    given(1, bias);
    inside(1, bias, (<usize>cols) << 2);
  }
  const c4 = cols & ~3;
  const stride = (<usize>cols) << 2;
  const zero = f32x4.splat(0);
  const six = f32x4.splat(6);
  for (let r = 0; r < rows; r++) {
    const row = c + <usize>r * stride;
    inside(0, row, stride);
    for (let j = 0; j < c4; j += 4) {
      const at = (<usize>j) << 2;
      let v = v128.load(row + at);
      if (withBias) v = f32x4.add(v, v128.load(bias + at));
      if (act >= 1) v = f32x4.max(v, zero);
      if (act === 2) v = f32x4.min(v, six);
      v128.store(row + at, v);
    }
    for (let j = c4; j < cols; j++) {
      const at = (<usize>j) << 2;
      let v = load<f32>(row + at);
      if (withBias) v += load<f32>(bias + at);
      if (act >= 1) v = max<f32>(v, 0);
      if (act === 2) v = min<f32>(v, 6);
      store<f32>(row + at, v);
    }
  }
}

/**
 * out[taps − 1 − t, co, ci] = w[t, ci, co] for a filter read as [taps, cin, cout]
 * (taps = kh·kw): the filter flipped in both spatial axes with its channel
 * axes swapped, as the input gradient's convolution takes it. In 16×16 tiles,
 * so that both sides stay in cache.
 */
export function flipSwapFilter(w: usize, out: usize, taps: i32, cin: i32, cout: i32): void {
  given(0, w);
  given(1, out);
  const tap = (<usize>cin * <usize>cout) << 2;
  for (let t = 0; t < taps; t++) {
    const src = w + <usize>t * tap;
    const dst = out + <usize>(taps - 1 - t) * tap;
    inside(0, src, tap);
    inside(1, dst, tap);
    for (let i0 = 0; i0 < cin; i0 += 16) {
      const i1 = min(cin, i0 + 16);
      for (let o0 = 0; o0 < cout; o0 += 16) {
        const o1 = min(cout, o0 + 16);
        for (let i = i0; i < i1; i++) {
          for (let o = o0; o < o1; o++) {
            store<f32>(
              dst + ((<usize>o * <usize>cin + <usize>i) << 2),
              load<f32>(src + ((<usize>i * <usize>cout + <usize>o) << 2)),
            );
          }
        }
      }
    }
  }
}

/**
 * out = w·x, or out += w·x with `accumulate` (n floats each): one term of a
 * linear combination of parameter-shaped tensors (docs/optimizer-kernels.md).
 * Rounds as tfjs's Mul then Add do: w·x rounded, then the sum rounded.
 */
export function axpy(x: usize, out: usize, n: i32, w: f32, accumulate: bool): void {
  given(0, x);
  given(1, out);
  const bytes = (<usize>n) << 2;
  inside(0, x, bytes);
  inside(1, out, bytes);
  const n4 = n & ~3;
  const ws = f32x4.splat(w);
  if (accumulate) {
    for (let i = 0; i < n4; i += 4) {
      const at = (<usize>i) << 2;
      v128.store(out + at, f32x4.add(v128.load(out + at), f32x4.mul(ws, v128.load(x + at))));
    }
    for (let i = n4; i < n; i++) {
      const at = (<usize>i) << 2;
      store<f32>(out + at, load<f32>(out + at) + w * load<f32>(x + at));
    }
  } else {
    for (let i = 0; i < n4; i += 4) {
      const at = (<usize>i) << 2;
      v128.store(out + at, f32x4.mul(ws, v128.load(x + at)));
    }
    for (let i = n4; i < n; i++) {
      const at = (<usize>i) << 2;
      store<f32>(out + at, w * load<f32>(x + at));
    }
  }
}

/**
 * out = wx·x + wy·y (n floats each) in one pass: the first two terms of a linear
 * combination, read once instead of twice (the passes are memory-bound;
 * docs/optimizer-kernels.md). Rounds as `axpy` then `axpy` accumulating: each
 * product rounded, then the sum.
 */
export function axpby(x: usize, y: usize, out: usize, n: i32, wx: f32, wy: f32): void {
  given(0, x);
  given(1, y);
  given(2, out);
  const bytes = (<usize>n) << 2;
  inside(0, x, bytes);
  inside(1, y, bytes);
  inside(2, out, bytes);
  const n4 = n & ~3;
  const a = f32x4.splat(wx);
  const b = f32x4.splat(wy);
  for (let i = 0; i < n4; i += 4) {
    const at = (<usize>i) << 2;
    v128.store(
      out + at,
      f32x4.add(f32x4.mul(a, v128.load(x + at)), f32x4.mul(b, v128.load(y + at))),
    );
  }
  for (let i = n4; i < n; i++) {
    const at = (<usize>i) << 2;
    store<f32>(out + at, wx * load<f32>(x + at) + wy * load<f32>(y + at));
  }
}

/**
 * acc[0] += the number of entries of x that are NaN or ±∞, acc[1] += Σ x²
 * (float64 accumulators at acc, n floats at x; squares rounded to float32 as
 * tfjs's Square, then summed in float64). Each entry is tested on its own
 * (x − x is 0 exactly when x is finite), so no sum can overflow into a false
 * alarm; Σ x² is NaN or ∞ as IEEE arithmetic gives it.
 */
export function finiteSquares(x: usize, n: i32, acc: usize): void {
  given(0, x);
  given(1, acc);
  inside(0, x, (<usize>n) << 2);
  inside(1, acc, 16);
  const n4 = n & ~3;
  let bad = i32x4.splat(0);
  let s = f64x2.splat(0);
  const zero = f32x4.splat(0);
  for (let i = 0; i < n4; i += 4) {
    const v = v128.load(x + ((<usize>i) << 2));
    // All ones (−1) in a lane where v − v is not 0 (NaN): v is NaN or ±∞.
    bad = i32x4.sub(bad, f32x4.ne(f32x4.sub(v, v), zero));
    const sq = f32x4.mul(v, v);
    s = f64x2.add(s, f64x2.promote_low_f32x4(sq));
    s = f64x2.add(s, f64x2.promote_low_f32x4(v128.shuffle<f32>(sq, sq, 2, 3, 2, 3)));
  }
  let count: f64 = <f64>(
    (i32x4.extract_lane(bad, 0) +
      i32x4.extract_lane(bad, 1) +
      i32x4.extract_lane(bad, 2) +
      i32x4.extract_lane(bad, 3))
  );
  let squares: f64 = f64x2.extract_lane(s, 0) + f64x2.extract_lane(s, 1);
  for (let i = n4; i < n; i++) {
    const v = load<f32>(x + ((<usize>i) << 2));
    if (v - v !== 0) count += 1;
    squares += <f64>(v * v);
  }
  store<f64>(acc, load<f64>(acc) + count);
  store<f64>(acc, load<f64>(acc, 8) + squares, 8);
}

/**
 * acc[0] += the number of entries of x that are NaN or ±∞ (a float64 at acc, n floats
 * at x), each tested on its own as in `finiteSquares`, without its float64 squares
 * (whose dependent adds bound that loop): the finiteness test alone.
 */
export function countNonFinite(x: usize, n: i32, acc: usize): void {
  given(0, x);
  given(1, acc);
  inside(0, x, (<usize>n) << 2);
  inside(1, acc, 8);
  const n8 = n & ~7;
  let bad0 = i32x4.splat(0);
  let bad1 = i32x4.splat(0);
  const zero = f32x4.splat(0);
  for (let i = 0; i < n8; i += 8) {
    const at = x + ((<usize>i) << 2);
    const v = v128.load(at);
    const w = v128.load(at, 16);
    // All ones (−1) in a lane where v − v is not 0 (NaN): v is NaN or ±∞.
    bad0 = i32x4.sub(bad0, f32x4.ne(f32x4.sub(v, v), zero));
    bad1 = i32x4.sub(bad1, f32x4.ne(f32x4.sub(w, w), zero));
  }
  const bad = i32x4.add(bad0, bad1);
  let count: f64 = <f64>(
    (i32x4.extract_lane(bad, 0) +
      i32x4.extract_lane(bad, 1) +
      i32x4.extract_lane(bad, 2) +
      i32x4.extract_lane(bad, 3))
  );
  for (let i = n8; i < n; i++) {
    const v = load<f32>(x + ((<usize>i) << 2));
    if (v - v !== 0) count += 1;
  }
  store<f64>(acc, load<f64>(acc) + count);
}

/**
 * acc[1] += Σ (T·g)² with T = |x| + η (n floats at x and g, float64 accumulators at acc):
 * ASAM's ‖Tg‖² without writing T or Tg, each T·g and its square rounded to float32 as
 * tfjs's ops round them and summed in float64 in `finiteSquares`' order, so the sum is
 * bit for bit `finiteSquares` of the product (docs/optimizer-kernels.md).
 */
export function adaptiveSquares(x: usize, g: usize, n: i32, eta: f32, acc: usize): void {
  given(0, x);
  given(1, g);
  given(2, acc);
  const bytes = (<usize>n) << 2;
  inside(0, x, bytes);
  inside(1, g, bytes);
  inside(2, acc, 16);
  const n4 = n & ~3;
  let s = f64x2.splat(0);
  const e = f32x4.splat(eta);
  for (let i = 0; i < n4; i += 4) {
    const at = (<usize>i) << 2;
    const v = f32x4.mul(f32x4.add(f32x4.abs(v128.load(x + at)), e), v128.load(g + at));
    const sq = f32x4.mul(v, v);
    s = f64x2.add(s, f64x2.promote_low_f32x4(sq));
    s = f64x2.add(s, f64x2.promote_low_f32x4(v128.shuffle<f32>(sq, sq, 2, 3, 2, 3)));
  }
  let squares: f64 = f64x2.extract_lane(s, 0) + f64x2.extract_lane(s, 1);
  for (let i = n4; i < n; i++) {
    const at = (<usize>i) << 2;
    const v = (Mathf.abs(load<f32>(x + at)) + eta) * load<f32>(g + at);
    squares += <f64>(v * v);
  }
  store<f64>(acc, load<f64>(acc, 8) + squares, 8);
}

/**
 * out = T·(T·g) with T = |x| + η (n floats each): ASAM's T²g, each product rounded to
 * float32 as tfjs's ops round them.
 */
export function adaptiveDirection(x: usize, g: usize, out: usize, n: i32, eta: f32): void {
  given(0, x);
  given(1, g);
  given(2, out);
  const bytes = (<usize>n) << 2;
  inside(0, x, bytes);
  inside(1, g, bytes);
  inside(2, out, bytes);
  const n4 = n & ~3;
  const e = f32x4.splat(eta);
  for (let i = 0; i < n4; i += 4) {
    const at = (<usize>i) << 2;
    const t = f32x4.add(f32x4.abs(v128.load(x + at)), e);
    v128.store(out + at, f32x4.mul(t, f32x4.mul(t, v128.load(g + at))));
  }
  for (let i = n4; i < n; i++) {
    const at = (<usize>i) << 2;
    const t = Mathf.abs(load<f32>(x + at)) + eta;
    store<f32>(out + at, t * (t * load<f32>(g + at)));
  }
}

/** out = x ⊙ y (n floats each), rounded as tfjs's Mul (docs/optimizer-kernels.md). */
export function mulEntries(x: usize, y: usize, out: usize, n: i32): void {
  given(0, x);
  given(1, y);
  given(2, out);
  const bytes = (<usize>n) << 2;
  inside(0, x, bytes);
  inside(1, y, bytes);
  inside(2, out, bytes);
  const n4 = n & ~3;
  for (let i = 0; i < n4; i += 4) {
    const at = (<usize>i) << 2;
    v128.store(out + at, f32x4.mul(v128.load(x + at), v128.load(y + at)));
  }
  for (let i = n4; i < n; i++) {
    const at = (<usize>i) << 2;
    store<f32>(out + at, load<f32>(x + at) * load<f32>(y + at));
  }
}

/** out = |x| + c (n floats), rounded as tfjs's Abs then Add (ASAM's T = |x| + η). */
export function absAdd(x: usize, out: usize, n: i32, c: f32): void {
  given(0, x);
  given(1, out);
  const bytes = (<usize>n) << 2;
  inside(0, x, bytes);
  inside(1, out, bytes);
  const n4 = n & ~3;
  const cs = f32x4.splat(c);
  for (let i = 0; i < n4; i += 4) {
    const at = (<usize>i) << 2;
    v128.store(out + at, f32x4.add(f32x4.abs(v128.load(x + at)), cs));
  }
  for (let i = n4; i < n; i++) {
    const at = (<usize>i) << 2;
    store<f32>(out + at, Mathf.abs(load<f32>(x + at)) + c);
  }
}

/**
 * The momentum update of one variable in one pass (n floats each;
 * docs/optimizer-kernels.md), rounded as tfjs's MomentumOptimizer's ops:
 * a' = a·m + g, then x' = c·a' + x, or with Nesterov x' = c·(g + a'·m) + x (c = −lr).
 */
export function momentum(
  x: usize,
  g: usize,
  a: usize,
  outX: usize,
  outA: usize,
  n: i32,
  m: f32,
  c: f32,
  nesterov: bool,
): void {
  given(0, x);
  given(1, g);
  given(2, a);
  given(3, outX);
  given(4, outA);
  const bytes = (<usize>n) << 2;
  inside(0, x, bytes);
  inside(1, g, bytes);
  inside(2, a, bytes);
  inside(3, outX, bytes);
  inside(4, outA, bytes);
  const n4 = n & ~3;
  const ms = f32x4.splat(m);
  const cs = f32x4.splat(c);
  for (let i = 0; i < n4; i += 4) {
    const at = (<usize>i) << 2;
    const gi = v128.load(g + at);
    const ai = f32x4.add(f32x4.mul(v128.load(a + at), ms), gi);
    const step = nesterov ? f32x4.add(gi, f32x4.mul(ai, ms)) : ai;
    v128.store(outA + at, ai);
    v128.store(outX + at, f32x4.add(f32x4.mul(cs, step), v128.load(x + at)));
  }
  for (let i = n4; i < n; i++) {
    const at = (<usize>i) << 2;
    const gi = load<f32>(g + at);
    const ai = load<f32>(a + at) * m + gi;
    const step = nesterov ? gi + ai * m : ai;
    store<f32>(outA + at, ai);
    store<f32>(outX + at, c * step + load<f32>(x + at));
  }
}

/**
 * Adam's update of one variable in one pass (n floats each; docs/optimizer-kernels.md),
 * rounded as tfjs's AdamOptimizer's ops, each result to float32:
 * m' = m·β₁ + g·(1 − β₁), v' = v·β₂ + g²·(1 − β₂), and
 * x' = ((m'/a₁)/(√(v'/a₂) + ε))·(−lr) + x with aᵢ = 1 − βᵢᵗ; all constants float32.
 */
export function adam(
  x: usize,
  g: usize,
  m: usize,
  v: usize,
  outX: usize,
  outM: usize,
  outV: usize,
  n: i32,
  beta1: f32,
  oneMinusBeta1: f32,
  beta2: f32,
  oneMinusBeta2: f32,
  a1: f32,
  a2: f32,
  epsilon: f32,
  negLr: f32,
): void {
  given(0, x);
  given(1, g);
  given(2, m);
  given(3, v);
  given(4, outX);
  given(5, outM);
  given(6, outV);
  const bytes = (<usize>n) << 2;
  inside(0, x, bytes);
  inside(1, g, bytes);
  inside(2, m, bytes);
  inside(3, v, bytes);
  inside(4, outX, bytes);
  inside(5, outM, bytes);
  inside(6, outV, bytes);
  const n4 = n & ~3;
  const b1 = f32x4.splat(beta1);
  const c1 = f32x4.splat(oneMinusBeta1);
  const b2 = f32x4.splat(beta2);
  const c2 = f32x4.splat(oneMinusBeta2);
  const d1 = f32x4.splat(a1);
  const d2 = f32x4.splat(a2);
  const e = f32x4.splat(epsilon);
  const s = f32x4.splat(negLr);
  for (let i = 0; i < n4; i += 4) {
    const at = (<usize>i) << 2;
    const gi = v128.load(g + at);
    const mi = f32x4.add(f32x4.mul(v128.load(m + at), b1), f32x4.mul(gi, c1));
    const vi = f32x4.add(f32x4.mul(v128.load(v + at), b2), f32x4.mul(f32x4.mul(gi, gi), c2));
    const step = f32x4.div(f32x4.div(mi, d1), f32x4.add(f32x4.sqrt(f32x4.div(vi, d2)), e));
    v128.store(outM + at, mi);
    v128.store(outV + at, vi);
    v128.store(outX + at, f32x4.add(f32x4.mul(step, s), v128.load(x + at)));
  }
  for (let i = n4; i < n; i++) {
    const at = (<usize>i) << 2;
    const gi = load<f32>(g + at);
    const mi = load<f32>(m + at) * beta1 + gi * oneMinusBeta1;
    const vi = load<f32>(v + at) * beta2 + gi * gi * oneMinusBeta2;
    const step = mi / a1 / (Mathf.sqrt(vi / a2) + epsilon);
    store<f32>(outM + at, mi);
    store<f32>(outV + at, vi);
    store<f32>(outX + at, step * negLr + load<f32>(x + at));
  }
}

// Draws (docs/optimizer-kernels.md): the JavaScript samplers' values, bit for bit, written
// straight into tensors. xoroshiro128+ exactly as pure-rand 8's: its four 32-bit halves are
// the two 64-bit words s0, s1 here, and its 32-bit output (the sum of the low halves) is the
// low half of s0 + s1. Math.exp and Math.log are the host's (imported), so the ziggurat's
// rare wedge and tail tests round as the JavaScript ones do. The generator lives in locals
// in the hot loops (a load and store per step cost as much as the rest of a draw) and in the
// caller's state buffer between calls and around the rare paths: the module has no globals.

declare function hostExp(x: f64): f64;

declare function hostLog(x: f64): f64;

/** The next 32-bit output of the generator whose state (s0, s1: two i64) is at st; advances it. */
function nextWord(st: usize): i32 {
  const s0 = load<i64>(st);
  const s1 = load<i64>(st, 8);
  const a = s1 ^ s0;
  store<i64>(st, rotl<i64>(s0, 24) ^ a ^ (a << 16));
  store<i64>(st, rotl<i64>(a, 37), 8);
  return <i32>(s0 + s1);
}

/** (k + ½)·2⁻³² for the next 32-bit k: in (0, 1). */
function nextUnit(st: usize): f64 {
  return (<f64>(<u32>nextWord(st)) + 0.5) * 2.3283064365386963e-10;
}

/** (k + ½)·2⁻³² for a 32-bit k. */
function unitOf(k: i32): f64 {
  return (<f64>(<u32>k) + 0.5) * 2.3283064365386963e-10;
}

/** The ziggurat's tail beyond R for a draw of sign hz (Marsaglia 1964). */
function tail(state: usize, hz: i32): f64 {
  const R: f64 = 3.442619855899;
  let a: f64;
  let b: f64;
  do {
    a = -hostLog(nextUnit(state)) / R;
    b = -hostLog(nextUnit(state));
  } while (b + b < a * a);
  return hz > 0 ? R + a : -R - a;
}

/** Whether x, in the wedge of layer iz (F at f), is accepted under the density. */
function wedge(state: usize, f: usize, iz: i32, x: f64): bool {
  const fi = load<f64>(f + ((<usize>iz) << 3));
  const below = load<f64>(f + ((<usize>(iz - 1)) << 3));
  return fi + nextUnit(state) * (below - fi) < hostExp(-0.5 * x * x);
}

/**
 * n draws into out (float32), continuing the stream in `state` (the generator's
 * s0, s1 as two i64, then the ziggurat's cached index bits and how many are left
 * as two i32, then a float64 sum), updated on return. `which` 0: standard normals by
 * the ziggurat (tables at `tables`: K, W, F, 128 float64 each), times `scale`;
 * 4: the same with scale 1, and Σ z² (each float32 z squared in float64, summed in
 * order, continuing the sum) in the float64 at state + 24 (the sphere's norm, as its JavaScript
 * sums it); 1: uniforms in (0, 1]; 2: uniforms mapped to scale·(2u − 1); 3: ±1.
 */
export function draws(
  out: usize,
  n: i32,
  state: usize,
  tables: usize,
  which: i32,
  scale: f64,
): void {
  given(0, out);
  given(1, state);
  given(2, tables);
  inside(0, out, (<usize>n) << 2);
  inside(1, state, 32);
  inside(2, tables, 3 * 128 * 8);
  let s0 = load<i64>(state);
  let s1 = load<i64>(state, 8);
  if (which !== 0 && which !== 4) {
    for (let k = 0; k < n; k++) {
      const word = <i32>(s0 + s1);
      const a = s1 ^ s0;
      s0 = rotl<i64>(s0, 24) ^ a ^ (a << 16);
      s1 = rotl<i64>(a, 37);
      const u = <f32>unitOf(word);
      const at = out + ((<usize>k) << 2);
      if (which === 1) store<f32>(at, u);
      else if (which === 2) store<f32>(at, <f32>(scale * (2 * <f64>u - 1)));
      else store<f32>(at, u <= 0.5 ? -1 : 1);
    }
    store<i64>(state, s0);
    store<i64>(state, s1, 8);
    return;
  }
  let bits = load<i32>(state, 16);
  let left = load<i32>(state, 20);
  let squares = load<f64>(state, 24); // continued in order across calls, as one JavaScript sum
  const K = tables;
  const W = tables + 128 * 8;
  const F = tables + 256 * 8;
  for (let k = 0; k < n; k++) {
    let z: f64 = 0;
    for (;;) {
      const hz = <i32>(s0 + s1);
      let a = s1 ^ s0;
      s0 = rotl<i64>(s0, 24) ^ a ^ (a << 16);
      s1 = rotl<i64>(a, 37);
      if (left === 0) {
        bits = <i32>(s0 + s1);
        a = s1 ^ s0;
        s0 = rotl<i64>(s0, 24) ^ a ^ (a << 16);
        s1 = rotl<i64>(a, 37);
        left = 4;
      }
      const iz = bits & 127;
      bits = bits >>> 8;
      left--;
      const x = <f64>hz * load<f64>(W + ((<usize>iz) << 3));
      if (Math.abs(<f64>hz) < load<f64>(K + ((<usize>iz) << 3))) {
        z = x;
        break;
      }
      // The rare paths (1.2% of draws), out of line, draw uniforms through the state buffer.
      store<i64>(state, s0);
      store<i64>(state, s1, 8);
      let accept = true;
      if (iz === 0) z = tail(state, hz);
      else {
        accept = wedge(state, F, iz, x);
        z = x;
      }
      s0 = load<i64>(state);
      s1 = load<i64>(state, 8);
      if (accept) break;
    }
    const zf = <f32>z;
    if (which === 4) squares += <f64>zf * <f64>zf;
    store<f32>(out + ((<usize>k) << 2), <f32>(<f64>zf * scale));
  }
  store<i64>(state, s0);
  store<i64>(state, s1, 8);
  store<i32>(state, bits, 16);
  store<i32>(state, left, 20);
  if (which === 4) store<f64>(state, squares, 24);
}

/**
 * x ← x·factor in place (n floats at x; each entry multiplied in float64 and rounded
 * to float32 once, as JavaScript's Float32Array `*=` a number does): the sphere's
 * normalisation.
 */
export function scaleF64(x: usize, n: i32, factor: f64): void {
  given(0, x);
  inside(0, x, (<usize>n) << 2);
  const n4 = n & ~3;
  const f = f64x2.splat(factor);
  for (let i = 0; i < n4; i += 4) {
    const at = x + ((<usize>i) << 2);
    const v = v128.load(at);
    const lo = f64x2.mul(f64x2.promote_low_f32x4(v), f);
    const hi = f64x2.mul(f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3)), f);
    v128.store(
      at,
      v128.shuffle<f32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5),
    );
  }
  for (let i = n4; i < n; i++) {
    const at = x + ((<usize>i) << 2);
    store<f32>(at, <f32>(<f64>load<f32>(at) * factor));
  }
}
