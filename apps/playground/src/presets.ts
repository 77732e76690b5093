/**
 * Experiments of the paper, set up on the page's digits. Each says, in one
 * line, where it differs from the paper (the page trains a tenth of MNIST at
 * most, in a browser). The measurements behind the changed settings are in
 * docs/playground.md.
 */
import { findVariant, paperSettings } from '@usam/optimizer';
import {
  DEFAULT_EXPERIMENT,
  defaultRun,
  type ExperimentSettings,
  type RunSettings,
} from './settings';

export interface Preset {
  readonly id: string;
  readonly label: string;
  /** One line: what it shows and where it differs from the paper. */
  readonly note: string;
  readonly settings: ExperimentSettings;
}

/** Frob-SAM with Figure 2's ρ = 0.01 and n = 2 at λ (this library's units: λ_ref/4, docs/lambda.md). */
const frob = (lambda: number): RunSettings => ({
  ...defaultRun('frob-sam'),
  rho: 0.01,
  samples: 2,
  lambda,
});

/** A variant at the paper's settings of a dataset column (Tables 4–5, §10.1). */
const paperRun = (name: string, column: string): RunSettings => ({
  optimizer: name,
  ...paperSettings(findVariant(name), column),
});

export const PRESETS: readonly Preset[] = [
  {
    id: 'default',
    label: 'SGD against Frob-SAM (the defaults)',
    note: 'The MLP on MNIST-S, SGD against Frob-SAM with Figure 2’s ρ and n: Frob-SAM ends flatter (lower ‖H‖_F²).',
    settings: DEFAULT_EXPERIMENT,
  },
  {
    id: 'figure2',
    label: 'Figure 2: Frob-SAM λ sweep vs SGD',
    note: 'Figure 2 (MLP, momentum 0.9, no weight decay, 20 epochs, Frob-SAM ρ 0.01, n 2, λ_ref 1e-4, 1e-3, 1e-2 as λ 2.5e-5, 2.5e-4, 2.5e-3) on the page’s 8,569 digits; differs: lr 0.005 at batch 32 (the paper: 0.001 on 60,000 digits, which here stays on the initial plateau; at 0.01 the largest λ has lr·4λ/ρ² = 1, where usam train warns of divergence), SGD standing in for λ = 0, ‖H‖_F² on 256 examples with 8 probes (the paper: 1,280 and 100).',
    settings: {
      ...DEFAULT_EXPERIMENT,
      dataset: 'mnist',
      lr: 0.005,
      weightDecay: 0,
      measureEvery: 2,
      runs: [defaultRun('sgd'), frob(2.5e-5), frob(2.5e-4), frob(2.5e-3)],
    },
  },
  {
    id: 'label-noise',
    label: 'Label noise (MNIST-S-C)',
    note: 'Table 3’s setting, 20% of the labels flipped, on MNIST-S-C: SGD, SAM and Det-SAM at the paper’s -C settings (SVHN-C column), Frob-SAM at Figure 2’s ρ with λ 2.5e-4 (usam reproduce’s MNIST choice); differs: the MLP for 20 epochs at lr 0.02, batch 32 (usam reproduce: lr 0.01, batch 128, 100 epochs).',
    settings: {
      ...DEFAULT_EXPERIMENT,
      dataset: 'mnist-s-c',
      weightDecay: 0,
      runs: [
        defaultRun('sgd'),
        paperRun('sam', 'svhn-c'),
        frob(2.5e-4),
        paperRun('det-sam', 'svhn-c'),
      ],
    },
  },
];

export const findPreset = (id: string): Preset | undefined => PRESETS.find((p) => p.id === id);
