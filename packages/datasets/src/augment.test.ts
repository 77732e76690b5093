import { describe, expect, it } from 'vitest';
import { type CropFlip, cropFlip, drawCropFlip } from './augment';
import { createRandom } from './rng';
import { randomExamples } from './test-formats';

const SHAPE = [32, 32, 3] as const;
const image = randomExamples(1, SHAPE, 10, 1).images;
const pixel = (img: Uint8Array, y: number, x: number) =>
  Array.from(img.subarray((y * 32 + x) * 3, (y * 32 + x) * 3 + 3));
const apply = (t: CropFlip) => {
  const out = new Uint8Array(3072);
  cropFlip(image, out, SHAPE, t);
  return out;
};

describe('random crop (padding 4) and horizontal flip', () => {
  it('the centred window without flip is the identity', () => {
    expect(apply({ dy: 4, dx: 4, flip: false })).toEqual(image);
  });

  it('the centred window with flip mirrors each row', () => {
    const out = apply({ dy: 4, dx: 4, flip: true });
    for (const [y, x] of [
      [0, 0],
      [7, 3],
      [31, 31],
    ] as const) {
      expect(pixel(out, y, x)).toEqual(pixel(image, y, 31 - x));
    }
  });

  it('a shifted window moves the image and fills the padding with zeros', () => {
    const out = apply({ dy: 0, dx: 8, flip: false }); // 4 rows down, 4 columns left
    expect(pixel(out, 0, 0)).toEqual([0, 0, 0]); // padding row
    expect(pixel(out, 3, 10)).toEqual([0, 0, 0]);
    expect(pixel(out, 4, 0)).toEqual(pixel(image, 0, 4));
    expect(pixel(out, 10, 27)).toEqual(pixel(image, 6, 31));
    expect(pixel(out, 10, 28)).toEqual([0, 0, 0]); // padding column
    const flipped = apply({ dy: 0, dx: 8, flip: true });
    expect(pixel(flipped, 10, 31 - 27)).toEqual(pixel(image, 6, 31));
  });

  it('draws all 81 windows and both flips, seeded', () => {
    const random = createRandom([1]);
    const seen = new Set<string>();
    let flips = 0;
    for (let i = 0; i < 4000; i++) {
      const t = drawCropFlip(random);
      seen.add(`${t.dy},${t.dx}`);
      if (t.flip) flips++;
    }
    expect(seen.size).toBe(81);
    expect(Math.abs(flips / 4000 - 0.5)).toBeLessThan(0.05);
    const a = createRandom([2]);
    const b = createRandom([2]);
    expect(drawCropFlip(a)).toEqual(drawCropFlip(b));
  });
});
