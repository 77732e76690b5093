import { describe, expect, it } from 'vitest';
import { createProgram } from '../program';

/** `usam reproduce --dry-run` output: run id → the flags of its `usam train` line. */
async function dryRun(...args: string[]) {
  const out: string[] = [];
  await createProgram({ out: (t) => out.push(t), err: () => {} }).parseAsync([
    'node',
    'usam',
    'reproduce',
    '--dry-run',
    ...args,
  ]);
  const [header, ...lines] = out.join('').trimEnd().split('\n');
  const runs = new Map<string, Record<string, string>>();
  for (const line of lines) {
    const [id, command] = line.split('\t');
    const flags: Record<string, string> = {};
    for (const m of command!.matchAll(/--([a-z-]+)(?: ([^-\s][^\s]*))?/g))
      flags[m[1]!] = m[2] ?? 'true';
    runs.set(id!, flags);
  }
  return { header: header!, runs };
}

// The paper's Appendix I, Table 4 (λ as published) and Table 5 (Frob-SAM ρ), typed in from
// the paper independently of plan.ts, per column: CIFAR10 CIFAR100 SVHN, -S, -C.
const COLUMNS = [
  'cifar10',
  'cifar100',
  'svhn',
  'cifar10-s',
  'cifar100-s',
  'svhn-s',
  'cifar10-c',
  'cifar100-c',
  'svhn-c',
];
const TABLE4 = {
  'frob-sam': [5e-3, 1e-4, 5e-3, 1e-4, 1e-4, 1e-3, 0.01, 0.01, 1e-3],
  'trace-sam': [1, 0.1, 0.1, 0.01, 0.01, 1, 1, 0.1, 0.01],
  'det-sam': [1, 0.1, 0.1, 0.01, 1, 1, 0.01, 0.1, 0.1],
};
const TABLE5 = [5e-3, 5e-3, 5e-3, 1e-2, 5e-3, 5e-3, 1e-2, 5e-3, 1e-2];
// docs/lambda.md: λ here = λ_ref / 4 (Frob-SAM), / 2 (Det-SAM), / 1 (Trace-SAM).
const CONVERSION = { 'frob-sam': 4, 'trace-sam': 1, 'det-sam': 2 };
// §10.1 baselines for CIFAR10 / CIFAR100 / SVHN.
const SAM_RHO = { cifar10: 0.05, cifar100: 0.1, svhn: 0.05 };
const ASAM = { cifar10: [0.5, 0.01], cifar100: [1, 0.1], svhn: [0.5, 0.01] };
const SSAM_RHO = { cifar10: 0.1, cifar100: 0.2, svhn: 0.1 };

