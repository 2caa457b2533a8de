/** TypeScript values written as Lua source, for the parts of the scripts generated from TypeScript. */

export const luaString = (text: string): string => JSON.stringify(text);

export const luaSet = (items: readonly string[]): string => `{ ${items.map((item) => `[${luaString(item)}] = true`).join(', ')} }`;
