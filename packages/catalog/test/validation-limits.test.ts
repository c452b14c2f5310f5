import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createArgumentValidator, MAX_SCHEMA_BYTES, MAX_SCHEMA_DEPTH, MAX_SCHEMA_KEYWORDS, MAX_SUBSCHEMAS, type ArgumentCheck } from '../src/index.js';

// Bounds on elapsed time are generous (shared CI machines are slow); each case takes seconds to hours
// without its guard, and milliseconds with it.

type Schema = Record<string, unknown>;
const addFormats = addFormatsModule as unknown as (ajv: Ajv | Ajv2020) => void;

/** The validator as it was before these guards: the verdicts legitimate schemas must keep. */
function createReference(): (schema: Schema, args: unknown) => ArgumentCheck {
  const options = { allErrors: true, strict: false, validateFormats: true } as const;
  const engines = { 'draft-07': new Ajv(options), '2020-12': new Ajv2020(options) };
  addFormats(engines['draft-07']);
  addFormats(engines['2020-12']);
  const fieldOf = (err: ErrorObject): string => {
    const path = err.instancePath.split('/').slice(1).map((seg) => seg.replace(/~1/g, '/').replace(/~0/g, '~')).map((seg) => (/^\d+$/.test(seg) ? `[${seg}]` : `.${seg}`)).join('').replace(/^\./, '');
    const params = err.params as Record<string, unknown>;
    const named = err.keyword === 'required' ? params['missingProperty'] : err.keyword === 'additionalProperties' ? params['additionalProperty'] : undefined;
    if (typeof named === 'string') return path === '' ? named : `${path}.${named}`;
    return path === '' ? '(arguments)' : path;
  };
  const describeError = (err: ErrorObject): string => (err.keyword === 'required' ? 'is required' : err.keyword === 'additionalProperties' ? 'is not an accepted argument' : (err.message ?? 'is invalid'));
  return (schema, args) => {
    const dialect = typeof schema['$schema'] === 'string' && /draft-0[4-7]/.test(schema['$schema']) ? 'draft-07' : '2020-12';
    const { $schema: _s, $id: _i, ...body } = schema;
    let fn;
    try {
      fn = engines[dialect].compile(body);
    } catch {
      try {
        fn = engines[dialect === '2020-12' ? 'draft-07' : '2020-12'].compile(body);
      } catch {
        return { ok: true };
      }
    }
    if (fn(args)) return { ok: true };
    return { ok: false, problems: [...new Set((fn.errors ?? []).slice(0, 20).map((e) => `${fieldOf(e)}: ${describeError(e)}`))] };
  };
}

function timed<T>(run: () => T): [T, number] {
  const start = performance.now();
  const value = run();
  return [value, performance.now() - start];
}

const object = (properties: Schema, extra: Schema = {}): Schema => ({ type: 'object', properties, ...extra });
const refusedFor = (check: ArgumentCheck): string => (check.ok || check.schemaRefused !== true ? 'not refused' : (check.problems[0] ?? ''));

