import { describe, expect, it } from 'vitest';
import { stdioProblems, type StdioEntry } from '../src/stdio-policy.js';

const policy = { commands: ['npx', 'node', 'python3', 'uvx', 'uv', 'deno', 'perl', 'ruby', 'php', 'pnpm', 'bash', '/usr/bin/env'] };

function entry(command: string, args: readonly string[] = [], env: Record<string, string> = {}, cwd?: string): StdioEntry {
  return { command, args, env, ...(cwd === undefined ? {} : { cwd }) };
}

/** The problems of a command line, for brevity. */
function problems(command: string, ...args: string[]): string[] {
  return stdioProblems(entry(command, args), policy);
}

describe('stdioProblems', () => {
  it('accepts ordinary servers', () => {
    expect(problems('npx', '-y', '@modelcontextprotocol/server-everything')).toEqual([]);
    expect(problems('node', 'dist/server.js', '--port', '3000', '--log-level=debug')).toEqual([]);
    expect(problems('python3', '-m', 'mcp_server_fetch', '--verbose')).toEqual([]);
    expect(problems('uvx', '--from', 'mcp-server-git', 'mcp-server-git', '--repository', '.')).toEqual([]);
    expect(problems('uv', 'run', '--with', 'mcp', 'server.py')).toEqual([]);
    expect(problems('deno', 'run', '--allow-net', 'server.ts')).toEqual([]);
    expect(problems('perl', '-w', 'server.pl')).toEqual([]);
    expect(problems('node', 'server.js', '; rm -rf / $(id) `id`')).toEqual([]);
    expect(stdioProblems(entry('node', ['s.js'], { API_TOKEN: 'x', LOG_LEVEL: 'info' }), policy)).toEqual([]);
  });

  it('refuses everything when the allow-list is empty, with one problem', () => {
    expect(stdioProblems(entry('npx', ['-y', 'x'], { NODE_OPTIONS: '-r x' }), { commands: [] })).toEqual([
      'stdio servers come only from config.yaml: the admin API may add them only for commands listed in mcpbus_settings.api_stdio_commands, which is empty',
    ]);
  });

  it('wants the command exactly as listed', () => {
    const [problem, ...rest] = problems('/tmp/npx', '-y', 'x');
    expect(problem).toContain('command "/tmp/npx" is not in mcpbus_settings.api_stdio_commands');
    expect(rest).toEqual([]);
    expect(problems('NPX')).toHaveLength(1);
    expect(problems('./node')).toHaveLength(1);
    expect(problems('npx ')).toHaveLength(1);
  });

  it('refuses shells and command runners even when listed', () => {
    expect(problems('bash', 'server.sh')).toEqual([expect.stringContaining('"bash" is a shell or command runner and is never accepted from the API, even when')]);
    expect(problems('/usr/bin/env', 'node', 'server.js')).toEqual([expect.stringContaining('"env" is a shell')]);
    expect(problems('sh')).toHaveLength(2);
  });

  it.each([
    ['node', ['-e', 'require("child_process").exec("id")'], '-e'],
    ['node', ['-eprocess.exit()'], '-e'],
    ['node', ['-pe', '1'], '-p'],
    ['node', ['--eval=1'], '--eval'],
    ['node', ['--print', '1'], '--print'],
    ['node', ['-r', './x.js', 'server.js'], '-r'],
    ['node', ['--require=./x.js', 'server.js'], '--require'],
    ['node', ['--import', 'data:text/javascript,1', 's.js'], '--import'],
    ['node', ['--loader=./l.mjs', 's.js'], '--loader'],
    ['node', ['--experimental-loader', './l.mjs', 's.js'], '--experimental-loader'],
    ['node', ['--experimental_loader', './l.mjs', 's.js'], '--experimental-loader'],
    ['node', ['--inspect-brk=0.0.0.0:9229', 's.js'], '--inspect-brk'],
    ['node', ['--inspect', 's.js'], '--inspect'],
    ['node', ['-i'], '-i'],
    ['node', ['--env-file=.env', 's.js'], '--env-file'],
    ['node', ['s.js', '--interactive'], '--interactive'],
    ['deno', ['eval', 'Deno.exit()'], 'eval'],
    ['npx', ['-c', 'id'], '-c'],
    ['npx', ['-cid'], '-c'],
    ['npx', ['--call=id'], '--call'],
    ['npx', ['--cal', 'id'], '--cal'],
    ['npx', ['--node-options=--require=./x.js', 'pkg'], '--node-options'],
    ['npx', ['--shell', '/opt/myshell', 'pkg'], '--shell'],
    ['npx', ['--script-shell=/tmp/x', 'pkg'], '--script-shell'],
    ['pnpm', ['exec', '-c', 'id'], '-c'],
    ['npx', ['-y', 'node', '-e', '1'], '-e'],
    ['python3', ['-c', 'import os'], '-c'],
    ['python3', ['-Bc', 'import os'], '-c'],
    ['uvx', ['-c', 'x'], '-c'],
    ['uv', ['run', 'python', '-c', 'import os'], '-c'],
    ['perl', ['-e', 'system("id")'], '-e'],
    ['perl', ['-le', 'print 1'], '-e'],
    ['perl', ['-Mstrict;system(1)', 'x.pl'], '-M'],
    ['ruby', ['-e', 'puts 1'], '-e'],
    ['ruby', ['-rsocket', 's.rb'], '-r'],
    ['php', ['-r', 'system("id");'], '-r'],
    ['php', ['-e', 's.php'], '-e'],
  ])('%s %j is refused for %s', (command, args, flag) => {
    const found = problems(command, ...args);
    expect(found).toHaveLength(1);
    expect(found[0]).toContain(`("${flag}")`);
    expect(found[0]).toContain('remove it, or add the server to config.yaml instead');
  });

  it('does not confuse the values of other flags with refused flags', () => {
    expect(problems('python3', '-m', 'pkg.c')).toEqual([]);
    expect(problems('python3', '-mcode')).toEqual([]);
    expect(problems('perl', '-Ilib/e', 'server.pl')).toEqual([]);
    expect(problems('npx', '-y', '@scope/server', '--port', '3000')).toEqual([]);
  });

  it('refuses shells started through a runner', () => {
    expect(problems('uv', 'run', 'bash', 'server.sh')).toEqual([expect.stringContaining('argument 2 runs "bash", a shell or command runner')]);
    expect(problems('npx', '-y', 'sh')).toHaveLength(1);
    expect(problems('node', 'server.js', 'bash')).toEqual([]);
  });

  it.each(['NODE_OPTIONS', 'node_options', 'LD_PRELOAD', 'LD_LIBRARY_PATH', 'LD_AUDIT', 'DYLD_INSERT_LIBRARIES', 'BASH_ENV', 'ENV', 'PYTHONSTARTUP', 'PYTHONPATH', 'PERL5OPT', 'RUBYOPT', 'NPM_CONFIG_NODE_OPTIONS', 'npm_config_script_shell', 'Npm_Config_Registry', 'PATH'])('refuses env %s', (name) => {
    expect(stdioProblems(entry('node', ['s.js'], { [name]: 'x', SAFE: 'y' }), policy)).toEqual([
      `env ${name} changes which code the server's runtime loads and is not accepted from the API; remove it, or add the server to config.yaml instead`,
    ]);
  });

  it('refuses cwd and NUL bytes', () => {
    expect(stdioProblems(entry('node', ['s.js'], {}, '/tmp'), policy)).toEqual([expect.stringContaining('cwd is not accepted from the API')]);
    expect(problems('node', 's.js', 'a\0b')).toEqual(['argument 2 contains a NUL byte; remove it']);
    expect(stdioProblems(entry('node', ['s.js'], { TOKEN: 'a\0b' }), policy)).toEqual(['env TOKEN contains a NUL byte; remove it']);
    expect(problems('node\0')).toEqual(['command contains a NUL byte; remove it']);
  });

  it('reports every problem at once', () => {
    const found = stdioProblems(entry('/tmp/node', ['-e', '1', '--require=x'], { NODE_OPTIONS: '', LD_PRELOAD: '/x.so' }, '/'), policy);
    expect(found).toHaveLength(6);
  });
});
