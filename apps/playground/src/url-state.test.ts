import { describe, expect, it } from 'vitest';
import { PRESETS } from './presets';
import { DEFAULT_EXPERIMENT, defaultRun } from './settings';
import { settingsFromQuery, settingsToQuery } from './url-state';

describe('settings in the address', () => {
  it('reads back every preset exactly as written', () => {
    for (const preset of PRESETS) {
      const query = settingsToQuery(preset.settings);
      expect(settingsFromQuery(query)).toEqual({ settings: preset.settings, problems: [] });
    }
  });

  it('opens the experiment a link describes, the rest at its defaults', () => {
    const { settings, problems } = settingsFromQuery(
      '?lr=0.005&epochs=3&run1=det-sam&run1.halfWidth=0.5&run2=sam',
    );
    expect(problems).toEqual([]);
    expect(settings).toEqual({
      ...DEFAULT_EXPERIMENT,
      lr: 0.005,
      epochs: 3,
      runs: [{ ...defaultRun('det-sam'), halfWidth: 0.5 }, defaultRun('sam')],
    });
  });

  it('names each bad value in a line and uses its default instead', () => {
    const { settings, problems } = settingsFromQuery(
      'lr=fast&epochs=0&dataset=cifar10&colour=red&run1=adam&run2=frob-sam&run2.samples=1&run2.rho=0.02&run2.eta=1',
    );
    expect(problems).toEqual([
      "lr must be a number ≥ 0, got 'fast' (the default 0.02 used)",
      "epochs must be an integer ≥ 1 and ≤ 1000, got '0' (the default 20 used)",
      "dataset must be one of mnist-s, mnist, mnist-c, mnist-s-c, got 'cifar10' (the default mnist-s used)",
      "unknown setting 'colour' ignored",
      "run1 must be one of sgd, sam, asam, ssam, frob-sam, trace-sam, det-sam, got 'adam' (run left out)",
      "run2.samples must be an integer ≥ 2 and ≤ 1024 (a covariance needs two samples) for frob-sam, got '1' (the default 2 used)",
      'run2.eta is not an option of frob-sam (ignored)',
    ]);
    // What was valid is kept: run2's ρ.
    expect(settings).toEqual({
      ...DEFAULT_EXPERIMENT,
      runs: [{ ...defaultRun('frob-sam'), rho: 0.02 }],
    });
  });

  it('keeps the defaults where a link names no valid run', () => {
    const { settings, problems } = settingsFromQuery('run1=adam');
    expect(settings.runs).toEqual(DEFAULT_EXPERIMENT.runs);
    expect(problems).toHaveLength(1);
  });
});
