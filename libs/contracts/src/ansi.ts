/**
 * ANSI (ECMA-48) escape sequences as terminals read them, each in its 7-bit (`ESC …`) and its C1
 * form: CSI (`ESC [` … final byte: colours, styles, cursor moves); the command strings OSC, DCS, SOS,
 * PM and APC (`ESC ]`, `ESC P`, `ESC X`, `ESC ^`, `ESC _` … BEL or ST: titles, hyperlinks); `ESC`,
 * intermediate bytes and a final byte (`ESC ( B`, the character set `tput sgr0` restores); the other
 * two-byte escapes (`ESC 7`, `ESC 8`, `ESC c`, `ESC =`); and a sequence cut off by the end of the text.
 */
const ANSI_ESCAPES = new RegExp(
  [
    // A CSI, or one cut off by the end of the text.
    '(?:\\u001b\\[|\\u009b)[0-?]*[ -/]*(?:[@-~]|$)',
    // A command string, ended by BEL or ST, or by the end of the text.
    '(?:\\u001b[\\]PX^_]|[\\u0090\\u0098\\u009d\\u009e\\u009f])[^\\u0007\\u001b\\u009c]*(?:\\u0007|\\u001b\\\\|\\u009c|$)',
    // ESC, intermediate bytes and a final byte (or the end of the text), then the two-byte escapes.
    '\\u001b[ -/]*(?:[0-~]|$)',
  ].join('|'),
  'g',
);
// eslint-disable-next-line no-control-regex -- matching control characters is its purpose
const MAY_HOLD_AN_ESCAPE = /[\u001b\u0090\u0098\u009b\u009d\u009e\u009f]/;

/** `text` without ANSI escape sequences (a log line's colours and styles), every other character kept. */
export function stripAnsi(text: string): string {
  return MAY_HOLD_AN_ESCAPE.test(text) ? text.replace(ANSI_ESCAPES, '') : text;
}
