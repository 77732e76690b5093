import { describe, expect, it } from 'vitest';
import { BASE_DATASETS, DATASET_NAMES, DATASETS, parseDatasetName } from './catalogue';
import { DatasetError } from './errors';

describe('parseDatasetName', () => {
  it('takes every base with -s, -c and -s-c apart', () => {
    expect(DATASET_NAMES).toHaveLength(BASE_DATASETS.length * 4);
    expect(parseDatasetName('cifar10-s-c')).toEqual({
      name: 'cifar10-s-c',
      base: 'cifar10',
      subsample: true,
      corrupt: true,
    });
    expect(parseDatasetName('mnist-full-c')).toMatchObject({
      base: 'mnist-full',
      subsample: false,
      corrupt: true,
    });
    expect(parseDatasetName(' SVHN-S ')).toMatchObject({
      name: 'svhn-s',
      subsample: true,
      corrupt: false,
    });
    for (const name of DATASET_NAMES) expect(parseDatasetName(name).name).toBe(name);
  });

  it('refuses unknown names with a one-line message listing the valid ones', () => {
    for (const bad of ['cifar11', 'mnist-x', 'cifar10-s-s', '', 'imagenet']) {
      const error = (() => {
        try {
          parseDatasetName(bad);
        } catch (e) {
          return e as Error;
        }
      })();
      expect(error).toBeInstanceOf(DatasetError);
      expect(error!.message).toContain(`'${bad}'`);
      expect(error!.message).toContain('mnist, mnist-full, cifar10, cifar100, svhn');
      expect(error!.message).not.toContain('\n');
    }
    expect(() => parseDatasetName('cifar10-c-s')).toThrow(/write -s-c, not -c-s/);
  });
});

describe('DATASETS', () => {
  it('has one checksum and a URL ending in the file name for every official file', () => {
    for (const info of Object.values(DATASETS)) {
      expect(info.mean).toHaveLength(info.shape[2]);
      expect(info.std).toHaveLength(info.shape[2]);
      for (const f of info.files) {
        // Exactly one: the MD5 of the file as published or the SHA-256 of its content.
        expect(f.md5 ?? f.sha256).toMatch(f.md5 ? /^[0-9a-f]{32}$/ : /^[0-9a-f]{64}$/);
        expect(f.md5 === undefined || f.sha256 === undefined).toBe(true);
        for (const url of f.urls) expect(url.endsWith(`/${f.file}`)).toBe(true);
      }
    }
    expect(DATASETS.mnist.files).toEqual([]);
    expect(DATASETS.cifar10.augment && DATASETS.cifar100.augment).toBe(true);
    expect(DATASETS.svhn.augment || DATASETS.mnist.augment).toBe(false);
  });
});
