import { Ajv, type ValidateFunction } from 'ajv';
import { UsageError } from '../cli/errors';

const ajv = new Ajv({ strict: false });
const compiled = new WeakMap<object, ValidateFunction>();

/**
 * `value` checked against `schema` (schema.ts), or a one-line `UsageError`
 * naming the file (`where`), the field, what it holds and what is wrong.
 */
export function validated<T>(schema: object, value: unknown, where: string, fix: string): T {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  if (validate(value)) return value as T;
  const error = validate.errors![0]!;
  const missing = (error.params as { missingProperty?: string }).missingProperty;
  const path = error.instancePath.split('/').slice(1).join('.');
  const field = missing !== undefined ? [path, missing].filter(Boolean).join('.') : path;
  let got: unknown = value;
  for (const key of error.instancePath.split('/').slice(1)) {
    got = (got as Record<string, unknown> | undefined)?.[key];
  }
  const detail =
    missing !== undefined
      ? `field '${field}' is missing`
      : `field '${field || '(the whole file)'}' ${error.message} (got ${JSON.stringify(got)?.slice(0, 40)})`;
  throw new UsageError(`${where}: ${detail}; ${fix}`);
}

export { toJson } from './schema';

/** A number field as `toJson` wrote it ("NaN", "Infinity", "-Infinity"; null from older runs: NaN). */
export const readNumber = (v: unknown): number =>
  typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : Number.NaN;

/** Parses JSON text, naming the file in a one-line error. */
export function parseJson(text: string, where: string, fix: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${where} is not valid JSON (${(error as Error).message}); ${fix}`, {
      cause: error,
    });
  }
}
