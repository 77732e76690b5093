/**
 * Named settings of the toy-loss section: the paper's two examples as the
 * page shows them (docs/playground.md). A preset is a loss, a start, a rate
 * and a number of steps; every optimizer runs with its TOY_RUNS settings.
 */
import { type Point, TOY_DEFAULTS, TOY_LOSSES, type ToyLoss } from './toy';

export interface ToyPreset {
  readonly id: string;
  readonly label: string;
  /** One line: what to look for. */
  readonly note: string;
  readonly toy: ToyLoss['name'];
  readonly start: Point;
  readonly lr: number;
  readonly steps: number;
}

export const TOY_PRESETS: readonly ToyPreset[] = [
  {
    id: 'example2',
    label: 'Example 2: sliding along the hyperbola',
    note: 'From (2.5, 0.4), a point of the zero-loss hyperbola x₁x₂ = 1: SGD, SAM and ASAM stay (∇L = 0 there), Trace-SAM and Frob-SAM slide along it toward (1, 1), where tr H is least, and Det-SAM barely moves (det H = 0 all along it, Theorem 4).',
    toy: 'example2',
    start: TOY_LOSSES.example2.start,
    lr: TOY_DEFAULTS.lr,
    steps: TOY_DEFAULTS.steps,
  },
  {
    id: 'example1',
    label: 'Example 1: the saddle the trace calls flat',
    note: 'From (1, 0.2) on ½(x₁² − x₂²): tr H = 0 everywhere, yet every optimizer leaves along x₂; ‖H‖_F² = 2 and det H = −1 tell the saddle apart.',
    toy: 'example1',
    start: TOY_LOSSES.example1.start,
    lr: TOY_DEFAULTS.lr,
    steps: TOY_DEFAULTS.steps,
  },
];

export const findToyPreset = (id: string): ToyPreset | undefined =>
  TOY_PRESETS.find((p) => p.id === id);
