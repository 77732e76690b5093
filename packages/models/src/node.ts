/**
 * @usam/models/node: saving and loading models to a directory under Node with
 * node:fs (no tfjs-node needed). Kept out of the main entry, which must run in
 * browsers.
 *
 * A checkpoint directory holds `model.json` (topology, weights manifest,
 * user-defined metadata such as the `createModel` recipe) and one
 * `weights-<sha256 prefix>.bin`. All weights are saved, BatchNorm running
 * statistics included, as raw float32 bytes: a reload is bit-exact.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ModelError, shown } from './errors';

const MODEL_JSON = 'model.json';
const WEIGHTS = /^weights-([0-9a-f]{16})\.bin$/;
const HASH_CHARS = 16;

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/** Writes to a temporary file, syncs it and renames it over `path` (atomic on POSIX). */
async function writeAtomic(path: string, data: Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const file = await open(tmp, 'w');
  try {
    await file.writeFile(data);
    await file.sync();
  } finally {
    await file.close();
  }
  try {
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

async function save(dir: string, artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
  const topology = artifacts.modelTopology;
  if (topology == null || topology instanceof ArrayBuffer) {
    throw new ModelError(
      `saveModel: only a JSON model topology can be saved to ${dir}; save a tfjs-layers model.`,
    );
  }
  await mkdir(dir, { recursive: true });
  const weights = new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData ?? []));
  // The weights file is named by its content and written before model.json, so
  // an interrupted save leaves the previous model.json pointing at its own,
  // untouched weights file.
  const binName = `weights-${sha256(weights).slice(0, HASH_CHARS)}.bin`;
  await writeAtomic(join(dir, binName), weights);
  const modelJson: tf.io.ModelJSON = {
    modelTopology: topology,
    format: artifacts.format,
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy,
    weightsManifest: [{ paths: [binName], weights: artifacts.weightSpecs ?? [] }],
    ...(artifacts.trainingConfig != null && { trainingConfig: artifacts.trainingConfig }),
    ...(artifacts.signature != null && { signature: artifacts.signature }),
    ...(artifacts.userDefinedMetadata != null && {
      userDefinedMetadata: artifacts.userDefinedMetadata,
    }),
  };
  await writeAtomic(join(dir, MODEL_JSON), new TextEncoder().encode(JSON.stringify(modelJson)));
  // Only now is the old weights file unreferenced; remove it and stray temporaries.
  for (const entry of await readdir(dir)) {
    const stale = (WEIGHTS.test(entry) && entry !== binName) || entry.endsWith('.tmp');
    if (stale) await rm(join(dir, entry), { force: true });
  }
  return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
}

async function readWeights(dir: string, manifest: tf.io.WeightsManifestConfig, where: string) {
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: ArrayBuffer[] = [];
  for (const group of manifest) {
    specs.push(...group.weights);
    for (const path of group.paths) {
      // Paths are file names in the checkpoint directory, never elsewhere.
      if (basename(path) !== path) {
        throw new ModelError(
          `${where}: ${join(dir, MODEL_JSON)} names weights file '${path}' outside its directory; save the checkpoint again.`,
        );
      }
      const bytes = await readFile(join(dir, path)).catch(() => {
        throw new ModelError(
          `${where}: weights file ${join(dir, path)} is missing; the checkpoint is incomplete, save it again.`,
        );
      });
      const hash = WEIGHTS.exec(path)?.[1];
      if (hash !== undefined && sha256(bytes).slice(0, HASH_CHARS) !== hash) {
        throw new ModelError(
          `${where}: weights file ${join(dir, path)} does not match its checksum; the file is corrupt, restore it or save again.`,
        );
      }
      buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    }
  }
  return [specs, buffers.length === 1 ? buffers[0]! : buffers] as [
    tf.io.WeightsManifestEntry[],
    tf.io.WeightData,
  ];
}

