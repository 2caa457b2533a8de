/**
 * ANSI escape sequences as terminals read them: CSI (`ESC [` … final byte: colours, styles, cursor
 * moves), OSC (`ESC ]` … BEL or `ESC \`: titles, hyperlinks) and the other two-byte escapes.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is its purpose
const ANSI_ESCAPES = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)|\u001b[@-Z\\^_]/g;

/** `text` without ANSI escape sequences (a log line's colours and styles), every other character kept. */
export function stripAnsi(text: string): string {
  return text.includes('\u001b') ? text.replace(ANSI_ESCAPES, '') : text;
}
