import type * as tfl from '@tensorflow/tfjs-layers';
import { buildCnn, CNN_MIN_SIZE } from './cnn';
import { ModelError, shown } from './errors';
import { type BuildOptions, buildMlp } from './mlp';
import { buildResnet18, RESNET18_MIN_SIZE } from './resnet18';

/** The models `createModel` builds. */
export const MODEL_NAMES = ['mlp', 'cnn', 'resnet18'] as const;
export type ModelName = (typeof MODEL_NAMES)[number];

export interface ModelOptions {
  /** One example's shape. Default [784] for `mlp`, [32, 32, 3] for the conv nets. */
  readonly inputShape?: readonly number[];
  /** Number of classes (logits). Default 10. */
  readonly numClasses?: number;
  /**
   * Multiplies every channel or hidden-unit count, each rounded as
   * `Math.max(1, Math.round(c · width))`. Default 1 (the reference models).
   */
  readonly width?: number;
  /** Seed of the initialisers: the same seed gives bit-identical weights. Default 0. */
  readonly seed?: number;
}

/** The fully resolved options a model was built with; `createModel(name, options)` rebuilds it. */
export interface ModelRecipe {
  readonly name: ModelName;
  readonly options: Required<ModelOptions>;
}

const OPTION_KEYS = ['inputShape', 'numClasses', 'width', 'seed'];

const BUILDERS: Record<ModelName, (o: BuildOptions) => tfl.LayersModel> = {
  mlp: buildMlp,
  cnn: buildCnn,
  resnet18: buildResnet18,
};

const MIN_SIZE: Record<ModelName, number> = {
  mlp: 1,
  cnn: CNN_MIN_SIZE,
  resnet18: RESNET18_MIN_SIZE,
};

/** Key under which the recipe is stored in the model's user-defined metadata (saved with it). */
const METADATA_KEY = 'usam';

const shapeText = (shape: unknown) => (Array.isArray(shape) ? `[${shape.join(', ')}]` : `${shape}`);

function resolve(name: ModelName, options: ModelOptions): Required<ModelOptions> {
  const where = `createModel('${name}')`;
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.includes(key)) {
      throw new ModelError(
        `${where}: unknown option '${key}'; valid options are ${OPTION_KEYS.join(', ')}.`,
      );
    }
  }
  const inputShape = options.inputShape ?? (name === 'mlp' ? [784] : [32, 32, 3]);
  const { numClasses = 10, width = 1, seed = 0 } = options;
  const dims = Array.isArray(inputShape) ? (inputShape as unknown[]) : [];
  const positiveIntegers = dims.every((d) => Number.isInteger(d) && (d as number) > 0);
  if (name === 'mlp') {
    if (dims.length !== 1 || !positiveIntegers) {
      throw new ModelError(
        `${where}: inputShape must be flat, [d] with d ≥ 1 (e.g. [784] for MNIST), got ${shapeText(inputShape)}; flatten the inputs, or use 'cnn' or 'resnet18' for images.`,
      );
    }
  } else {
    const min = MIN_SIZE[name];
    if (
      dims.length !== 3 ||
      !positiveIntegers ||
      (dims[0] as number) < min ||
      (dims[1] as number) < min
    ) {
      throw new ModelError(
        `${where}: inputShape must be [height, width, channels] of positive integers with height and width ≥ ${min} (e.g. [32, 32, 3] for CIFAR, [28, 28, 1] for MNIST), got ${shapeText(inputShape)}.`,
      );
    }
  }
  if (!Number.isInteger(numClasses) || numClasses < 2) {
    throw new ModelError(
      `${where}: numClasses must be an integer ≥ 2, got ${shown(numClasses)}; pass the number of classes (e.g. 10).`,
    );
  }
  if (typeof width !== 'number' || !Number.isFinite(width) || width <= 0) {
    throw new ModelError(
      `${where}: width must be a finite number > 0, got ${shown(width)}; pass e.g. width: 0.25 for a quarter of the channels.`,
    );
  }
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) {
    throw new ModelError(
      `${where}: seed must be an integer in [0, 2³²), got ${shown(seed)}; pass e.g. seed: 1.`,
    );
  }
  return { inputShape: [...(inputShape as number[])], numClasses, width, seed };
}

/**
 * Builds one of the paper's models as a tfjs-layers functional model whose
 * output is LOGITS (no softmax layer), so that losses can use a softmax
 * cross-entropy of their own (e.g. a twice-differentiable one). Layers have
 * fixed names, so weights saved from one instance load into another by name.
 * The recipe (name and resolved options) is stored in the model's
 * user-defined metadata and saved with it; see `modelRecipe`.
 *
 * - `mlp`: d → Dense(128, ReLU) ×5 → Dense(numClasses); 167,818 parameters on MNIST.
 * - `cnn`: two conv3×3 + maxPool stages (32, 64), Dense(128), Dense(numClasses).
 * - `resnet18`: the CIFAR ResNet-18 (11,173,962 parameters at width 1, 10 classes).
 *
 * Throws a `ModelError` for an unknown name or invalid options.
 */
export function createModel(name: ModelName, options: ModelOptions = {}): tfl.LayersModel {
  if (!(MODEL_NAMES as readonly string[]).includes(name)) {
    throw new ModelError(
      `createModel: unknown model '${name}'; valid names are ${MODEL_NAMES.map((n) => `'${n}'`).join(', ')}.`,
    );
  }
  if (typeof options !== 'object' || options === null) {
    throw new ModelError(
      `createModel(${shown(name)}): options must be an object such as { inputShape, numClasses, width, seed }, got ${shown(options)}.`,
    );
  }
  const resolved = resolve(name, options);
  const model = BUILDERS[name](resolved);
  const recipe: ModelRecipe = { name, options: resolved };
  model.setUserDefinedMetadata({ [METADATA_KEY]: JSON.parse(JSON.stringify(recipe)) });
  return model;
}

/**
 * How a model was built by `createModel`, read from its user-defined metadata
 * (which survives save and load), or `undefined` for any other model.
 * `createModel(r.name, r.options)` rebuilds it with its initial weights.
 */
export function modelRecipe(model: {
  getUserDefinedMetadata(): object | undefined;
}): ModelRecipe | undefined {
  const metadata = model.getUserDefinedMetadata() as Record<string, unknown> | undefined;
  const recipe = metadata?.[METADATA_KEY] as ModelRecipe | undefined;
  if (
    typeof recipe !== 'object' ||
    recipe === null ||
    !(MODEL_NAMES as readonly string[]).includes(recipe.name) ||
    typeof recipe.options !== 'object'
  ) {
    return undefined;
  }
  return recipe;
}