describe('usam reproduce --dry-run', () => {
  it("prints the paper profile's 252 runs with the settings of §10.1 and Tables 4–5", async () => {
    const { header, runs } = await dryRun('--profile', 'paper');
    expect(header).toContain('252 of 252 runs');
    expect(runs.size).toBe(252); // 9 datasets × 7 methods × 4 seeds
    for (const [c, column] of COLUMNS.entries()) {
      const base = column.replace(/-[sc]$/, '') as 'cifar10' | 'cifar100' | 'svhn';
      for (const seed of [0, 1, 2, 3]) {
        const run = (method: string) => {
          const table = column.endsWith('-c') ? 'table3' : 'table2';
          const flags = runs.get(`${table}-${column}-${method}-seed-${seed}`);
          expect(flags, `${column} ${method} ${seed}`).toBeDefined();
          // Common recipe (§10.1, Appendix I).
          expect(flags).toMatchObject({
            dataset: column,
            model: 'resnet18',
            epochs: '200',
            'batch-size': '128',
            lr: '0.1',
            'lr-schedule': 'multistep',
            milestones: '50,100,150',
            gamma: '0.1',
            momentum: '0.9',
            'weight-decay': base === 'cifar100' ? '0.001' : '0.0005',
            seed: String(seed),
            optimizer: method,
          });
          expect('augment' in flags!).toBe(base !== 'svhn');
          return flags!;
        };
        for (const method of ['frob-sam', 'trace-sam', 'det-sam'] as const) {
          const flags = run(method);
          expect(Number(flags.lambda)).toBeCloseTo(TABLE4[method][c]! / CONVERSION[method], 12);
          expect(Number(flags.samples)).toBe(method === 'frob-sam' ? 2 : 1);
          expect(Number(flags.rho)).toBe(
            method === 'frob-sam' ? TABLE5[c] : method === 'trace-sam' ? 0.01 : 1,
          );
          if (method === 'det-sam') expect(flags['half-width']).toBe('0.01');
        }
        expect(Number(run('sam').rho)).toBe(SAM_RHO[base]);
        expect([Number(run('asam').rho), Number(run('asam').eta)]).toEqual(ASAM[base]);
        expect(Number(run('ssam').rho)).toBe(SSAM_RHO[base]);
        expect(run('ssam').sparsity).toBe('0.5');
        expect(run('sgd').rho).toBeUndefined();
      }
    }
  });

  it("prints Figure 2's runs: Frob-SAM ρ = 0.01, n = 2, lr 0.001, momentum 0.9, λ = 0 included", async () => {
    const { runs } = await dryRun('--profile', 'full', '--experiments', 'figure2');
    const lambdas = new Set<string>();
    for (const flags of runs.values()) {
      expect(flags).toMatchObject({
        dataset: 'mnist-full',
        model: 'mlp',
        optimizer: 'frob-sam',
        rho: '0.01',
        samples: '2',
        lr: '0.001',
        momentum: '0.9',
        epochs: '20',
        hessian: 'frobenius',
        'measure-every': '1',
        'hessian-examples': '1280',
        probes: '100',
      });
      lambdas.add(flags.lambda!);
    }
    expect(lambdas.has('0')).toBe(true);
    expect(runs.size).toBe(4 * lambdas.size); // four seeds per λ
  });

  it("runs, by default, Figure 2 as published: the official MNIST, the paper's settings, fewer seeds and probes only", async () => {
    const { header, runs } = await dryRun();
    expect(header).toMatch(/^usam reproduce --profile quick: 6 of 6 runs/);
    const lambdas = new Set<number>();
    for (const [id, flags] of runs) {
      expect(id).toMatch(/^figure2-/);
      // §10.1 and Appendix I: 6×128 MLP, momentum-SGD 0.9, lr 0.001, 20 epochs, batch 128,
      // Frob-SAM ρ = 0.01, n = 2, ‖H‖_F² on 1280 training examples every epoch.
      expect(flags).toMatchObject({
        dataset: 'mnist-full',
        model: 'mlp',
        optimizer: 'frob-sam',
        rho: '0.01',
        samples: '2',
        lr: '0.001',
        'lr-schedule': 'constant',
        momentum: '0.9',
        'weight-decay': '0',
        'batch-size': '128',
        epochs: '20',
        hessian: 'frobenius',
        'measure-every': '1',
        'hessian-examples': '1280',
      });
      // What the 15-minute budget cuts: 20 probes (the paper: 100), 2 seeds (the paper: 4).
      expect(flags.probes).toBe('20');
      lambdas.add(Number(flags.lambda));
    }
    // λ = 0 and λ_ref = 4λ ∈ {1e-3, 1e-2}, from the paper's Frob-SAM sweep (Appendix I).
    expect([...lambdas].map((l) => l * CONVERSION['frob-sam']).sort()).toEqual([0, 1e-3, 1e-2]);
    expect(runs.size / lambdas.size).toBe(2); // two seeds: a standard error per λ
  });

  it('plans the MNIST tables on MNIST-S and MNIST-C with all seven methods, trained long enough to converge', async () => {
    const { runs } = await dryRun('--profile', 'full', '--experiments', 'table2,table3');
    expect(runs.size).toBe(2 * 7 * 4);
    for (const [id, flags] of runs) {
      const subsampled = flags.dataset === 'mnist-full-s';
      expect(id.startsWith(subsampled ? 'table2-' : 'table3-')).toBe(true);
      expect(flags).toMatchObject({ model: 'mlp', lr: '0.01', momentum: '0.9' });
      expect(flags.epochs).toBe(subsampled ? '100' : '20');
    }
  });
});
