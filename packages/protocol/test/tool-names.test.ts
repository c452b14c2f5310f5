import { describe, expect, it } from 'vitest';
import { exposeServerTools, exposeToolName, isValidServerName, MAX_EXPOSED_TOOL_NAME, serverOfToolName } from '../src/index.js';

describe('exposed tool names', () => {
  it('prefixes short names with the server and separator', () => {
    expect(exposeToolName('github', 'create_issue', '-')).toBe('github-create_issue');
    expect(exposeToolName('gh', 'list', '__')).toBe('gh__list');
  });

  it('shortens long names to 64 characters, deterministically', () => {
    const tool = 'a_tool_with_a_deliberately_very_long_name_that_exceeds_the_sixty_four_character_limit';
    const name = exposeToolName('fixture', tool, '-');
    expect(name.length).toBeLessThanOrEqual(MAX_EXPOSED_TOOL_NAME);
    expect(name.startsWith('fixture-a_tool_with')).toBe(true);
    expect(name).toMatch(/_[0-9a-f]{8}$/);
    expect(exposeToolName('fixture', tool, '-')).toBe(name);
  });

  it('maps names with characters outside the allowed set to valid, distinct names', () => {
    const a = exposeToolName('fs', 'read/file', '-');
    const b = exposeToolName('fs', 'read file', '-');
    expect(a).toMatch(/^[A-Za-z0-9_.-]+$/);
    expect(a).not.toBe(b);
  });

  it('gives long names sharing a prefix distinct shortened names', () => {
    const head = 'x'.repeat(80);
    const names = exposeServerTools('srv', [`${head}1`, `${head}2`, `${head}3`], '-');
    expect(new Set(names.values()).size).toBe(3);
    for (const n of names.values()) expect(n.length).toBeLessThanOrEqual(64);
  });

  it('never lets a shortened name collide with a real tool name', () => {
    const long = 'y'.repeat(90);
    const shortened = exposeToolName('srv', long, '-');
    const impostor = shortened.slice('srv-'.length);
    const names = exposeServerTools('srv', [long, impostor], '-');
    expect(names.get(impostor)).toBe(`srv-${impostor}`);
    expect(names.get(long)).not.toBe(`srv-${impostor}`);
    expect(names.get(long)?.length).toBeLessThanOrEqual(64);
  });

  it('does not depend on the order tools are listed in', () => {
    const tools = ['b', 'a', 'z'.repeat(100), 'c'.repeat(70)];
    expect([...exposeServerTools('s', tools, '-')].sort()).toEqual([...exposeServerTools('s', [...tools].reverse(), '-')].sort());
  });

  it('finds the server part of an exposed name', () => {
    expect(serverOfToolName('github-create-issue', '-')).toBe('github');
    expect(serverOfToolName('noseparator', '-')).toBeUndefined();
    expect(serverOfToolName('-leading', '-')).toBeUndefined();
  });

  it('accepts only server names that make valid, unambiguous prefixes', () => {
    expect(isValidServerName('github', '-')).toBe(true);
    expect(isValidServerName('my.server_2', '-')).toBe(true);
    expect(isValidServerName('my-server', '-')).toBe(false);
    expect(isValidServerName('my-server', '__')).toBe(true);
    expect(isValidServerName('bad name', '-')).toBe(false);
    expect(isValidServerName('', '-')).toBe(false);
    expect(isValidServerName('x'.repeat(41), '-')).toBe(false);
    // "gh___x" would split as "gh" + "_x".
    expect(isValidServerName('gh_', '__')).toBe(false);
    expect(isValidServerName('gh', '__')).toBe(true);
  });
});