describe('input schemas refused as hostile', () => {
  it(`over ${MAX_SCHEMA_BYTES} bytes`, () => {
    const v = createArgumentValidator();
    const schema = object(Object.fromEntries(Array.from({ length: 2_000 }, (_, i) => [`p${i}`, { type: 'string', description: 'x'.repeat(200) }])));
    const [check, ms] = timed(() => v.check(schema, {}));
    expect(refusedFor(check)).toMatch(/input schema was refused by the gateway: it is more than 262144 bytes long/);
    expect(v.inspect(schema)).toEqual({ status: 'refused', reason: 'it is more than 262144 bytes long' });
    expect(ms).toBeLessThan(1_000);
  });

  it(`nesting deeper than ${MAX_SCHEMA_DEPTH} levels, even 100,000 levels that would overflow any recursive walk`, () => {
    const v = createArgumentValidator();
    let schema: Schema = { type: 'string' };
    for (let i = 0; i < 100_000; i++) schema = { not: schema };
    const [check, ms] = timed(() => v.check(schema, 'x'));
    expect(refusedFor(check)).toMatch(/it nests deeper than 64 levels/);
    expect(ms).toBeLessThan(1_000);
  });

  it(`with more than ${MAX_SUBSCHEMAS} subschemas or ${MAX_SCHEMA_KEYWORDS} keywords`, () => {
    const v = createArgumentValidator();
    const wide = object(Object.fromEntries(Array.from({ length: MAX_SUBSCHEMAS }, (_, i) => [`p${i}`, { type: 'integer' }])));
    const [check, ms] = timed(() => v.check(wide, {}));
    expect(refusedFor(check)).toMatch(/more than 2000 subschemas/);
    expect(ms).toBeLessThan(1_000);
    const busy = object(Object.fromEntries(Array.from({ length: 1_300 }, (_, i) => [`p${i}`, { type: 'string', minLength: 1, maxLength: 9, format: 'date' }])));
    expect(refusedFor(v.check(busy, {}))).toMatch(/more than 5000 validation keywords/);
  });

  it('whose oneOf/anyOf/allOf would take Ajv seconds to compile', () => {
    const v = createArgumentValidator();
    const schema = { oneOf: Array.from({ length: 1_000 }, (_, i) => object({ [`k${i}`]: { type: 'string' } })) };
    const [check, ms] = timed(() => v.check(schema, {}));
    expect(refusedFor(check)).toMatch(/allOf\/anyOf\/oneOf branches are too many for their size \(oneOf at \/oneOf\)/);
    expect(ms).toBeLessThan(1_000);
  });

  it('with a pattern that cannot run in linear time, naming where it is', () => {
    const v = createArgumentValidator();
    expect(refusedFor(v.check(object({ s: { type: 'string', pattern: '^(a+)\\1$' } }), { s: 'aa' }))).toMatch(/the pattern at \/properties\/s\/pattern cannot be checked safely: backreferences are not supported/);
    expect(refusedFor(v.check({ type: 'object', patternProperties: { '^(a{100}){200}$': true } }, {}))).toMatch(/the pattern at \/patternProperties\/\^\(a\{100\}\)\{200\}\$ cannot be checked safely: the pattern expands to more than 10000 states/);
  });

  it('with a $ref into enum/const/default values', () => {
    const v = createArgumentValidator();
    const schema = { $defs: { e: { enum: [{ allOf: [{ $ref: '#' }] }] } }, properties: { a: { $ref: '#/$defs/e/enum/0' } } };
    expect(refusedFor(v.check(schema, { a: 1 }))).toMatch(/the \$ref at \/properties\/a points into instance data/);
    // A property that happens to be called "enum" is a schema like any other.
    expect(v.check({ properties: { enum: { type: 'string' }, b: { $ref: '#/properties/enum' } } }, { b: 1 })).toEqual({ ok: false, problems: ['b: must be string'] });
  });

  it('whose $refs recurse without ever reaching into the arguments (refused from then on)', () => {
    const v = createArgumentValidator();
    const schema = { $defs: { a: { anyOf: [{ type: 'string' }, { $ref: '#/$defs/a' }] } }, $ref: '#/$defs/a' };
    const [check, ms] = timed(() => v.check(schema, 1));
    expect(refusedFor(check)).toMatch(/its \$ref recursion never reaches into the arguments/);
    expect(ms).toBeLessThan(2_000);
    expect(refusedFor(v.check(schema, 'fine'))).toMatch(/recursion/);
    expect(v.inspect(schema).status).toBe('refused');
  });

  it('blames arguments nested too deeply on the arguments, not the schema', () => {
    const v = createArgumentValidator();
    const schema = { $defs: { node: { type: 'array', items: { $ref: '#/$defs/node' } } }, $ref: '#/$defs/node' };
    let deep: unknown[] = [];
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(v.check(schema, deep)).toEqual({ ok: false, problems: ['(arguments): nest deeper than 64 levels'] });
    expect(v.check(schema, [[[]]])).toEqual({ ok: true });
    expect(v.inspect(schema)).toEqual({ status: 'enforced' });
  });

  it('reports refusal apart from bad arguments, keeping the old result shape for those', () => {
    const v = createArgumentValidator();
    const bad = v.check(object({ n: { type: 'number' } }), { n: 'x' });
    expect(bad).toEqual({ ok: false, problems: ['n: must be number'] });
    expect('schemaRefused' in bad).toBe(false);
  });
});

