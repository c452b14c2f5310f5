// `tsx test/bench/profile-summary.ts FILE.cpuprofile [--top 25]`
//
// Summarises a V8 CPU profile (from `pnpm bench --profile DIR`): self time by package and the
// functions with the most self time, idle time left out so the shares are of busy CPU.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Which package (or runtime part) a script URL belongs to. */
export function packageOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native/builtin)';
  if (url.startsWith('node:internal/deps/')) return `node:internal/deps/${url.split('/')[2] ?? ''}`;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0] === 'internal' ? `internal/${url.split('/')[1] ?? ''}` : url.slice(5)}`;
  const pnpm = /node_modules\/\.pnpm\/[^/]+\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pnpm?.[1] !== undefined) return pnpm[1];
  const plain = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (plain?.[1] !== undefined) return plain[1];
  const own = /\/(packages|services)\/([^/]+)\//.exec(url);
  if (own?.[2] !== undefined) return `@mcpbus/${own[2]}`;
  return url;
}

function shortUrl(url: string): string {
  const i = url.lastIndexOf('node_modules/');
  const tail = i >= 0 ? url.slice(i + 'node_modules/'.length) : url.replace(/^file:\/\/.*?\/(packages|services|test)\//, '$1/');
  return tail.replace(/^\.pnpm\/[^/]+\/node_modules\//, '');
}

export function summariseProfile(profile: CpuProfile, top: number): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  let idleUs = 0;
  let busyUs = 0;
  const byPackage = new Map<string, number>();
  const byFunction = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (node === undefined) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    busyUs += us;
    const pkg = packageOf(url, functionName);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us);
    const key = `${functionName || '(anonymous)'}  ${url === '' ? '' : `${shortUrl(url)}:${lineNumber + 1}`}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  }
  // Inclusive: a sample counts once for every package (and own function) anywhere on its stack.
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Charged: node internals and natives count for the nearest package above them (undici counts as one).
  const charged = new Map<string, number>();
  const inclPackage = new Map<string, number>();
  const inclOwn = new Map<string, number>();
  profile.samples.forEach((leaf, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    if (byId.get(leaf)?.callFrame.functionName === '(idle)') return;
    const packages = new Set<string>();
    const own = new Set<string>();
    let chargedTo: string | undefined;
    const leafName = byId.get(leaf)?.callFrame.functionName ?? '';
    if (leafName === '(garbage collector)' || leafName === '(program)') chargedTo = leafName;
    for (let id: number | undefined = leaf; id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id)?.callFrame;
      if (frame === undefined || frame.url === '') continue;
      const pkg = packageOf(frame.url, frame.functionName);
      if (chargedTo === undefined && (!pkg.startsWith('node:') || pkg.startsWith('node:internal/deps/'))) chargedTo = pkg;
      packages.add(pkg);
      if (pkg.startsWith('@mcpbus/')) own.add(`${frame.functionName || '(anonymous)'}  ${shortUrl(frame.url)}:${frame.lineNumber + 1}`);
    }
    const charge = chargedTo ?? 'node (no package on the stack)';
    charged.set(charge, (charged.get(charge) ?? 0) + us);
    for (const p of packages) inclPackage.set(p, (inclPackage.get(p) ?? 0) + us);
    for (const f of own) inclOwn.set(f, (inclOwn.get(f) ?? 0) + us);
  });
  const pct = (us: number): string => `${((100 * us) / busyUs).toFixed(1).padStart(5)}%`;
  const list = (m: Map<string, number>, n: number): string[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, us]) => `  ${pct(us)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`);
  return [
    `busy ${(busyUs / 1e6).toFixed(1)} s, idle ${(idleUs / 1e6).toFixed(1)} s`,
    'self time by package (share of busy time):',
    ...list(byPackage, top),
    `top ${top} functions by self time:`,
    ...list(byFunction, top),
    'self time charged to the nearest package on the stack (node internals and natives included; sums to 100%):',
    ...list(charged, top),
    'inclusive time by package (a sample counts for every package on its stack):',
    ...list(inclPackage, top),
    `inclusive time of mcpbus's own functions (top ${top}):`,
    ...list(inclOwn, top),
  ].join('\n');
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '');
if (isMain) {
  const { values, positionals } = parseArgs({ options: { top: { type: 'string' } }, allowPositionals: true });
  const top = Number(values.top ?? 25);
  for (const file of positionals) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    process.stdout.write(`== ${file}\n${summariseProfile(profile, top)}\n`);
  }
}
