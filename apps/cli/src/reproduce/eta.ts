/**
 * The reproduce progress line's ETA: the modelled cost left at the rate of this
 * invocation's work so far, all workers together.
 *
 * A run's modelled cost assumes every planned epoch. A run under the early-stopping
 * rule (docs/early-stopping.md) usually stops well before, so its unrun epochs are
 * dropped when it finishes, never booked as done (that would inflate the rate), and
 * the runs still waiting under the same rule are expected to stop at the fraction
 * of their cost the finished ones needed. Steps done before a resume, and skipped
 * runs, count as neither done nor left.
 */
export class EtaModel {
  private readonly left = new Map<string, number>();
  private readonly modelled = new Map<string, number>();
  private readonly stopping = new Set<string>();
  private done = 0;
  /** Σ cost run / Σ cost modelled over finished runs that could stop early. */
  private stoppedRun = 0;
  private stoppedModelled = 0;

  /** Registers a planned run: its modelled cost, and whether it may stop early. */
  plan(id: string, cost: number, mayStopEarly: boolean): void {
    this.left.set(id, cost);
    this.modelled.set(id, cost);
    if (mayStopEarly) this.stopping.add(id);
  }

  /** The run starts (or resumes) with `before` of its cost already done earlier. */
  start(id: string, before: number): void {
    this.left.set(id, Math.max(0, this.modelled.get(id)! - before));
  }

  /** A step of `cost` was done. */
  step(id: string, cost: number): void {
    const left = this.left.get(id)!;
    const booked = Math.min(cost, left);
    this.left.set(id, left - booked);
    this.done += booked;
  }

  /**
   * The run ended. `trained`: it trained to its end (what its steps did not book,
   * its last measurements, is done now); a run that stopped early (`stoppedEarly`)
   * drops its unrun epochs instead; skipped, busy and failed runs book nothing.
   */
  finish(id: string, how: 'trained' | 'stopped-early' | 'none'): void {
    const left = this.left.get(id)!;
    if (how === 'trained') this.done += left;
    if (how !== 'none' && this.stopping.has(id)) {
      const modelled = this.modelled.get(id)!;
      this.stoppedRun += how === 'trained' ? modelled : modelled - left;
      this.stoppedModelled += modelled;
    }
    this.left.set(id, 0);
    this.stopping.delete(id);
  }

  /** Seconds left, given `elapsed` seconds so far; undefined before any work is done. */
  eta(elapsed: number): number | undefined {
    if (this.done <= 0) return undefined;
    const fraction = this.stoppedModelled > 0 ? this.stoppedRun / this.stoppedModelled : 1;
    let left = 0;
    for (const [id, cost] of this.left) {
      // A running early-stopping run: its expected total less what it did.
      if (!this.stopping.has(id)) left += cost;
      else {
        const modelled = this.modelled.get(id)!;
        left += Math.max(0, modelled * fraction - (modelled - cost));
      }
    }
    return (elapsed / this.done) * left;
  }
}