describe('input schemas that cannot be compiled', () => {
  afterEach(() => vi.restoreAllMocks());

  it('are not enforced, and a remote $ref is never fetched', () => {
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    const v = createArgumentValidator();
    const schema = object({ s: { $ref: 'https://schemas.example.com/s.json' } });
    expect(v.check(schema, { s: 1 })).toEqual({ ok: true });
    expect(v.inspect(schema)).toEqual({ status: 'unenforced', reason: expect.stringContaining("can't resolve reference https://schemas.example.com/s.json") });
    expect(fetchSpy).not.toHaveBeenCalled();
  });
});

describe('hostile schemas that compile stay cheap', () => {
  it('catastrophic patterns: (a|aa)+ on 40 characters takes RegExp 28 s, here linear', () => {
    const v = createArgumentValidator();
    const schema = object({ s: { type: 'string', pattern: '^(a|aa)+$' } });
    v.inspect(schema);
    const [check, ms] = timed(() => v.check(schema, { s: `${'a'.repeat(40)}!` }));
    expect(check).toEqual({ ok: false, problems: ['s: must match pattern "^(a|aa)+$"'] });
    expect(ms).toBeLessThan(1_000);
    expect(v.check(schema, { s: 'a'.repeat(100_000) })).toEqual({ ok: true });
  });

  it('catastrophic patternProperties, tested against property names', () => {
    const v = createArgumentValidator();
    const schema = { type: 'object', patternProperties: { '^(a|aa)+$': { type: 'number' } }, additionalProperties: false };
    v.inspect(schema);
    const [check, ms] = timed(() => v.check(schema, { [`${'a'.repeat(40)}!`]: 1, aaaa: 'x' }));
    expect(check).toEqual({ ok: false, problems: [`${'a'.repeat(40)}!: is not an accepted argument`, 'aaaa: must be number'] });
    expect(ms).toBeLessThan(1_000);
  });

  it('polynomial and unanchored patterns: \\d*\\d*\\d*x on 500 digits takes RegExp 24 s', () => {
    const v = createArgumentValidator();
    for (const [pattern, input] of [['\\d*\\d*\\d*x', '1'.repeat(500)], ['a+b', 'a'.repeat(200_000)]] as const) {
      const schema = object({ s: { type: 'string', pattern } });
      v.inspect(schema);
      const [check, ms] = timed(() => v.check(schema, { s: input }));
      expect(check).toEqual({ ok: false, problems: [`s: must match pattern "${pattern}"`] });
      expect(ms).toBeLessThan(1_000);
    }
  });

  it('$ref diamonds that apply a subschema 2^32 times (Ajv: ~20 s), even with a forged cost counter', () => {
    const v = createArgumentValidator();
    const defs: Schema = { d32: { type: 'string', 'x-mcpbus-cost': [0, 0] } };
    for (let i = 0; i < 32; i++) defs[`d${i}`] = { allOf: [{ $ref: `#/$defs/d${i + 1}` }, { $ref: `#/$defs/d${i + 1}` }], 'x-mcpbus-cost': [0, 0] };
    const schema = { $defs: defs, $ref: '#/$defs/d0', 'x-mcpbus-cost': ['NaN', 0] };
    const [check, ms] = timed(() => v.check(schema, 'x'));
    expect(check).toEqual({ ok: false, problems: ["(arguments): are too large or too complex to check against the tool's input schema within the gateway's limits"] });
    expect(ms).toBeLessThan(2_000);
  });

  it('a definition referenced hundreds of times is not inlined (Ajv took 25 s to compile this 17 KB schema)', () => {
    const v = createArgumentValidator();
    const leaf = object(Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`p${i}`, { type: 'string', minLength: 1 }])));
    const schema = { $defs: { leaf }, ...object(Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`r${i}`, { $ref: '#/$defs/leaf' }]))) };
    const [status, ms] = timed(() => v.inspect(schema));
    expect(status).toEqual({ status: 'enforced' });
    expect(ms).toBeLessThan(3_000);
    expect(v.check(schema, { r7: { p3: '' } })).toEqual({ ok: false, problems: ['r7.p3: must NOT have fewer than 1 characters'] });
  });
});

