import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RETRY_TRANSITION, STATE_MACHINES, STATUS_EVENT_TYPES, STEP_MACHINE, StateMachine, TERMINAL_STATUSES } from '@fanout/contracts';

const LUA_DIR = join(__dirname, '..', 'lua');
const TABLES_PLACEHOLDER = '--@@STATE_MACHINES@@';

const luaString = (text: string): string => JSON.stringify(text);
const luaSet = (items: readonly string[]): string => `{ ${items.map((item) => `[${luaString(item)}] = true`).join(', ')} }`;

function luaMachine(machine: StateMachine): string {
  const next = Object.entries(machine.next)
    .map(([from, to]) => `[${luaString(from)}] = ${luaSet(to)}`)
    .join(', ');
  return `{ first = ${luaSet(machine.first)}, firstText = ${luaString(machine.first.join(' or '))}, next = { ${next} } }`;
}

/** The state machines of @fanout/contracts as Lua tables, so the script never restates them by hand. */
export function renderStateMachineTables(): string {
  const machines = Object.entries(STATE_MACHINES)
    .map(([kind, machine]) => `[${luaString(kind)}] = ${luaMachine(machine)}`)
    .join(',\n  ');
  return [
    `local MACHINES = {\n  ${machines}\n}`,
    `local STEP_MACHINE = ${luaMachine(STEP_MACHINE)}`,
    `local TERMINAL = ${luaSet(TERMINAL_STATUSES)}`,
    `local STATUS_TYPES = ${luaSet(STATUS_EVENT_TYPES)}`,
    `local RETRY_FROM, RETRY_TO = ${luaString(RETRY_TRANSITION.from)}, ${luaString(RETRY_TRANSITION.to)}`,
  ].join('\n');
}

export function loadLuaScript(name: 'append' | 'record-subject' | 'admit-subject' | 'release-reservation' | 'info'): string {
  const source = readFileSync(join(LUA_DIR, `${name}.lua`), 'utf8');
  return name === 'append' ? source.replace(TABLES_PLACEHOLDER, renderStateMachineTables()) : source;
}
