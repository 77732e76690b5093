import { describe, expect, it } from 'vitest';
import { metricsCsv, metricsJson } from './export';
import type { EpochMetrics } from './protocol';
import { DEFAULT_EXPERIMENT, defaultRun, trainCommand } from './settings';

const epoch = (n: number, hessian?: EpochMetrics['hessian']): EpochMetrics => ({
  epoch: n,
  trainLoss: 1 / n,
  trainAccuracy: 0.5,
  testLoss: 2 / n,
  testAccuracy: 0.25,
  learningRate: 0.1,
  seconds: 3,
  gradientEvaluations: 81,
  refusedSteps: 0,
  ...(hessian && { hessian }),
});

describe('taking a run away', () => {
  it('writes CSV rows with Hessian columns empty where not measured', () => {
    const csv = metricsCsv([
      epoch(1),
      epoch(2, {
        trace: { estimate: 5, standardError: 0.5 },
        topEigenvalue: { estimate: 3, standardError: 0.01, converged: true },
      }),
    ]);
    expect(csv.split('\n')).toEqual([
      'epoch,trainLoss,trainAccuracy,testLoss,testAccuracy,learningRate,seconds,gradientEvaluations,refusedSteps,trace,traceStandardError,frobenius,frobeniusStandardError,topEigenvalue,topEigenvalueResidual,topEigenvalueConverged',
      '1,1,0.5,2,0.25,0.1,3,81,0,,,,,,,',
      '2,0.5,0.5,1,0.25,0.1,3,81,0,5,0.5,,,3,0.01,true',
      '',
    ]);
  });

  it('gives each run the usam train command line that reproduces it', () => {
    const settings = {
      ...DEFAULT_EXPERIMENT,
      runs: [
        defaultRun('sgd'),
        defaultRun('frob-sam'),
        { ...defaultRun('det-sam'), halfWidth: 0.5 },
      ],
    };
    expect(trainCommand(settings, 0, 'webgl')).toBe(
      'usam train --dataset mnist-s --model mlp --optimizer sgd --epochs 20 --batch-size 32 --lr 0.02 --lr-schedule constant --momentum 0.9 --weight-decay 0.0005 --seed 1 --measure-every 2 --hessian trace,frobenius,topEigenvalue --hessian-examples 256 --probes 8',
    );
    expect(trainCommand(settings, 1, 'wasm')).toBe(
      'usam train --dataset mnist-s --model mlp --optimizer frob-sam --rho 0.005 --lambda 0.00125 --samples 2 --epochs 20 --batch-size 32 --lr 0.02 --lr-schedule constant --momentum 0.9 --weight-decay 0.0005 --seed 1 --measure-every 2 --hessian trace,frobenius,topEigenvalue --hessian-examples 256 --probes 8 --backend wasm',
    );
    expect(trainCommand({ ...settings, measureEvery: 0 }, 2)).toBe(
      'usam train --dataset mnist-s --model mlp --optimizer det-sam --rho 1 --lambda 0.5 --samples 1 --half-width 0.5 --epochs 20 --batch-size 32 --lr 0.02 --lr-schedule constant --momentum 0.9 --weight-decay 0.0005 --seed 1',
    );
    expect(trainCommand({ ...settings, mSharpness: 4 }, 0)).toContain(' --seed 1 --m-sharpness 4');
    expect(() => trainCommand(settings, 3)).toThrow(
      'trainCommand: run 3 does not exist; pass 0 to 2.',
    );
    const json = JSON.parse(metricsJson(settings, 1, 'wasm', [epoch(1)]));
    expect(json).toMatchObject({
      run: 'Frob-SAM (ρ 0.005, λ 0.00125, n 2)',
      settings: { dataset: 'mnist-s', optimizer: 'frob-sam', rho: 0.005, samples: 2 },
      backend: 'wasm',
      command: trainCommand(settings, 1, 'wasm'),
      metrics: [epoch(1)],
    });
  });
});