describe('hostile arguments stay cheap', () => {
  it('long strings against formats: url is quadratic in RegExp (100,000 characters: 11 s)', () => {
    const v = createArgumentValidator();
    for (const [format, s] of [['url', `http://a.b${':'.repeat(100_000)}`], ['email', `${'a'.repeat(300_000)}@`], ['uri', `a:${'%'.repeat(300_000)}`], ['date-time', 'T'.repeat(300_000)]] as const) {
      const schema = object({ s: { type: 'string', format } });
      v.inspect(schema);
      const [check, ms] = timed(() => v.check(schema, { s }));
      expect(check).toEqual({ ok: false, problems: [`s: must match format "${format}"`] });
      expect(ms, format).toBeLessThan(1_000);
    }
  });

  it('uniqueItems over 20,000 objects (Ajv compares them pairwise: ~9 s)', () => {
    const v = createArgumentValidator();
    const schema = object({ a: { type: 'array', uniqueItems: true } });
    v.inspect(schema);
    const items = Array.from({ length: 20_000 }, (_, i) => ({ i, tag: 'x' }));
    const [check, ms] = timed(() => v.check(schema, { a: items }));
    expect(check).toEqual({ ok: true });
    expect(ms).toBeLessThan(1_500);
    expect(v.check(schema, { a: [...items, { tag: 'x', i: 5 }] })).toEqual({ ok: false, problems: ['a: must NOT have duplicate items (items ## 5 and 20000 are identical)'] });
  });

  it('every problem for small arguments, only the first for ones too large to list (300,000 bad items)', () => {
    const v = createArgumentValidator();
    const schema = object({ a: { type: 'array', items: { type: 'string' } } });
    expect(v.check(schema, { a: [1, 'x', 2] })).toEqual({ ok: false, problems: ['a[0]: must be string', 'a[2]: must be string'] });
    const [check, ms] = timed(() => v.check(schema, { a: Array.from({ length: 300_000 }, () => 1) }));
    expect(check).toEqual({ ok: false, problems: ['a[0]: must be string'] });
    expect(ms).toBeLessThan(2_000);
  });

  it('work beyond the budget for their size is refused, not done', () => {
    const v = createArgumentValidator();
    const schema = object({ a: { type: 'array', items: { enum: Array.from({ length: 20_000 }, (_, i) => `v${i}`) } } });
    v.inspect(schema);
    const [check, ms] = timed(() => v.check(schema, { a: Array.from({ length: 10_000 }, () => 'v19999') }));
    expect(check).toEqual({ ok: false, problems: ["(arguments): are too large or too complex to check against the tool's input schema within the gateway's limits"] });
    expect(ms).toBeLessThan(1_500);
    expect(v.check(schema, { a: ['v19999', 'v3'] })).toEqual({ ok: true });
  });
});

