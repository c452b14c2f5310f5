import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { compileLinearRegExp, UnsupportedPattern } from '../src/linear-regexp.js';
import { createWorkBudget, WorkBudgetExceeded, type WorkBudget } from '../src/work-budget.js';

const require = createRequire(import.meta.url);
// ajv-formats' regular expressions, as the formats use them (not exported from its entry).
const { fullFormats } = require('ajv-formats/dist/formats.js') as { fullFormats: Record<string, unknown> };

function counting(): WorkBudget & { used: number } {
  const budget = {
    used: 0,
    spend(units: number) {
      budget.used += units;
    },
    reset() {
      budget.used = 0;
    },
  };
  return budget;
}

/** Deterministic pseudo-random strings over an alphabet chosen to hit the patterns' edges. */
function* strings(count: number, seed: number): Generator<string> {
  const alphabet = ['a', 'b', 'c', 'A', 'Z', '0', '1', '9', '-', '.', '@', ' ', '\n', '_', 'x', 'y', 'o', 'f', 'é', 'ſ', 'K', '😀', '\uD800', '\uDE00', ',', '!', ':', '/'];
  let state = seed;
  const next = (n: number): number => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state % n;
  };
  for (let k = 0; k < count; k++) {
    let s = '';
    for (let len = next(12); len > 0; len--) s += alphabet[next(alphabet.length)];
    yield s;
  }
}

const PATTERNS = [
  '^[a-z0-9-]+$', '^[a-z0-9]+(-[a-z0-9]+)*$', '^(\\d{1,3}\\.){3}\\d{1,3}$', 'a+b', '\\s+$', '^\\s*(.*?)\\s*$', '(a+)+$', '^(a|aa)*$', '^(a*)*b$',
  '\\bfoo\\b', '\\Bo', '^(?=.*[A-Z])(?=.*\\d).{4,}$', '(?<=a)b', '(?<!a)b', '^(?!ab)..$', 'x(?=y)', 'colou?r', '^[^@\\s]+@[^@\\s]+(\\.[^@\\s]+)+$',
  '^\\p{L}+$', '\\P{L}', '[\\u{1F600}-\\u{1F64F}]', '^.$', '😀+', '^[😀a]$', '\\uD83D\\uDE00', '^[^]*$', '[]', 'a{2,3}', '^a{0}$', 'a{3,}',
  '(?<n>x)y', '^$', '', '|a', '\\.', '[\\]\\\\-]', '\\x41', '\\cJ', '\\0', '[\\b]', '^\\w+@\\w+\\.\\w+$', '^(a?){5}a{5}$',
  '(?<=^|,)x', '(?<=\\d{2})z', '(?<![a-c]+)d', '(?=(a+))a*b', '^(?:(?=a)a|b)+$', '$a', 'a^', '\\b', '^\\B$', '(?!)', '^(?:x*)*$',
];

describe('linear-time regular expressions', () => {
  it('agree with RegExp on every pattern, flag and input tried', () => {
    const budget = createWorkBudget();
    const mismatches: string[] = [];
    for (const flags of ['u', 'iu', 'su']) {
      for (const source of PATTERNS) {
        const native = new RegExp(source, flags);
        const linear = compileLinearRegExp(source, flags, 10_000);
        for (const input of [...strings(400, source.length + 1), 'foo bar', 'aaab', 'colour', 'a@b.co', '192.168.0.1', 'a-b-c', 'Ab1x', '12z', 'ab,x']) {
          budget.reset(Number.POSITIVE_INFINITY);
          if (native.test(input) !== linear.test(input, budget)) mismatches.push(`/${source}/${flags} on ${JSON.stringify(input)}`);
        }
      }
    }
    expect(mismatches).toEqual([]);
  });

  it("agree with ajv-formats' own expressions, flags (i, non-u) included", () => {
    const budget = createWorkBudget();
    const samples = ['http://example.com', 'https://a.b.c/d?e=f#g', 'ftp://1.2.3.4', 'http://10.0.0.1', 'http://172.16.0.1', 'http://user:pw@host.com:8080/p', 'http://ÄÖ.de', 'http://-a.com', 'http://localhost', 'P1Y2M', 'PT', 'P1W', '/a/b', '#/a', '0#', '1/a~0', '{a}', 'x{+y}', 'urn:uuid:123e4567-e89b-12d3-a456-426614174000', '::1', 'fe80::1', '2001:db8::ff00:42:8329', 'A@B.CO', 'ſ@b.co', 'xn--a.com', 'http://223.255.255.254', 'http://224.0.0.1'];
    const regexps = Object.entries(fullFormats).filter((entry): entry is [string, RegExp] => entry[1] instanceof RegExp);
    expect(regexps.map(([name]) => name)).toEqual(expect.arrayContaining(['url', 'email', 'hostname', 'ipv6', 'uri-reference']));
    const mismatches: string[] = [];
    for (const [name, re] of regexps) {
      const linear = compileLinearRegExp(re.source, re.flags, 10_000);
      for (const input of [...samples, ...[...strings(300, 7)].map((s, i) => `${samples[i % samples.length] ?? ''}${s}`)]) {
        budget.reset(Number.POSITIVE_INFINITY);
        if (re.test(input) !== linear.test(input, budget)) mismatches.push(`${name} on ${JSON.stringify(input)}`);
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('do work linear in the input on patterns that backtrack catastrophically', () => {
    for (const [source, input] of [
      ['^(a+)+$', `${'a'.repeat(100_000)}!`],
      ['^(a|aa)+$', `${'a'.repeat(100_000)}!`],
      ['\\d*\\d*\\d*x', '1'.repeat(100_000)],
      ['a+b', 'a'.repeat(100_000)],
      ['^(\\w+\\s?)+$', `${'ab '.repeat(30_000)}!`],
    ] as const) {
      const linear = compileLinearRegExp(source, 'u', 10_000);
      const budget = counting();
      expect(linear.test(input, budget)).toBe(false);
      // Per character: each state entered at most once, each live thread stepped once, plus the step.
      expect(budget.used, source).toBeLessThanOrEqual((input.length + 1) * (2 * linear.states + 2));
    }
  });

  it('stop when the budget runs out', () => {
    const budget = createWorkBudget();
    budget.reset(1_000);
    expect(() => compileLinearRegExp('^(a|aa)+$', 'u', 10_000).test('a'.repeat(10_000), budget)).toThrow(WorkBudgetExceeded);
  });

  it('refuse what they cannot run in linear time, and pass syntax errors through', () => {
    const refusal = (source: string, flags = 'u'): string => {
      try {
        compileLinearRegExp(source, flags, 10_000);
        return 'compiled';
      } catch (err: unknown) {
        return err instanceof UnsupportedPattern ? err.reason : (err as Error).name;
      }
    };
    expect(refusal('^(a+)\\1$')).toMatch(/backreference/);
    expect(refusal('(?<x>a)\\k<x>')).toMatch(/backreference/);
    expect(refusal('^a$', 'mu')).toMatch(/flags/);
    expect(refusal('^(a{100}){200}$')).toMatch(/more than 10000 states/);
    expect(refusal('((((?:){9999}){9999}){9999})')).toMatch(/more than 10000 states/);
    expect(refusal(`${'('.repeat(60)}a${')'.repeat(60)}`)).toMatch(/nest deeper/);
    expect(refusal('(')).toBe('SyntaxError');
  });
});
