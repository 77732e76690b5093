import { describe, expect, it } from 'vitest';
import { fitView, zoomView } from './toy-view';

describe('the toy plane’s view', () => {
  it('zooms about a point, which stays where it was', () => {
    const view = zoomView([-3, 3, -3, 3], 0.5, [1, 2]);
    // Exact in binary: halving distances to (1, 2).
    expect(view).toEqual([-1, 2, -0.5, 2.5]);
    // The point's place within the view (its fraction of each side) is unchanged.
    expect((1 - view[0]) / (view[1] - view[0])).toBe((1 - -3) / 6);
    expect((2 - view[2]) / (view[3] - view[2])).toBe((2 - -3) / 6);
    expect(zoomView(view, 2, [1, 2])).toEqual([-3, 3, -3, 3]);
  });

  it('frames the points with a margin, square, inside the toy’s square', () => {
    // Example 2's paths from (2.5, 0.4) to about (1, 1): a span of 1.5 in x₁.
    const [x0, x1, y0, y1] = fitView(
      [
        [2.5, 0.4],
        [1, 1],
        [1.8, 0.55],
      ],
      3,
    );
    expect(x1 - x0).toBeCloseTo(1.8, 12); // 1.5 × 1.2
    expect(y1 - y0).toBeCloseTo(1.8, 12);
    expect((x0 + x1) / 2).toBeCloseTo(1.75, 12);
    expect((y0 + y1) / 2).toBeCloseTo(0.7, 12);
    // A path that does not move gets the minimum width, not a dot.
    const still = fitView([[2.5, 0.4]], 3);
    expect(still[1] - still[0]).toBeCloseTo(0.5, 12);
    // Points beyond the square (a diverged path): the whole square, not more.
    expect(
      fitView(
        [
          [0, 0],
          [50, -40],
        ],
        3,
      ),
    ).toEqual([-3, 3, -3, 3]);
    // Near an edge the frame is shifted inside the square.
    const edge = fitView(
      [
        [2.9, 2.9],
        [2.2, 2.2],
      ],
      3,
    );
    expect(edge[1]).toBeLessThanOrEqual(3);
    expect(edge[3]).toBeLessThanOrEqual(3);
  });
});
