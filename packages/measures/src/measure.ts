import { ruleOf } from './algorithm3';
import { MeasureError, show } from './errors';
import type { Measure, MeasureComponent, OuterFunction, Sampler } from './types';

/** What `defineMeasure` takes: a Measure whose `sharedSamples` may be left to inference. */
export interface MeasureDefinition {
  readonly name: string;
  readonly components: readonly MeasureComponent[];
  readonly phi: OuterFunction;
  /**
   * Whether one set of draws serves every component. Defaults to true exactly
   * when every component uses the same Sampler object; true with different
   * samplers is an error (their laws could differ).
   */
  readonly sharedSamples?: boolean;
  readonly closedForm?: Measure['closedForm'];
  readonly divergence?: Measure['divergence'];
  readonly matrixForm?: Measure['matrixForm'];
  readonly matrixDivergence?: Measure['matrixDivergence'];
  readonly dimension?: number;
  /**
   * The fewest draws per μ_ℓ (see `Measure.minSamples`). Defaults to 2 when
   * m ≥ 2 components share samples (φ then couples the draws, as the
   * Frobenius row's variance does), else 1.
   */
  readonly minSamples?: number;
}

const isFunction = (f: unknown): boolean => typeof f === 'function';

/**
 * Builds a (φ, ψ, μ)-sharpness measure (Definition 1) from user-chosen parts,
 * checking them: m ≥ 1 components, each with a sampler μ_ℓ and a ψ_ℓ with its
 * derivative, φ with its gradient, and `sharedSamples` only where every μ_ℓ is
 * the same sampler. Returns a frozen `Measure`, usable by every evaluator and
 * by Algorithm 3.
 */
export function defineMeasure(definition: MeasureDefinition): Measure {
  if (typeof definition !== 'object' || definition === null) {
    throw new MeasureError(
      `defineMeasure: give a measure { name, components, phi }, e.g. frobenius() or defineMeasure({ … }), got ${show(definition)}.`,
    );
  }
  const { name, components, phi, closedForm, divergence, matrixForm, matrixDivergence, dimension } =
    definition;
  const where = `defineMeasure(${typeof name === 'string' ? `'${name}'` : '?'})`;
  if (typeof name !== 'string' || name.length === 0) {
    throw new MeasureError('defineMeasure: give the measure a non-empty name.');
  }
  if (!Array.isArray(components) || components.length === 0) {
    throw new MeasureError(`${where}: needs m ≥ 1 components { mu, psi }, got none.`);
  }
  components.forEach((component, l) => {
    const { mu, psi } = component ?? {};
    if (!mu || typeof mu.name !== 'string' || !isFunction(mu.sample)) {
      throw new MeasureError(
        `${where}: component ${l} needs mu, a Sampler with a name and sample(shapes, rng).`,
      );
    }
    if (mu.logWeight !== undefined && !isFunction(mu.logWeight)) {
      throw new MeasureError(`${where}: component ${l}'s mu.logWeight must be a function.`);
    }
    if (!psi || !isFunction(psi.value) || !isFunction(psi.derivative)) {
      throw new MeasureError(
        `${where}: component ${l} needs psi with value(t) and derivative(t) (Algorithm 3 uses ψ').`,
      );
    }
  });
  if (!phi || !isFunction(phi.value) || !isFunction(phi.gradient)) {
    throw new MeasureError(
      `${where}: needs phi with value(t) and gradient(t) (Algorithm 3 uses ∂φ).`,
    );
  }
  const first = components[0]!.mu;
  const allSame = components.every((c) => c.mu === first);
  const sharedSamples = definition.sharedSamples ?? allSame;
  if (typeof sharedSamples !== 'boolean') {
    throw new MeasureError(`${where}: sharedSamples must be true or false.`);
  }
  if (sharedSamples && !allSame) {
    const l = components.findIndex((c) => c.mu !== first);
    throw new MeasureError(
      `${where}: sharedSamples is true but component ${l} uses sampler '${components[l]!.mu.name}', not component 0's '${first.name}'; pass the same Sampler object to every component or set sharedSamples: false.`,
    );
  }
  if (closedForm !== undefined && !isFunction(closedForm)) {
    throw new MeasureError(`${where}: closedForm must be a function of the eigenvalues.`);
  }
  if (divergence !== undefined && !isFunction(divergence)) {
    throw new MeasureError(`${where}: divergence must be a function of the eigenvalues.`);
  }
  if (matrixForm !== undefined && !isFunction(matrixForm)) {
    throw new MeasureError(`${where}: matrixForm must be a function of the Hessian matrix.`);
  }
  if (matrixDivergence !== undefined && !isFunction(matrixDivergence)) {
    throw new MeasureError(`${where}: matrixDivergence must be a function of the Hessian matrix.`);
  }
  if (dimension !== undefined && !(Number.isInteger(dimension) && dimension >= 1)) {
    throw new MeasureError(`${where}: dimension must be an integer ≥ 1, got ${show(dimension)}.`);
  }
  const minSamples = definition.minSamples ?? (sharedSamples && components.length >= 2 ? 2 : 1);
  if (!(Number.isInteger(minSamples) && minSamples >= 1)) {
    throw new MeasureError(`${where}: minSamples must be an integer ≥ 1, got ${show(minSamples)}.`);
  }
  return Object.freeze({
    name,
    minSamples,
    components: Object.freeze(components.map((c) => Object.freeze({ mu: c.mu, psi: c.psi }))),
    phi,
    sharedSamples,
    ...(closedForm && { closedForm }),
    ...(divergence && { divergence }),
    ...(matrixForm && { matrixForm }),
    ...(matrixDivergence && { matrixDivergence }),
    ...(dimension !== undefined && { dimension }),
  });
}

