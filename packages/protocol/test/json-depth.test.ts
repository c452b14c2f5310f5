import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../src/index.js';

const nested = (depth: number): unknown => {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i += 1) value = i % 2 === 0 ? { a: value } : [value];
  return value;
};

describe('nestsDeeperThan', () => {
  it('accepts JSON up to the limit and refuses deeper, without overflowing on hostile depth', () => {
    expect(nestsDeeperThan(nested(MAX_JSON_DEPTH))).toBe(false);
    expect(nestsDeeperThan(nested(MAX_JSON_DEPTH + 1))).toBe(true);
    expect(nestsDeeperThan(nested(100_000))).toBe(true);
    expect(nestsDeeperThan({ a: 1, b: [1, 2, { c: null }], d: 'x' }, 3)).toBe(false);
    expect(nestsDeeperThan('plain')).toBe(false);
  });
});
