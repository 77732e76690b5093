/**
 * A heat map with contour lines on a canvas: the grid's values as colours
 * (viridis), iso-lines from d3-contour (marching squares), and axes in the
 * grid's own coordinates. Values are laid out x fastest: values[j·nx + i] is
 * at (xs[i], ys[j]), y pointing up.
 */
import { contours } from 'd3-contour';

export interface Field {
  readonly values: readonly number[];
  readonly nx: number;
  readonly ny: number;
  /** [xMin, xMax, yMin, yMax] of the grid. */
  readonly extent: readonly [number, number, number, number];
}

// viridis at 9 stops (matplotlib's), interpolated linearly.
const VIRIDIS = [
  [68, 1, 84],
  [71, 44, 122],
  [59, 81, 139],
  [44, 113, 142],
  [33, 144, 141],
  [39, 173, 129],
  [92, 200, 99],
  [170, 220, 50],
  [253, 231, 37],
];

export function viridis(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 1)) * (VIRIDIS.length - 1);
  const k = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - k;
  const [a, b] = [VIRIDIS[k]!, VIRIDIS[k + 1]!];
  return [0, 1, 2].map((c) => Math.round(a[c]! + f * (b[c]! - a[c]!))) as [number, number, number];
}

/** Plot-area margins for the axes (CSS pixels). */
export const MARGIN = { left: 40, bottom: 28, top: 8, right: 8 };

export interface Frame {
  /** Canvas CSS pixels of a point of the plane. */
  toPixel(x: number, y: number): [number, number];
  /** The point of the plane under canvas CSS pixels. */
  fromPixel(px: number, py: number): [number, number];
}

export function frame(canvas: HTMLCanvasElement, extent: Field['extent']): Frame {
  const w = canvas.clientWidth - MARGIN.left - MARGIN.right;
  const h = canvas.clientHeight - MARGIN.top - MARGIN.bottom;
  const [x0, x1, y0, y1] = extent;
  return {
    toPixel: (x, y) => [
      MARGIN.left + ((x - x0) / (x1 - x0)) * w,
      MARGIN.top + (1 - (y - y0) / (y1 - y0)) * h,
    ],
    fromPixel: (px, py) => [
      x0 + ((px - MARGIN.left) / w) * (x1 - x0),
      y0 + (1 - (py - MARGIN.top) / h) * (y1 - y0),
    ],
  };
}

/**
 * Draws `field` filling the canvas (sized to its CSS box at the device's pixel
 * ratio), with `levels` contour lines. `transform` maps values before
 * colouring and contouring (e.g. a log for losses spanning decades).
 * Returns the frame for drawing on top.
 */
export function drawHeatmap(
  canvas: HTMLCanvasElement,
  field: Field,
  options: {
    levels?: number;
    transform?: (v: number) => number;
    xLabel?: string;
    yLabel?: string;
  } = {},
): Frame {
  const dpr = devicePixelRatio || 1;
  canvas.width = Math.round(canvas.clientWidth * dpr);
  canvas.height = Math.round(canvas.clientHeight * dpr);
  const ctx = canvas.getContext('2d')!;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, canvas.clientWidth, canvas.clientHeight);
  const { nx, ny, extent } = field;
  const t = options.transform ?? ((v: number) => v);
  const values = field.values.map(t);
  const finite = values.filter(Number.isFinite);
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  const span = hi - lo || 1;

  // Colours: one pixel per grid cell, scaled up smoothly.
  const image = new ImageData(nx, ny);
  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++) {
      const [r, g, b] = viridis((values[j * nx + i]! - lo) / span);
      const p = 4 * ((ny - 1 - j) * nx + i);
      image.data.set([r, g, b, 255], p);
    }
  }
  const cells = document.createElement('canvas');
  cells.width = nx;
  cells.height = ny;
  cells.getContext('2d')!.putImageData(image, 0, 0);
  const f = frame(canvas, extent);
  const [left, top] = f.toPixel(extent[0], extent[3]);
  const [right, bottom] = f.toPixel(extent[1], extent[2]);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(cells, left, top, right - left, bottom - top);

  // Contours in grid coordinates: cell centres at i + 0.5, mapped onto the extent.
  const levels = options.levels ?? 12;
  const thresholds = Array.from({ length: levels }, (_, k) => lo + ((k + 0.5) * span) / levels);
  const lines = contours().size([nx, ny]).thresholds(thresholds)(
    values.map((v) => (Number.isFinite(v) ? v : hi)),
  );
  const gx = (i: number) => extent[0] + ((i - 0.5) / (nx - 1)) * (extent[1] - extent[0]);
  const gy = (j: number) => extent[2] + ((j - 0.5) / (ny - 1)) * (extent[3] - extent[2]);
  ctx.save();
  ctx.beginPath();
  ctx.rect(left, top, right - left, bottom - top);
  ctx.clip();
  ctx.strokeStyle = 'rgba(255,255,255,0.55)';
  ctx.lineWidth = 1;
  for (const line of lines) {
    ctx.beginPath();
    for (const polygon of line.coordinates) {
      for (const ring of polygon) {
        ring.forEach(([i, j], k) => {
          const [px, py] = f.toPixel(gx(i!), gy(j!));
          if (k === 0) ctx.moveTo(px, py);
          else ctx.lineTo(px, py);
        });
      }
    }
    ctx.stroke();
  }
  ctx.restore();

  // Axes: the extent's ends and zero, if inside.
  ctx.fillStyle = getComputedStyle(canvas).color || '#222';
  ctx.font = '11px system-ui, sans-serif';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  for (const x of ticks(extent[0], extent[1])) {
    const [px] = f.toPixel(x, extent[2]);
    ctx.fillText(String(x), px, bottom + 4);
  }
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (const y of ticks(extent[2], extent[3])) {
    const [, py] = f.toPixel(extent[0], y);
    ctx.fillText(String(y), left - 4, py);
  }
  if (options.xLabel) {
    ctx.textAlign = 'right';
    ctx.textBaseline = 'bottom';
    ctx.fillText(options.xLabel, right, canvas.clientHeight);
  }
  if (options.yLabel) {
    ctx.textAlign = 'left';
    ctx.textBaseline = 'top';
    ctx.fillText(options.yLabel, 2, 0);
  }
  return f;
}

const round = (v: number) => Number(v.toPrecision(3));
const ticks = (a: number, b: number) =>
  a < 0 && b > 0 ? [round(a), 0, round(b)] : [round(a), round((a + b) / 2), round(b)];
