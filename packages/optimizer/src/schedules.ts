import { checkOptions, describe, OptimizerError, requireInteger, requireNumber } from './errors';

/** A learning-rate schedule: the learning rate for an epoch (0-based). */
export type Schedule = (epoch: number) => number;

const checkEpoch = (where: string, epoch: number) =>
  requireNumber(where, 'epoch', epoch, { min: 0 });

/** The same learning rate every epoch. */
export function constantSchedule(lr: number): Schedule {
  requireNumber('constantSchedule', 'lr', lr, { min: 0 });
  return (epoch) => {
    checkEpoch('constantSchedule', epoch);
    return lr;
  };
}

/**
 * Step decay at milestones (PyTorch's MultiStepLR, the paper's schedule):
 * lr·γ^k where k is the number of milestones ≤ epoch. Default γ = 0.1.
 */
export function multiStepSchedule(options: {
  readonly lr: number;
  readonly milestones: readonly number[];
  readonly gamma?: number;
}): Schedule {
  const where = 'multiStepSchedule';
  const {
    lr,
    milestones,
    gamma = 0.1,
  } = checkOptions(where, options, ['lr', 'milestones', 'gamma']);
  requireNumber(where, 'lr', lr, { min: 0 });
  requireNumber(where, 'gamma', gamma, { min: 0 });
  if (!Array.isArray(milestones)) {
    throw new OptimizerError(
      `${where}: milestones must be a list of epochs, e.g. [60, 120, 160], got ${describe(milestones)}.`,
    );
  }
  milestones.forEach((m, i) => {
    requireInteger(where, `milestones[${i}]`, m, 1);
  });
  return (epoch) => {
    checkEpoch(where, epoch);
    return lr * gamma ** milestones.filter((m) => m <= epoch).length;
  };
}

/**
 * Cosine annealing from lr at epoch 0 to minLr at `epochs` (and after):
 * minLr + (lr − minLr)·(1 + cos(π·epoch/epochs))/2. Default minLr = 0.
 */
export function cosineSchedule(options: {
  readonly lr: number;
  readonly epochs: number;
  readonly minLr?: number;
}): Schedule {
  const where = 'cosineSchedule';
  const { lr, epochs, minLr = 0 } = checkOptions(where, options, ['lr', 'epochs', 'minLr']);
  requireNumber(where, 'lr', lr, { min: 0 });
  requireInteger(where, 'epochs', epochs, 1);
  requireNumber(where, 'minLr', minLr, { min: 0 });
  return (epoch) => {
    checkEpoch(where, epoch);
    const t = Math.min(epoch, epochs) / epochs;
    return minLr + ((lr - minLr) * (1 + Math.cos(Math.PI * t))) / 2;
  };
}
