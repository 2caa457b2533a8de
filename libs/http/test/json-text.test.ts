import { HttpProblem } from '../src/problem';
import { utf8TextOf, withUtf8Spelled } from '../src/json-text';

function problemOf(run: () => unknown): { status: number; detail: string } | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    if (!(error instanceof HttpProblem)) throw error;
    return { status: error.status, detail: error.detail };
  }
}

test('UTF-8 bodies pass as they are, a byte-order mark included; a byte that is not UTF-8 is a 400', () => {
  const text = Buffer.from('\ufeff{"eventId":"é-😀"}', 'utf8');
  expect(utf8TextOf(text, 'utf-8')).toBe(text);
  for (const bad of [[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xc0, 0xaf]]) {
    expect(problemOf(() => utf8TextOf(Buffer.from([0x22, ...bad, 0x22]), 'utf-8'))).toEqual({ status: 400, detail: 'the body is not valid UTF-8' });
  }
});

test('another charset is decoded strictly to UTF-8; bytes that are not text in it are a 400, a charset that is not known a 415', () => {
  expect(utf8TextOf(Buffer.from('{"a":"é"}', 'utf16le'), 'utf-16le').toString('utf8')).toBe('{"a":"é"}');
  expect(problemOf(() => utf8TextOf(Buffer.from([0x7b, 0x00, 0x00, 0xd8]), 'utf-16le'))).toEqual({ status: 400, detail: 'the body is not valid utf-16le' });
  expect(problemOf(() => utf8TextOf(Buffer.from('{}'), 'utf-32'))).toEqual({ status: 415, detail: 'unsupported charset "utf-32"' });
});

test('charset=utf8 is spelled utf-8, in any case and quoted; nothing else changes', () => {
  expect(withUtf8Spelled('application/json; charset=utf8')).toBe('application/json; charset=utf-8');
  expect(withUtf8Spelled('application/json;charset="UTF8"')).toBe('application/json;charset="utf-8"');
  expect(withUtf8Spelled('application/json; charset=utf8; x=1')).toBe('application/json; charset=utf-8; x=1');
  for (const same of ['application/json', 'application/json; charset=utf-8', 'application/json; charset=utf80', 'application/json; x=utf8', 'text/utf8']) {
    expect(withUtf8Spelled(same)).toBe(same);
  }
});
