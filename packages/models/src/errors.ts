/**
 * Thrown for invalid model options or state misuse. The message is one line
 * that names the problem and the fix.
 */
export class ModelError extends Error {
  override readonly name = 'ModelError';
}
