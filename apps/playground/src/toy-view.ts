/**
 * The part of a toy's plane the page draws: zooming about a point and
 * framing the trajectories (pure functions, for the toy section).
 */
import type { Point } from './toy';

/** [x₀, x₁, y₀, y₁] of the plane drawn. */
export type View = readonly [number, number, number, number];

/** The view `factor` times as wide, `at` staying where it is on the canvas. */
export function zoomView(view: View, factor: number, at: Point): View {
  const [x0, x1, y0, y1] = view;
  return [
    at[0] + (x0 - at[0]) * factor,
    at[0] + (x1 - at[0]) * factor,
    at[1] + (y0 - at[1]) * factor,
    at[1] + (y1 - at[1]) * factor,
  ];
}

/**
 * The square view around `points` with a margin of a tenth of their span
 * (at least `minimum` wide, so that a path that stays put is not a dot),
 * within the toy's drawn square `extent`.
 */
export function fitView(points: readonly Point[], extent: number, minimum = 0.5): View {
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const cx = (Math.min(...xs) + Math.max(...xs)) / 2;
  const cy = (Math.min(...ys) + Math.max(...ys)) / 2;
  const span = Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys));
  const half = Math.min(extent, Math.max(minimum, span * 1.2) / 2);
  const clamp = (c: number) => Math.max(-extent + half, Math.min(extent - half, c));
  const [x, y] = [clamp(cx), clamp(cy)];
  return [x - half, x + half, y - half, y + half];
}
