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

/** Plot-area margins for the axes (CSS pixels); room above for the y label. */
export const MARGIN = { left: 40, bottom: 28, top: 20, right: 8 };

/** Grey for cells whose value is not finite (a diverged loss), apart from every viridis colour. */
const NOT_FINITE: [number, number, number] = [150, 150, 150];

/** A text drawn on the canvas and its box in CSS pixels (for layout checks). */
export interface DrawnText {
  readonly text: string;
  /** [left, top, right, bottom]. */
  readonly box: readonly [number, number, number, number];
}

/**
 * `ctx.fillText`, recording the text's box from the font's measured extents
 * about the alignment point, so that a test can check that no two overlap.
 */
function fillText(
  ctx: CanvasRenderingContext2D,
  drawn: DrawnText[],
  text: string,
  x: number,
  y: number,
) {
  ctx.fillText(text, x, y);
  const m = ctx.measureText(text);
  drawn.push({
    text,
    box: [
      x - m.actualBoundingBoxLeft,
      y - m.actualBoundingBoxAscent,
      x + m.actualBoundingBoxRight,
      y + m.actualBoundingBoxDescent,
    ],
  });
}

export interface Frame {
  /** Canvas CSS pixels of a point of the plane. */
  toPixel(x: number, y: number): [number, number];
  /** The point of the plane under canvas CSS pixels. */
  fromPixel(px: number, py: number): [number, number];
}

export function frame(canvas: HTMLCanvasElement, extent: Field['extent'], reserved = 0): Frame {
  const w = canvas.clientWidth - MARGIN.left - MARGIN.right - reserved;
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
 * Returns the frame for drawing on top. The texts drawn and their boxes are
 * in the canvas's `data-texts` (JSON of DrawnText[]).
 */
export function drawHeatmap(
  canvas: HTMLCanvasElement,
  field: Field,
  options: {
    levels?: number;
    transform?: (v: number) => number;
    xLabel?: string;
    yLabel?: string;
    /**
     * A colour bar at the right edge (the canvas keeps `width` pixels for it):
     * `format` labels its ends in the field's own values (before `transform`).
     */
    colourBar?: { format: (v: number) => string; width?: number };
    /** A cross at this point of the plane (the current weights). */
    marker?: readonly [number, number];
  } = {},
): Frame {
  const dpr = devicePixelRatio || 1;
  canvas.width = Math.round(canvas.clientWidth * dpr);
  canvas.height = Math.round(canvas.clientHeight * dpr);
  const ctx = canvas.getContext('2d')!;
  const drawn: DrawnText[] = [];
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, canvas.clientWidth, canvas.clientHeight);
  const { nx, ny, extent } = field;
  const t = options.transform ?? ((v: number) => v);
  const values = field.values.map((v) => (Number.isFinite(v) ? t(v) : Number.NaN));
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) {
    throw new RangeError(
      'drawHeatmap: no value of the field is finite (a diverged loss?); nothing to draw.',
    );
  }
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  const span = hi - lo || 1;
  const bar = options.colourBar ? (options.colourBar.width ?? 44) : 0;

  // Colours: one pixel per grid cell, scaled up smoothly.
  const image = new ImageData(nx, ny);
  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++) {
      const v = values[j * nx + i]!;
      const [r, g, b] = Number.isFinite(v) ? viridis((v - lo) / span) : NOT_FINITE;
      const p = 4 * ((ny - 1 - j) * nx + i);
      image.data.set([r, g, b, 255], p);
    }
  }
  const cells = document.createElement('canvas');
  cells.width = nx;
  cells.height = ny;
  cells.getContext('2d')!.putImageData(image, 0, 0);
  const f = frame(canvas, extent, bar);
  const [left, top] = f.toPixel(extent[0], extent[3]);
  const [right, bottom] = f.toPixel(extent[1], extent[2]);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(cells, left, top, right - left, bottom - top);

  // Contours in grid coordinates: cell centres at i + 0.5, mapped onto the extent.
  const levels = options.levels ?? 12;
  const thresholds = Array.from({ length: levels }, (_, k) => lo + ((k + 0.5) * span) / levels);
  // Non-finite cells count as the highest level: contours close around them.
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

  if (options.marker) {
    const [mx, my] = f.toPixel(options.marker[0], options.marker[1]);
    ctx.save();
    ctx.lineWidth = 2;
    for (const [colour, width] of [
      ['#000', 4],
      ['#fff', 2],
    ] as const) {
      ctx.strokeStyle = colour;
      ctx.lineWidth = width;
      ctx.beginPath();
      ctx.moveTo(mx - 6, my);
      ctx.lineTo(mx + 6, my);
      ctx.moveTo(mx, my - 6);
      ctx.lineTo(mx, my + 6);
      ctx.stroke();
    }
    ctx.restore();
  }

  if (options.colourBar) {
    // A vertical gradient of the same map, its ends labelled in the field's values.
    const x0 = right + 10;
    const barWidth = 10;
    for (let k = 0; k < bottom - top; k++) {
      const [r, g, b] = viridis(1 - k / (bottom - top - 1));
      ctx.fillStyle = `rgb(${r},${g},${b})`;
      ctx.fillRect(x0, top + k, barWidth, 1);
    }
    ctx.fillStyle = getComputedStyle(canvas).color || '#222';
    ctx.font = '10px system-ui, sans-serif';
    ctx.textAlign = 'left';
    const raw = field.values.filter(Number.isFinite);
    ctx.textBaseline = 'top';
    fillText(ctx, drawn, options.colourBar.format(Math.max(...raw)), x0 - 2, Math.max(0, top - 12));
    ctx.textBaseline = 'top';
    fillText(ctx, drawn, options.colourBar.format(Math.min(...raw)), x0 - 2, bottom + 2);
  }

  // Axes: the extent's ends and zero, if inside.
  ctx.fillStyle = getComputedStyle(canvas).color || '#222';
  ctx.font = '11px system-ui, sans-serif';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  for (const x of ticks(extent[0], extent[1])) {
    const [px] = f.toPixel(x, extent[2]);
    fillText(ctx, drawn, String(x), px, bottom + 4);
  }
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (const y of ticks(extent[2], extent[3])) {
    const [, py] = f.toPixel(extent[0], y);
    fillText(ctx, drawn, String(y), left - 4, py);
  }
  if (options.xLabel) {
    ctx.textAlign = 'right';
    ctx.textBaseline = 'bottom';
    fillText(ctx, drawn, options.xLabel, right, canvas.clientHeight);
  }
  if (options.yLabel) {
    ctx.textAlign = 'left';
    ctx.textBaseline = 'top';
    fillText(ctx, drawn, options.yLabel, 2, 0);
  }
  canvas.dataset.texts = JSON.stringify(drawn);
  return f;
}

const round = (v: number) => Number(v.toPrecision(3));
const ticks = (a: number, b: number) =>
  a < 0 && b > 0 ? [round(a), 0, round(b)] : [round(a), round((a + b) / 2), round(b)];
