/** Loaders of the `mnist` package's digits/0.json … 9.json (grey levels k/255, 784 per image). */
export declare const DIGIT_FILES: readonly (() => Promise<{ default: { data: number[] } }>)[];
