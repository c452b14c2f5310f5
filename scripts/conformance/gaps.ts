// Scenarios that pass against the reference server but not through mcpbus, each with why.
// docs/conformance.md explains each one; `pnpm conformance` and test/e2e/conformance.test.ts
// fail when a scenario outside this list regresses, and when a listed one starts passing (then
// remove it here and update the doc).
import type { ConformanceRun, ScenarioRow } from './run.js';

export interface KnownGap {
  /**
   * `not-built`: a feature mcpbus does not have yet; `by-design`: a gateway cannot pass it;
   * `bug`: a gateway bug, reported (docs/conformance.md says where), listed so the run stays green
   * until it is fixed.
   */
  kind: 'not-built' | 'by-design' | 'bug';
  reason: string;
  /** Only these checks may fail; any other failed check of the scenario is a regression. */
  checks?: readonly string[];
}

/** Scenario → why it passes directly but not through mcpbus. None today. */
export const KNOWN_GAPS: Readonly<Record<string, KnownGap>> = {};

export interface Judgement {
  /** Pass directly, fail through mcpbus, and not in KNOWN_GAPS. */
  regressions: ScenarioRow[];
  /** In KNOWN_GAPS but passing through mcpbus (or no longer passing directly). */
  stale: string[];
  /** Pass directly, fail through mcpbus, listed in KNOWN_GAPS. */
  expected: ScenarioRow[];
}

/** Compares the two columns of a run against KNOWN_GAPS. */
export function judge(run: ConformanceRun, gaps: Readonly<Record<string, KnownGap>> = KNOWN_GAPS): Judgement {
  const judgement: Judgement = { regressions: [], stale: [], expected: [] };
  const seen = new Set<string>();
  for (const row of run.rows) {
    seen.add(row.scenario);
    const gap = gaps[row.scenario];
    const gapShows = row.direct.verdict === 'pass' && row.mcpbus.verdict !== 'pass';
    const covered = gap !== undefined && (gap.checks === undefined || row.mcpbus.failedChecks.every((id) => gap.checks?.includes(id)));
    if (gapShows && covered) judgement.expected.push(row);
    else if (gapShows) judgement.regressions.push(row);
    else if (gap !== undefined) judgement.stale.push(row.scenario);
  }
  return judgement;
}
