import { basename } from 'node:path';

/**
 * Commands the admin API may register as stdio servers (`mcpbus_settings.api_stdio_commands`).
 * Empty: stdio servers come only from config.yaml.
 */
export interface StdioPolicy {
  readonly commands: readonly string[];
}

/** A stdio server as the admin API receives it. */
export interface StdioEntry {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd?: string;
}

const SETTING = 'mcpbus_settings.api_stdio_commands';
const INSTEAD = 'or add the server to config.yaml instead';

/** Programs whose whole job is to run other commands; never accepted, even when listed. */
const SHELLS = new Set(['sh', 'bash', 'zsh', 'dash', 'ksh', 'csh', 'tcsh', 'fish', 'busybox', 'cmd', 'powershell', 'pwsh', 'env', 'sudo', 'su', 'doas', 'xargs']);

/** Flags by which a launcher runs code (or loads it) from its own command line or environment. */
interface Launcher {
  /** Single letters refused as `-x`, `-xVALUE`, `-x=VALUE`. */
  readonly short: string;
  /** Long flags refused as `--flag` and `--flag=value`. */
  readonly long: readonly string[];
  /** Refuse any long flag starting with one of these (`--inspect-brk`, `--env-file-if-exists`). */
  readonly longPrefixes?: readonly string[];
  /** Short flags combine (`perl -le`, `python -Bc`): scan every letter of `-abc`, stopping at letters that take the rest as a value. */
  readonly cluster?: { readonly valueLetters: string };
  /** npm's option parser expands unambiguous prefixes (`--cal` is `--call`). */
  readonly abbreviates?: boolean;
  readonly subcommands?: readonly string[];
  /** Runs other programs named in its arguments (`npx node …`, `uv run python …`). */
  readonly runner?: boolean;
}

const JS: Launcher = {
  short: 'epri',
  long: ['--eval', '--print', '--require', '--import', '--loader', '--experimental-loader', '--interactive', '--preload', '--openssl-config'],
  longPrefixes: ['--inspect', '--env-file'],
};
const NPM: Launcher = {
  short: 'c',
  long: ['--call', '--node-options', '--shell', '--script-shell', '--userconfig', '--globalconfig'],
  abbreviates: true,
  runner: true,
};
const PYTHON: Launcher = { short: 'c', long: [], cluster: { valueLetters: 'mWXQ' } };

const LAUNCHERS: readonly (readonly [RegExp, Launcher])[] = [
  [/^(node|nodejs|tsx|ts-node)$/, JS],
  [/^bun$/, { ...JS, runner: true }],
  [/^deno$/, { ...JS, subcommands: ['eval'] }],
  [/^(npx|npm|pnpm|pnpx|yarn|bunx)$/, NPM],
  [/^(python\d*(\.\d+)?|pythonw|py|pypy\d*)$/, PYTHON],
  [/^(uv|uvx|pipx)$/, { ...PYTHON, runner: true }],
  [/^ruby$/, { short: 'er', long: [], cluster: { valueLetters: 'IEKWTxCFi0' } }],
  [/^perl\d*(\.\d+)*$/, { short: 'eEMmd', long: [], cluster: { valueLetters: 'IxiCDF' } }],
  [/^php\d*(\.\d+)*$/, { short: 'erRBEFdc', long: ['--php-ini', '--define', '--process-begin', '--process-code', '--process-file', '--process-end'] }],
];

const ENV_NAMES = new Set(['NODE_OPTIONS', 'NODE_PATH', 'BASH_ENV', 'ENV', 'PATH', 'PYTHONSTARTUP', 'PYTHONPATH', 'PYTHONHOME', 'PYTHONWARNINGS', 'BROWSER', 'PERL5OPT', 'PERL5LIB', 'PERLLIB', 'PERL5DB', 'RUBYOPT', 'RUBYLIB', 'JAVA_TOOL_OPTIONS', '_JAVA_OPTIONS', 'GIT_SSH_COMMAND', 'GIT_EXEC_PATH', 'PROMPT_COMMAND', 'SHELLOPTS']);
// Package managers' settings (where they fetch from, what they run) come only from the operator.
const ENV_PREFIXES = ['LD_', 'DYLD_', 'NPM_CONFIG_', 'YARN_', 'PNPM_', 'UV_', 'PIP_', 'PIPX_', 'BUN_', 'DENO_'];

/** `/usr/bin/Python3.EXE` → `python3`: what kind of program a command or argument names. */
function programName(word: string): string {
  return basename(word.replaceAll('\\', '/')).toLowerCase().replace(/\.(exe|cmd|bat|ps1)$/, '');
}

function launcherOf(word: string): Launcher | undefined {
  const name = programName(word);
  return LAUNCHERS.find(([pattern]) => pattern.test(name))?.[1];
}

