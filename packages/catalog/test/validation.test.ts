import { describe, expect, it } from 'vitest';
import { buildServerCatalog, createArgumentValidator } from '../src/index.js';

const draft07 = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  type: 'object',
  required: ['email', 'count'],
  properties: {
    email: { type: 'string', format: 'email' },
    count: { type: 'integer', minimum: 1, maximum: 10 },
    tags: { type: 'array', items: { type: 'string' }, maxItems: 3 },
  },
  additionalProperties: false,
};

const draft2020 = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  required: ['point'],
  $defs: { coord: { type: 'number' } },
  properties: {
    point: { type: 'array', prefixItems: [{ $ref: '#/$defs/coord' }, { $ref: '#/$defs/coord' }], items: false },
    when: { type: 'string', format: 'date-time' },
  },
};

describe('argument validation', () => {
  it('accepts valid arguments (draft-07 and 2020-12)', () => {
    const v = createArgumentValidator();
    expect(v.check(draft07, { email: 'a@b.co', count: 3, tags: ['x'] })).toEqual({ ok: true });
    expect(v.check(draft2020, { point: [1, 2], when: '2026-11-21T00:00:00Z' })).toEqual({ ok: true });
  });

  it('names every bad field and why', () => {
    const v = createArgumentValidator();
    const result = v.check(draft07, { email: 'nope', tags: ['a', 1, 'c', 'd'], extra: 1 });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems).toEqual(
      expect.arrayContaining([
        'count: is required',
        'email: must match format "email"',
        'tags: must NOT have more than 3 items',
        'tags[1]: must be string',
        'extra: is not an accepted argument',
      ]),
    );
  });

  it('understands 2020-12 keywords such as prefixItems, $defs and items: false', () => {
    const v = createArgumentValidator();
    const result = v.check(draft2020, { point: [1, 'x', 3], when: 'yesterday' });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems).toEqual(expect.arrayContaining(['point[1]: must be number', 'point: must NOT have more than 2 items', 'when: must match format "date-time"']));
  });

  it('treats schemas without $schema as 2020-12 and falls back to draft-07 forms', () => {
    const v = createArgumentValidator();
    expect(v.check({ type: 'object', properties: { n: { type: 'number' } } }, { n: 'x' }).ok).toBe(false);
    // Tuple `items: [...]` is draft-07 syntax; it still validates.
    const tuple = { type: 'object', properties: { p: { type: 'array', items: [{ type: 'number' }] } } };
    expect(v.check(tuple, { p: ['x'] }).ok).toBe(false);
  });

  it('compiles each distinct schema once, whatever its key order', () => {
    const v = createArgumentValidator();
    v.check({ type: 'object', properties: { a: { type: 'string' } } }, {});
    v.check({ properties: { a: { type: 'string' } }, type: 'object' }, {});
    expect(v.size).toBe(1);
    v.check({ type: 'object', properties: { b: { type: 'string' } } }, {});
    expect(v.size).toBe(2);
  });

  it('does not enforce a schema that cannot be compiled', () => {
    const v = createArgumentValidator();
    expect(v.check({ type: 'object', properties: { a: { $ref: '#/nowhere' } } }, { a: 1 })).toEqual({ ok: true });
  });
});

describe('server catalog', () => {
  it('assigns exposed names and keeps the upstream tool intact', () => {
    const catalog = buildServerCatalog('gh', [{ name: 'create_issue', description: 'd', inputSchema: { type: 'object' } }, { name: 'bare' }], '-');
    expect(catalog[0]).toEqual({ name: 'gh-create_issue', server: 'gh', upstreamName: 'create_issue', tool: { name: 'gh-create_issue', description: 'd', inputSchema: { type: 'object' } } });
    expect(catalog[1]?.tool.inputSchema).toEqual({ type: 'object' });
  });
});
