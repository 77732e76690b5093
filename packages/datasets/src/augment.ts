import { type Random, randomInt } from './rng';

/** Zero padding on each side before the random crop (CIFAR: 4). */
export const CROP_PADDING = 4;

/**
 * One image's augmentation: the crop window's offset in the padded image
 * (0..2·padding on each axis; padding, padding is the identity crop) and
 * whether the crop is mirrored left–right.
 */
export interface CropFlip {
  readonly dy: number;
  readonly dx: number;
  readonly flip: boolean;
}

/** Draws a crop offset (uniform over the (2p+1)² windows) and a fair coin for the flip. */
export function drawCropFlip(random: Random, padding = CROP_PADDING): CropFlip {
  const dy = randomInt(random, 2 * padding + 1);
  const dx = randomInt(random, 2 * padding + 1);
  return { dy, dx, flip: random() < 0.5 };
}

/**
 * Random crop with zero padding, then horizontal flip, on one uint8 HWC image
 * (torchvision's `RandomCrop(32, padding=4)` + `RandomHorizontalFlip()`):
 * output pixel (y, x) is the padded image's pixel (y + dy, x' + dx) with
 * x' = width − 1 − x when flipped, else x; pixels from the padding are 0.
 * `source` and `target` are one image each (height·width·channels bytes).
 */
export function cropFlip(
  source: Uint8Array,
  target: Uint8Array,
  shape: readonly [number, number, number],
  { dy, dx, flip }: CropFlip,
  padding = CROP_PADDING,
): void {
  const [h, w, c] = shape;
  for (let y = 0; y < h; y++) {
    const sy = y + dy - padding;
    const rowOut = y * w * c;
    if (sy < 0 || sy >= h) {
      target.fill(0, rowOut, rowOut + w * c);
      continue;
    }
    const rowIn = sy * w * c;
    for (let x = 0; x < w; x++) {
      const sx = (flip ? w - 1 - x : x) + dx - padding;
      const out = rowOut + x * c;
      if (sx < 0 || sx >= w) {
        for (let k = 0; k < c; k++) target[out + k] = 0;
      } else {
        const at = rowIn + sx * c;
        for (let k = 0; k < c; k++) target[out + k] = source[at + k]!;
      }
    }
  }
}