/**
 * A measure a caller hands in, checked as `defineMeasure` checks it, with its
 * `coefficientRule` kept: a spread copy `{ ...frobenius() }` keeps its
 * covariance form (docs/measures.md). `summarizeDraws` refuses a rule that is
 * not for the measure's own φ and ψ.
 */
export function checkMeasure(measure: Measure): Measure {
  const checked = defineMeasure(measure);
  const rule = (measure as Partial<Measure>).coefficientRule;
  if (rule === undefined) return checked;
  if (
    typeof rule !== 'object' ||
    rule === null ||
    typeof rule.name !== 'string' ||
    typeof rule.compute !== 'function' ||
    !Array.isArray(rule.psi)
  ) {
    throw new MeasureError(
      `checkMeasure(${checked.name}): coefficientRule must be { name, phi, psi, compute(draws) }, got ${show(rule)}; drop it to use Algorithm 3.`,
    );
  }
  const kept = Object.freeze({ ...checked, coefficientRule: rule });
  ruleOf(kept, `checkMeasure(${checked.name})`); // refused now, not at the first step
  return kept;
}

/**
 * The measure with every μ_ℓ replaced by one sampler, then shared by all
 * components (docs/measures.md: μ is a parameter, e.g. `fixed([...])` to inject known
 * perturbations). φ and ψ are kept, and with them the catalogue entry's
 * coefficient rule and fewest samples.
 */
export function replaceSampler(measure: Measure, sampler: Sampler): Measure {
  if (typeof sampler?.sample !== 'function' || typeof sampler.name !== 'string') {
    throw new MeasureError(
      `replaceSampler: sampler must be a Sampler { name, sample(shapes, rng) }, e.g. fixed([...]), got ${show(sampler)}.`,
    );
  }
  const replaced = defineMeasure({
    name: `${measure.name} with μ = ${sampler.name}`,
    components: measure.components.map(({ psi }) => ({ mu: sampler, psi })),
    phi: measure.phi,
    sharedSamples: true,
    minSamples: measure.minSamples ?? 1,
  });
  // Same φ and ψ objects, so a catalogue entry's rule still applies.
  const { coefficientRule } = measure;
  return coefficientRule ? Object.freeze({ ...replaced, coefficientRule }) : replaced;
}

/** Throws when a measure built for one d meets another (H, shapes). */
export function checkDimension(measure: Measure, d: number, where: string) {
  if (measure.dimension !== undefined && measure.dimension !== d) {
    throw new MeasureError(
      `${where}: measure '${measure.name}' was built for d = ${measure.dimension} but the input has d = ${d}; dimension mismatch, rebuild the measure with d = ${d}.`,
    );
  }
}