describe('legitimate schemas validate exactly as before', () => {
  const reference = createReference();
  const expectSameVerdicts = (cases: [Schema, unknown][]): void => {
    const v = createArgumentValidator();
    const differ = cases.filter(([schema, args]) => JSON.stringify(v.check(schema, args)) !== JSON.stringify(reference(schema, args)));
    expect(differ.map(([schema, args]) => ({ schema, args, now: v.check(schema, args), before: reference(schema, args) }))).toEqual([]);
  };

  it("@modelcontextprotocol/server-everything's tools", () => {
    const { tools } = JSON.parse(readFileSync(new URL('./fixtures/server-everything-tools.json', import.meta.url), 'utf8')) as { tools: { inputSchema: Schema }[] };
    const argsSamples = [{}, { message: 'hi' }, { message: 1 }, { a: 1, b: 2 }, { a: 'x' }, { count: 0 }, { count: 5 }, { messageType: 'error', includeImage: 'no' }, { messageType: 'nope' }, { location: 'Chicago' }, { data: 'not a uri' }, { data: 'https://x.y/z', outputType: 'resource' }, { resourceType: 'Blob', resourceId: 'x' }, { duration: -1, steps: 'x' }, { topic: 'x', ambiguous: 1 }, { extra: true }];
    expect(tools.length).toBeGreaterThan(10);
    expectSameVerdicts(tools.flatMap((t) => argsSamples.map((args): [Schema, unknown] => [t.inputSchema, args])));
  });

  it('typical patterns', () => {
    const patterns = ['^[a-z0-9-]+$', '^[a-z0-9]+(-[a-z0-9]+)*$', '^(\\d{1,3}\\.){3}\\d{1,3}$', '^[A-Z]{2}\\d{4}$', '^\\p{Lu}', '\\.json$', '^[^\\s@]+@[^\\s@]+\\.[^\\s@]+$', '^[a-f0-9]{64}$', '^(?=.*\\d).{8,}$', '^(?:[01]\\d|2[0-3]):[0-5]\\d$', '^#[0-9a-fA-F]{6}$', '^/[^\\0]*$'];
    const inputs = ['my-tool', 'My-Tool', 'a--b', '10.0.0.1', '1.2.3', 'AB1234', 'Éclair', 'x.json', 'a@b.co', 'a b@c.d', 'f'.repeat(64), 'password1', '23:59', '24:00', '#a0B9fF', '/etc/passwd', '', '😀'];
    expectSameVerdicts(patterns.flatMap((pattern) => inputs.map((s): [Schema, unknown] => [object({ s: { type: 'string', pattern } }), { s }])));
    expectSameVerdicts(inputs.map((key): [Schema, unknown] => [{ type: 'object', patternProperties: { '^[a-z]+$': { type: 'string' }, '^\\d': { type: 'number' } }, additionalProperties: false }, { [key]: key }]));
  });

  it('formats', () => {
    const formats = ['email', 'uri', 'url', 'uri-reference', 'uri-template', 'date-time', 'date', 'time', 'duration', 'hostname', 'ipv4', 'ipv6', 'uuid', 'json-pointer', 'relative-json-pointer', 'regex', 'byte', 'iso-date-time'];
    const inputs = ['a@b.co', 'ſ@b.co', 'not an email', 'https://example.com/a?b=c#d', 'http://10.0.0.1', 'http://ex ample.com', 'mailto:a@b', '/relative/path', '{+var}', '2026-11-21T00:00:00Z', '2026-02-30', '2026-11-21', '23:59:60Z', 'P1Y2M', 'PT', 'example.com', '-bad-.com', '192.168.0.1', '256.0.0.1', '::1', '123e4567-e89b-12d3-a456-426614174000', '/a~1b', '0/a', '(a', '[a-z]+', 'QUJD', 'QUJ', '2026-11-21 10:00:00'];
    expectSameVerdicts(formats.flatMap((format) => inputs.map((s): [Schema, unknown] => [object({ s: { type: 'string', format } }), { s }])));
  });

  it('keywords whose implementation or cost accounting changed, and the 2020-12 applicators', () => {
    const unique = object({ a: { type: 'array', uniqueItems: true }, s: { type: 'array', items: { type: 'string' }, uniqueItems: true }, m: { type: 'array', items: { type: ['string', 'number'] }, uniqueItems: true } });
    const evaluated = { type: 'object', allOf: [object({ a: { type: 'string' } })], properties: { b: { type: 'number' } }, unevaluatedProperties: false };
    const applicators = {
      type: 'object',
      $defs: { n: { type: 'integer', minimum: 0 } },
      properties: { t: { type: 'array', prefixItems: [{ $ref: '#/$defs/n' }, { type: 'string' }], items: false, contains: { type: 'string' }, maxContains: 1 } },
      dependentSchemas: { x: { required: ['y'] } },
      if: { properties: { kind: { const: 'a' } }, required: ['kind'] },
      then: { required: ['t'] },
      else: { maxProperties: 3 },
      propertyNames: { pattern: '^[a-z]+$' },
    };
    const tuple07 = { $schema: 'http://json-schema.org/draft-07/schema#', type: 'array', items: [{ type: 'number' }, { type: 'string' }], additionalItems: false, minItems: 1 };
    expectSameVerdicts([
      [unique, { a: [1, '1', { x: [1, 2] }, { x: [1, 2] }] }],
      [unique, { a: [{ p: 1, q: 2 }, { q: 2, p: 1 }], s: ['x', 1, 'y', 1, 'x'] }],
      [unique, { m: ['1', 1, 2, '2', 2] }],
      [unique, { a: [[1, 2], [2, 1], null, null] }],
      [evaluated, { a: 'x', b: 1 }],
      [evaluated, { a: 'x', b: 1, c: true }],
      [applicators, { t: [1, 'x'], kind: 'a' }],
      [applicators, { t: [-1, 'x', 'y'], kind: 'a', x: 1 }],
      [applicators, { kind: 'b', q: 1, r: 2, s: 3, T: 4 }],
      [tuple07, [1, 'x']],
      [tuple07, [1, 2, 3]],
      [{ type: 'object', required: ['a'], properties: { a: { enum: [{ k: [1] }, 'v', null] }, c: { const: { z: 1 } } } }, { a: { k: [1] }, c: { z: 2 } }],
    ]);
  });
});
