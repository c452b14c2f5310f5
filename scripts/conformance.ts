// `pnpm conformance [--scenario NAME] [--suite all] [--reference-url URL] [--markdown FILE] [--out DIR]`:
// the official MCP conformance suite's server scenarios against the reference server directly and
// through mcpbus, printed side by side. Exits 1 when a scenario that passes directly fails through
// mcpbus and is not a documented gap (scripts/conformance/gaps.ts), or when a documented gap has
// closed. Needs NATS (JetStream) and Redis on their default ports, as the e2e tests do.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { judge, KNOWN_GAPS } from './conformance/gaps.js';
import { runConformance, type ConformanceRun, type ScenarioOutcome } from './conformance/run.js';

const USAGE = `usage: pnpm conformance [--scenario NAME] [--suite all|active|pending|draft] [--reference-url URL] [--markdown FILE] [--out DIR] [--verbose]

  --scenario NAME   run one scenario only
  --suite SUITE     the conformance CLI's --suite (default all)
  --reference-url URL
                    use the MCP server already running at URL as the reference (direct run, and
                    mcpbus's only upstream) instead of starting scripts/conformance/reference-server.ts
  --markdown FILE   also write the table as Markdown (the one in docs/conformance.md)
  --out DIR         keep each run's checks.json files under DIR/direct and DIR/mcpbus
  --verbose         list the failed checks of every scenario that fails through mcpbus`;

const GAP_LABELS = { 'not-built': 'not built yet', 'by-design': 'by design', bug: 'gateway bug' } as const;

function cell(outcome: ScenarioOutcome): string {
  if (outcome.verdict === 'missing') return 'did not run';
  const warnings = outcome.warnings === 0 ? '' : `, ${outcome.warnings} warning${outcome.warnings === 1 ? '' : 's'}`;
  return `${outcome.verdict} (${outcome.passed}/${outcome.passed + outcome.failed}${warnings})`;
}

function why(scenario: string, run: ConformanceRun['rows'][number]): string {
  const gap = KNOWN_GAPS[scenario];
  if (gap !== undefined) return `${GAP_LABELS[gap.kind]}: ${gap.reason}`;
  if (run.direct.verdict !== 'pass' && run.mcpbus.verdict !== 'pass') return `${run.direct.verdict === 'skipped' ? 'tests nothing' : 'fails'} directly too`;
  if (run.direct.verdict !== 'pass') return 'does not pass directly, passes through mcpbus';
  return run.mcpbus.verdict === 'pass' ? '' : 'REGRESSION: not a documented gap';
}

function markdownTable(run: ConformanceRun): string {
  const lines = ['| scenario | direct | through mcpbus | why not through mcpbus |', '|---|---|---|---|'];
  for (const row of run.rows) lines.push(`| \`${row.scenario}\` | ${cell(row.direct)} | ${cell(row.mcpbus)} | ${why(row.scenario, row)} |`);
  return `${lines.join('\n')}\n`;
}

function plainTable(run: ConformanceRun): string {
  const width = Math.max(...run.rows.map((r) => r.scenario.length), 8);
  const lines = [`${'scenario'.padEnd(width)}  ${'direct'.padEnd(22)}  ${'through mcpbus'.padEnd(22)}  note`];
  for (const row of run.rows) lines.push(`${row.scenario.padEnd(width)}  ${cell(row.direct).padEnd(22)}  ${cell(row.mcpbus).padEnd(22)}  ${why(row.scenario, row)}`);
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        scenario: { type: 'string' },
        suite: { type: 'string' },
        'reference-url': { type: 'string' },
        markdown: { type: 'string' },
        out: { type: 'string' },
        verbose: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err: unknown) {
    process.stderr.write(`conformance: ${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const run = await runConformance({
    ...(values.scenario !== undefined && { scenario: values.scenario }),
    ...(values.suite !== undefined && { suite: values.suite }),
    ...(values['reference-url'] !== undefined && { referenceUrl: values['reference-url'] }),
    ...(values.out !== undefined && { outputDir: values.out }),
    log: (line) => process.stdout.write(`${line}\n`),
  });
  process.stdout.write(`\n${plainTable(run)}\n`);
  if (values.markdown !== undefined) writeFileSync(values.markdown, markdownTable(run));
  const judgement = judge(run);
  const pass = (column: 'direct' | 'mcpbus'): number => run.rows.filter((r) => r[column].verdict === 'pass').length;
  process.stdout.write(
    `@modelcontextprotocol/conformance ${run.suiteVersion} on Node ${run.nodeVersion}, ${(run.durationMs / 1000).toFixed(1)} s: ` +
      `${pass('direct')}/${run.rows.length} scenarios pass directly, ${pass('mcpbus')}/${run.rows.length} through mcpbus, ` +
      `${judgement.expected.length} documented gaps\n`,
  );
  for (const row of values.verbose === true ? [...judgement.expected, ...judgement.regressions] : judgement.regressions) {
    process.stdout.write(`\n${row.scenario} through mcpbus:\n${row.mcpbus.failures.map((f) => `  - ${f}`).join('\n')}\n`);
  }
  if (judgement.regressions.length > 0) process.stdout.write(`\nFAIL: passes directly, fails through mcpbus: ${judgement.regressions.map((r) => r.scenario).join(', ')}\n`);
  // A one-scenario run says nothing about the other listed gaps.
  const stale = values.scenario === undefined ? judgement.stale : judgement.stale.filter((s) => s === values.scenario);
  if (stale.length > 0) process.stdout.write(`\nFAIL: documented gaps that no longer show (remove them from scripts/conformance/gaps.ts and docs/conformance.md): ${stale.join(', ')}\n`);
  return judgement.regressions.length > 0 || stale.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`conformance: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
