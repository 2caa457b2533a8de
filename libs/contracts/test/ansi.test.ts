import { stripAnsi } from '../src/ansi';

const ESC = '\u001b';

test.each<[string, string, string]>([
  ['SGR colours', `${ESC}[1;31mred${ESC}[0m plain`, 'red plain'],
  ['what tput sgr0 prints on xterm (a character set, then SGR)', `${ESC}[31mred${ESC}(B${ESC}[m after`, 'red after'],
  ['save and restore the cursor', `${ESC}7saved${ESC}8 restored`, 'saved restored'],
  ['reset, keypad modes', `${ESC}cA${ESC}=B${ESC}>C`, 'ABC'],
  ['cursor moves and erase', `${ESC}[2K${ESC}[1Gdone${ESC}[?25h`, 'done'],
  ['an OSC title ended by BEL, a hyperlink ended by ST', `${ESC}]0;title\u0007${ESC}]8;;https://x.test${ESC}\\link${ESC}]8;;${ESC}\\`, 'link'],
  ['a DCS string', `${ESC}Pq#0;2;0;0;0${ESC}\\after`, 'after'],
  ['C1 CSI and OSC', `\u009b31mred\u009b0m \u009d0;t\u009cend`, 'red end'],
  ['a CSI cut off at the end', `trail${ESC}[`, 'trail'],
  ['a CSI with parameters cut off at the end', `trail${ESC}[38;5`, 'trail'],
  ['a lone ESC at the end', `trail${ESC}`, 'trail'],
  ['an OSC cut off at the end', `trail${ESC}]0;tit`, 'trail'],
  ['no escape: every character kept, \\r and tabs too', 'a\tb\rc é€ 😀 [31m', 'a\tb\rc é€ 😀 [31m'],
])('%s', (_, text, stripped) => {
  expect(stripAnsi(text)).toBe(stripped);
});
