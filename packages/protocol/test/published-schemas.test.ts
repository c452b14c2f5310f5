import { readFileSync, readdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SCHEMAS } from '../src/index.js';

const DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../docs/schemas/v1');

describe('the JSON Schemas published in docs/schemas/v1', () => {
  it('are exactly the ones receivers validate with (run `pnpm schemas` after changing a body)', () => {
    const published = new Map(readdirSync(DIR).map((file) => [file, JSON.parse(readFileSync(resolve(DIR, file), 'utf8')) as unknown]));
    for (const schema of Object.values(SCHEMAS)) {
      const file = schema.$id.split('/').at(-1) ?? '';
      expect(published.get(file), file).toEqual(JSON.parse(JSON.stringify(schema)));
      published.delete(file);
    }
    expect([...published.keys()]).toEqual([]);
  });
});
