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

const SERVER_TO_CLIENT: KnownGap = {
  kind: 'not-built',
  reason: 'server-to-client requests (sampling, elicitation, roots) are not relayed yet: a 2025 client never receives the upstream\'s request',
};
const SESSIONS: KnownGap = {
  kind: 'not-built',
  reason: 'Streamable HTTP sessions for 2025 clients (Mcp-Session-Id) are not built: mcpbus serves them statelessly, so the scenario has nothing to test',
};

/** Scenario → why it passes directly but not through mcpbus. */
export const KNOWN_GAPS: Readonly<Record<string, KnownGap>> = {
  'tools-call-sampling': SERVER_TO_CLIENT,
  'tools-call-elicitation': SERVER_TO_CLIENT,
  'elicitation-sep1034-defaults': SERVER_TO_CLIENT,
  'elicitation-sep1330-enums': SERVER_TO_CLIENT,
  'logging-set-level': { kind: 'not-built', reason: 'logging/setLevel is not built (mcpbus answers Method not found)' },
  'tools-call-with-logging': {
    kind: 'not-built',
    reason: 'logging is not built: the suite sets a level first (logging/setLevel → Method not found), and upstream notifications/message are not relayed',
  },
  'resources-subscribe': { kind: 'not-built', reason: 'resource subscriptions are not built (resources/subscribe → Method not found)' },
  'resources-unsubscribe': { kind: 'not-built', reason: 'resource subscriptions are not built (resources/unsubscribe → Method not found)' },
  'server-session-lifecycle': SESSIONS,
  'server-sse-polling': SESSIONS,
  'server-sse-multiple-streams': SESSIONS,
  'input-required-result-non-tool-request': {
    kind: 'not-built',
    reason: 'input_required is relayed for tools/call only: an upstream that asks for input during prompts/get or resources/read gets -32021 (mcpbus does not pass the caller\'s capabilities on those yet)',
  },
};

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
