import { beforeAll, describe, expect, it } from 'vitest';
import { judge, KNOWN_GAPS } from '../../scripts/conformance/gaps.js';
import { runConformance, type ConformanceRun } from '../../scripts/conformance/run.js';

// The official MCP conformance suite's server scenarios, run against the reference server directly
// and through mcpbus (`pnpm conformance` prints the same table). Takes about half a minute.
let run: ConformanceRun;

beforeAll(async () => {
  run = await runConformance({ timeoutMs: 150_000 });
}, 200_000);

describe('the MCP conformance suite through mcpbus', () => {
  it('ran the whole suite against the reference server, which passes the core scenarios', () => {
    const passing = new Set(run.rows.filter((r) => r.direct.verdict === 'pass').map((r) => r.scenario));
    // If these stop passing directly, the reference server or the suite broke, not mcpbus.
    for (const scenario of ['server-initialize', 'tools-list', 'tools-call-with-progress', 'tools-call-sampling', 'resources-read-text', 'prompts-get-with-args', 'server-stateless']) {
      expect(passing, scenario).toContain(scenario);
    }
    expect(run.rows.length).toBeGreaterThanOrEqual(60);
  });

  it('passes through mcpbus every scenario that passes directly, except the documented gaps', () => {
    const { regressions } = judge(run);
    const report = regressions.map((r) => `${r.scenario}: ${r.mcpbus.failures.join('; ') || r.mcpbus.verdict}`);
    expect(report).toEqual([]);
  });

  it('lists no gap that has closed (remove it from scripts/conformance/gaps.ts and docs/conformance.md)', () => {
    expect(judge(run).stale).toEqual([]);
  });

  it('gives a reason for every documented gap', () => {
    for (const [scenario, gap] of Object.entries(KNOWN_GAPS)) expect(gap.reason.length, scenario).toBeGreaterThan(20);
  });
});
