import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_STEPS_PER_PACK_RUN, REFUSAL_RULES, RETRY_TRANSITION, STATE_MACHINES, STATUS_EVENT_TYPES, STEP_MACHINE, StateMachine, TERMINAL_STATUSES } from '@fanout/contracts';
import { activityUpdateLua } from './activity';
import { appendReplyLua } from './append-reply';
import { luaSet, luaString } from './lua-literals';
import { storedFrameLua } from './stored-frame';

/*
 * The Lua scripts, BullMQ-style: `lua/<what it does>-<number of keys>.lua`, each starting with its
 * `#!lua` flags line, and sharing parts through `--- @include "<name>"` lines. An include is
 * `lua/includes/<name>.lua`, or generated here from TypeScript, so the rules, codes and formats it
 * holds are written once. Each include is expanded once per script, where it is first named.
 */

const LUA_DIR = join(__dirname, '..', 'lua');
const INCLUDES_DIR = join(LUA_DIR, 'includes');
const SCRIPT_FILE = /^([a-z][a-z-]*)-(\d+)\.lua$/;
const INCLUDE_LINE = /^--- @include "([a-z][a-z-]*)"$/gm;
const FLAGS_LINE = /^#!lua\b/;

function luaMachine(machine: StateMachine): string {
  const next = Object.entries(machine.next)
    .map(([from, to]) => `[${luaString(from)}] = ${luaSet(to)}`)
    .join(', ');
  return `{ first = ${luaSet(machine.first)}, next = { ${next} } }`;
}

/** The state machines of @fanout/contracts, and the refusal rules it has a text for. */
function stateMachinesLua(): string {
  const machines = Object.entries(STATE_MACHINES)
    .map(([kind, machine]) => `[${luaString(kind)}] = ${luaMachine(machine)}`)
    .join(',\n    ');
  // Built at their first use, not by every script call: an append of progress or log events checks
  // no status transition.
  return [
    `local MACHINES = nil\nlocal function stateMachines()\n  MACHINES = MACHINES or {\n    ${machines}\n  }\n  return MACHINES\nend`,
    `local STEP_MACHINE = nil\nlocal function stepMachine()\n  STEP_MACHINE = STEP_MACHINE or ${luaMachine(STEP_MACHINE)}\n  return STEP_MACHINE\nend`,
    `local TERMINAL = ${luaSet(TERMINAL_STATUSES)}`,
    `local STATUS_TYPES = ${luaSet(STATUS_EVENT_TYPES)}`,
    `local RETRY_FROM, RETRY_TO = ${luaString(RETRY_TRANSITION.from)}, ${luaString(RETRY_TRANSITION.to)}`,
    `local RULE = { ${REFUSAL_RULES.map((rule) => `${rule} = ${luaString(rule)}`).join(', ')} }`,
    `local MAX_STEPS = ${MAX_STEPS_PER_PACK_RUN}`,
  ].join('\n');
}

const GENERATED_INCLUDES: Readonly<Record<string, () => string>> = {
  'state-machines': stateMachinesLua,
  'stored-frame': storedFrameLua,
  'append-reply': appendReplyLua,
  'activity-update': activityUpdateLua,
};

function includeSource(name: string): string {
  const generated = GENERATED_INCLUDES[name];
  return generated ? generated() : readFileSync(join(INCLUDES_DIR, `${name}.lua`), 'utf8').trimEnd();
}

/** `source` with each include line replaced by the include (itself expanded), or by nothing if already included. */
export function expandIncludes(source: string, included = new Set<string>()): string {
  return source.replace(INCLUDE_LINE, (_line, name: string) => {
    if (included.has(name)) return '';
    included.add(name);
    return expandIncludes(includeSource(name), included);
  });
}

export interface LuaScript {
  /** The file's name without its key count: `append` for `append-4.lua`. */
  name: string;
  numberOfKeys: number;
  lua: string;
}

export function loadLuaScripts(): LuaScript[] {
  return readdirSync(LUA_DIR).flatMap((file) => {
    const match = SCRIPT_FILE.exec(file);
    if (!match) return [];
    const lua = expandIncludes(readFileSync(join(LUA_DIR, file), 'utf8'));
    // The flags line must stay first: it is how Redis knows not to start a writing script over maxmemory.
    if (!FLAGS_LINE.test(lua)) throw new Error(`lua/${file} must begin with its #!lua flags line`);
    return [{ name: match[1]!, numberOfKeys: Number(match[2]), lua }];
  });
}
