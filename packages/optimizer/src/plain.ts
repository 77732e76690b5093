import {
  type OptimizerOptions,
  type PerturbedResult,
  SharpnessAwareOptimizer,
} from './sharpness-aware';

/**
 * The base optimizer alone (the paper's SGD baseline), behind the same `step`
 * and statistics as every other variant: one gradient per step, plus coupled
 * weight decay and the refusal of non-finite steps.
 */
export class Plain extends SharpnessAwareOptimizer {
  readonly name = 'plain';

  constructor(options: OptimizerOptions) {
    super(options, 0, 'plain');
  }

  protected get plain(): boolean {
    return true;
  }

  protected perturbed(): Promise<PerturbedResult> {
    throw new Error('unreachable: a plain step has no perturbed passes');
  }
}

/** The base optimizer alone: `new Plain(options)`. */
export const plain = (options: OptimizerOptions): Plain => new Plain(options);
