import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expandIncludes, loadLuaScripts } from '../src/lua-scripts';

describe('the Lua scripts', () => {
  const scripts = loadLuaScripts();

  it('are named after what they do and how many keys they take', () => {
    expect(scripts.map((s) => [s.name, s.numberOfKeys]).sort()).toEqual([
      ['add-revocation', 3],
      ['admit-subject', 1],
      ['append', 4],
      ['append-and-record', 9],
      ['claim-archive-work', 1],
      ['finish-archive', 4],
      ['record-subject', 5],
      ['release-reservation', 1],
      ['remove-revocation', 3],
      ['step-events', 3],
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

  it("write the append, the record, the admission and its release once: the single Redis's script and the Cluster's run the same includes", () => {
    const byName = new Map(scripts.map((s) => [s.name, s.lua]));
    const uses: [string, string, string[]][] = [
      ['append-events', 'appendEvents', ['append', 'append-and-record']],
      ['record-subject', 'recordSubject', ['record-subject', 'append-and-record']],
      ['admit-subject', 'admitSubject', ['admit-subject', 'append-and-record']],
      ['release-reservation', 'releaseReservation', ['release-reservation', 'append-and-record']],
    ];
    for (const [include, fn, users] of uses) {
      for (const user of users) expect({ include, user, definitions: byName.get(user)!.split(`local function ${fn}(`).length - 1 }).toEqual({ include, user, definitions: 1 });
    }
    // The scripts themselves only read their keys and arguments, call the includes and answer.
    for (const file of ['append-4', 'record-subject-5', 'admit-subject-1', 'release-reservation-1', 'append-and-record-9']) {
      expect({ file, calls: readFileSync(join(__dirname, '..', 'lua', `${file}.lua`), 'utf8').includes('redis.call(') }).toEqual({ file, calls: false });
    }
  });

  it('get the state machines and the refusal rules from @fanout/contracts', () => {
    const append = scripts.find((s) => s.name === 'append')!.lua;
    expect(append).toContain('local function stateMachines()');
    expect(append).toContain('MACHINES = MACHINES or {');
    expect(append).toContain("local RULE = { subject_terminal = \"subject_terminal\"");
  });
});