/** The refused flag an argument uses under a launcher's rules, as it should be named in messages. */
function refusedFlag(arg: string, rules: Launcher): string | undefined {
  if (rules.subcommands?.includes(arg) === true) return arg;
  if (arg.startsWith('--')) {
    const flag = (arg.split('=')[0] ?? arg).replaceAll('_', '-');
    if (flag.length <= 2) return undefined;
    if (rules.long.includes(flag) || rules.longPrefixes?.some((p) => flag.startsWith(p)) === true) return flag;
    if (rules.abbreviates === true && flag.length >= 5 && rules.long.some((l) => l.startsWith(flag))) return flag;
    return undefined;
  }
  if (!arg.startsWith('-') || arg.length < 2) return undefined;
  const letters = rules.cluster === undefined ? arg.slice(1, 2) : arg.slice(1);
  for (const letter of letters) {
    if (rules.short.includes(letter)) return `-${letter}`;
    if (rules.cluster !== undefined && (rules.cluster.valueLetters.includes(letter) || !/[A-Za-z0-9]/.test(letter))) return undefined;
  }
  return undefined;
}

function commandProblems(command: string, policy: StdioPolicy): string[] {
  const problems: string[] = [];
  if (command.includes('\0')) problems.push('command contains a NUL byte; remove it');
  else if (!policy.commands.includes(command)) {
    problems.push(`command "${command}" is not in ${SETTING} (${policy.commands.join(', ')}); use one of those exactly (no other path to it), ${INSTEAD}`);
  }
  if (SHELLS.has(programName(command))) {
    problems.push(`command "${programName(command)}" is a shell or command runner and is never accepted from the API, even when ${SETTING} lists it; ${INSTEAD}`);
  }
  return problems;
}

function argProblems(command: string, args: readonly string[]): string[] {
  const problems: string[] = [];
  const first = launcherOf(command);
  const active: { readonly rules: Launcher; readonly name: string }[] = first === undefined ? [] : [{ rules: first, name: programName(command) }];
  args.forEach((arg, i) => {
    const where = `argument ${i + 1}`;
    if (arg.includes('\0')) {
      problems.push(`${where} contains a NUL byte; remove it`);
      return;
    }
    const hit = active.map(({ rules, name }) => ({ flag: refusedFlag(arg, rules), name })).find((h) => h.flag !== undefined);
    if (hit?.flag !== undefined) problems.push(`${where} ("${hit.flag}") makes ${hit.name} run or load code named on the command line, which servers added through the API may not do; remove it, ${INSTEAD}`);
    if (active.some((a) => a.rules.runner === true)) {
      if (SHELLS.has(programName(arg))) problems.push(`${where} runs "${programName(arg)}", a shell or command runner, which servers added through the API may not start; ${INSTEAD}`);
      const next = launcherOf(arg);
      if (next !== undefined && !active.some((a) => a.rules === next)) active.push({ rules: next, name: programName(arg) });
    }
  });
  return problems;
}

function envProblems(env: Readonly<Record<string, string>>): string[] {
  return Object.entries(env).flatMap(([name, value]) => {
    const upper = name.toUpperCase();
    if (name === '' || name.includes('=') || name.includes('\0')) return [`env name ${JSON.stringify(name)} is not a valid variable name; remove it`];
    if (ENV_NAMES.has(upper) || ENV_PREFIXES.some((p) => upper.startsWith(p))) {
      return [`env ${name} changes which code the server's runtime loads and is not accepted from the API; remove it, ${INSTEAD}`];
    }
    return value.includes('\0') ? [`env ${name} contains a NUL byte; remove it`] : [];
  });
}

/**
 * Every reason the admin API must refuse this stdio server, each an actionable sentence; empty
 * when it may be registered. Arguments reach the child without a shell (the SDK's stdio
 * transport spawns directly), so shell metacharacters in them are inert; the flag rules exist
 * because launchers such as node, npx or python run code given in their own flags. Flags are
 * refused anywhere in `args`, even where they would belong to the server: such servers go in
 * config.yaml. Listing a package runner (npx, uvx) still lets an admin run any published package.
 */
export function stdioProblems(entry: StdioEntry, policy: StdioPolicy): string[] {
  if (policy.commands.length === 0) {
    return [`stdio servers come only from config.yaml: the admin API may add them only for commands listed in ${SETTING}, which is empty`];
  }
  const problems = [
    ...commandProblems(entry.command, policy),
    ...argProblems(entry.command, entry.args),
    ...envProblems(entry.env),
    ...(entry.cwd === undefined ? [] : [`cwd is not accepted from the API (the server starts in the gateway's working directory); remove it, ${INSTEAD}`]),
  ];
  return [...new Set(problems)];
}
