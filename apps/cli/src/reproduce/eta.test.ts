import { describe, expect, it } from 'vitest';
import { EtaModel } from './eta';

describe('EtaModel', () => {
  it('is the cost left at the rate so far when every run trains every epoch', () => {
    const m = new EtaModel();
    m.plan('a', 10, false);
    m.plan('b', 10, false);
    expect(m.eta(1)).toBeUndefined();
    m.start('a', 0);
    for (let i = 0; i < 5; i++) m.step('a', 1);
    // 5 cost in 10 s: 2 s per unit, 15 units left.
    expect(m.eta(10)).toBeCloseTo(30, 12);
    for (let i = 0; i < 5; i++) m.step('a', 1);
    m.finish('a', 'trained');
    expect(m.eta(20)).toBeCloseTo(20, 12);
  });

  it('drops the unrun epochs of a run that stopped early and expects the others to stop as early', () => {
    const m = new EtaModel();
    for (const id of ['a', 'b', 'c']) m.plan(id, 10, true);
    m.start('a', 0);
    for (let i = 0; i < 4; i++) m.step('a', 1);
    m.finish('a', 'stopped-early');
    // 4 units in 8 s (2 s each); b and c are expected to need 40% of 10 each.
    expect(m.eta(8)).toBeCloseTo(2 * 8, 12);
    m.start('b', 0);
    m.step('b', 1);
    // 5 units in 10 s; b has 3 of its expected 4 left, c all 4.
    expect(m.eta(10)).toBeCloseTo(2 * 7, 12);
    // Booking a's unrun 6 units as done would have halved the rate: the old, optimistic ETA.
  });

  it('a run that trained to its end under the rule counts as needing all its cost', () => {
    const m = new EtaModel();
    m.plan('a', 10, true);
    m.plan('b', 10, true);
    m.start('a', 0);
    for (let i = 0; i < 10; i++) m.step('a', 1);
    m.finish('a', 'trained');
    expect(m.eta(10)).toBeCloseTo(10, 12);
  });

  it('skipped and failed runs book nothing, and a resumed run counts only what is left', () => {
    const m = new EtaModel();
    m.plan('a', 10, false);
    m.plan('b', 10, false);
    m.plan('c', 10, false);
    m.finish('a', 'none');
    m.start('b', 6);
    m.step('b', 2);
    // 2 units in 4 s; b has 2 left, c 10.
    expect(m.eta(4)).toBeCloseTo(2 * 12, 12);
    m.finish('b', 'none');
    expect(m.eta(4)).toBeCloseTo(2 * 10, 12);
  });
});