async function load(dir: string, where = 'loadModel'): Promise<tf.io.ModelArtifacts> {
  const path = join(dir, MODEL_JSON);
  const text = await readFile(path, 'utf8').catch(() => {
    throw new ModelError(
      `${where}: no checkpoint at ${dir} (${MODEL_JSON} is missing); save one with saveModel(model, dir).`,
    );
  });
  let modelJson: tf.io.ModelJSON;
  try {
    modelJson = JSON.parse(text);
  } catch {
    throw new ModelError(`${where}: ${path} is not valid JSON; save the checkpoint again.`);
  }
  if (modelJson?.modelTopology == null || !Array.isArray(modelJson.weightsManifest)) {
    throw new ModelError(
      `${where}: ${path} has no modelTopology or weightsManifest; it is not a tfjs layers model checkpoint.`,
    );
  }
  return tf.io.getModelArtifactsForJSON(modelJson, (manifest) => readWeights(dir, manifest, where));
}

/**
 * A tfjs `IOHandler` for a checkpoint directory: `model.save(directoryHandler(dir))`
 * and `tf.loadLayersModel(directoryHandler(dir))`. Saving creates the directory,
 * and replaces a previous checkpoint there atomically.
 */
export function directoryHandler(dir: string): tf.io.IOHandler {
  return { save: (artifacts) => save(dir, artifacts), load: () => load(dir) };
}

/** Something with tfjs-layers' `save` (any `tf.LayersModel`). */
export interface Savable {
  save(handler: tf.io.IOHandler, config?: tf.io.SaveConfig): Promise<tf.io.SaveResult>;
}

/**
 * Saves the topology and every weight (trainable and non-trainable) to `dir`.
 * An interrupted save never corrupts the checkpoint already there.
 */
export async function saveModel(model: Savable, dir: string): Promise<tf.io.SaveResult> {
  if (model == null || typeof (model as Savable).save !== 'function') {
    throw new ModelError(
      `saveModel: model must be a tfjs-layers model (with save()), got ${shown(model)}; pass e.g. createModel('mlp').`,
    );
  }
  return model.save(directoryHandler(requireDir('saveModel', dir)));
}

/** `dir` checked: a non-empty string, or a one-line `ModelError`. */
function requireDir(where: string, dir: unknown): string {
  if (typeof dir !== 'string' || dir === '') {
    throw new ModelError(
      `${where}: dir must be a directory path (a non-empty string), got ${shown(dir)}.`,
    );
  }
  return dir;
}

/**
 * Rebuilds a model from `dir`: topology, weights, user-defined metadata
 * (`modelRecipe` works on the result for models from `createModel`).
 */
export async function loadModel(dir: string): Promise<tfl.LayersModel> {
  return tfl.loadLayersModel(directoryHandler(requireDir('loadModel', dir)));
}

/**
 * Loads the weights saved in `dir` into an existing model with the same
 * architecture, e.g. one rebuilt with `createModel(recipe.name, recipe.options)`
 * or the model an optimizer is training. Weights are matched by name (the
 * names `createModel` gives are fixed); where names differ, as between two
 * instances of a user's model with generated layer names, by order, when
 * every shape agrees. The model's variables keep their identity.
 */
export async function loadWeights(model: tfl.LayersModel, dir: string): Promise<void> {
  if (model == null || !Array.isArray((model as tfl.LayersModel).weights)) {
    throw new ModelError(
      `loadWeights: model must be a tfjs-layers model (with weights), got ${shown(model)}.`,
    );
  }
  requireDir('loadWeights', dir);
  const artifacts = await load(dir, 'loadWeights');
  const specs = artifacts.weightSpecs ?? [];
  const named = tf.io.decodeWeights(artifacts.weightData ?? new ArrayBuffer(0), specs);
  try {
    const weights = model.weights;
    const byName = weights.every((w) => named[w.originalName] !== undefined);
    const values = byName
      ? weights.map((w) => named[w.originalName]!)
      : specs.map((s) => named[s.name]!);
    const misfit = (detail: string) =>
      new ModelError(
        `loadWeights: the checkpoint in ${dir} does not fit the model (${detail}); load it into a model of the same architecture, or use loadModel(dir).`,
      );
    if (values.length !== weights.length) {
      throw misfit(`the model has ${weights.length} weights, the checkpoint ${values.length}`);
    }
    weights.forEach((w, i) => {
      if (!tf.util.arraysEqual(w.shape as number[], values[i]!.shape)) {
        throw misfit(
          `weight '${w.originalName}' has shape [${w.shape}], the checkpoint's [${values[i]!.shape}]`,
        );
      }
    });
    weights.forEach((w, i) => {
      w.write(values[i]!);
    });
  } finally {
    tf.dispose(Object.values(named));
  }
}
