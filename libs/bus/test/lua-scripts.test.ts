import { expandIncludes, loadLuaScripts } from '../src/lua-scripts';

describe('the Lua scripts', () => {
  const scripts = loadLuaScripts();

  it('are named after what they do and how many keys they take', () => {
    expect(scripts.map((s) => [s.name, s.numberOfKeys]).sort()).toEqual([
      ['admit-subject', 1],
      ['append', 4],
      ['record-subject', 5],
      ['release-reservation', 1],
      ['stream-info', 2],
    ]);
  });

  it.each(loadLuaScripts().map((s) => [s.name, s] as const))('%s keeps its #!lua flags line first and has every include expanded', (_name, script) => {
    expect(script.lua).toMatch(/^#!lua( flags=[a-z-]+)?\n/);
    expect(script.lua).not.toMatch(/@include/);
    expect(script.lua.match(/^#!/gm)).toHaveLength(1);
  });

  it('expands an include once, where it is first named, and the includes it names', () => {
    const lua = expandIncludes('--- @include "stream-batch"\n--- @include "stored-frame"\nreturn 1');
    expect(lua.match(/local function storedFrame\(/g)).toHaveLength(1);
    expect(lua.indexOf('local function storedFrame(')).toBeLessThan(lua.indexOf('local function publishBatch('));
    expect(lua.trimEnd().endsWith('return 1')).toBe(true);
  });

  it('get the state machines and the refusal rules from @fanout/contracts', () => {
    const append = scripts.find((s) => s.name === 'append')!.lua;
    expect(append).toContain('local MACHINES = {');
    expect(append).toContain("local RULE = { subject_terminal = \"subject_terminal\"");
  });
});
