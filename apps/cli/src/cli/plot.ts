import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/**
 * An SVG line chart of a spectral density (Vega-Lite, rendered headless): the
 * density over the eigenvalue grid, on a symmetric-log axis so that both the
 * bulk near 0 and the small mass of the outliers show (as PyHessian plots it).
 */
export async function densitySvg(
  grid: readonly number[],
  values: readonly number[],
  title: string,
): Promise<string> {
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: 560,
    height: 300,
    data: { values: grid.map((x, i) => ({ eigenvalue: x, density: values[i]! })) },
    mark: { type: 'line', interpolate: 'linear' },
    encoding: {
      x: { field: 'eigenvalue', type: 'quantitative', title: 'eigenvalue λ' },
      y: {
        field: 'density',
        type: 'quantitative',
        title: 'density',
        scale: { type: 'symlog', constant: 1e-3 },
      },
    },
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
