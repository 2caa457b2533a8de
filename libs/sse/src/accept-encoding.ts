/**
 * Whether an `Accept-Encoding` header asks for gzip (RFC 9110 §12.5.3): `gzip` or `x-gzip` with a
 * weight above 0, or else `*` with a weight above 0. A coding listed with `q=0` is refused, and a
 * missing or empty header asks for nothing.
 */
export function acceptsGzip(header: string | readonly string[] | undefined): boolean {
  if (header === undefined) return false;
  const text = typeof header === 'string' ? header : header.join(',');
  let gzip: number | undefined;
  let any: number | undefined;
  for (const item of text.split(',')) {
    const [name = '', ...params] = item.split(';');
    const coding = name.trim().toLowerCase();
    const weight = weightOf(params);
    if (coding === 'gzip' || coding === 'x-gzip') gzip = Math.max(gzip ?? 0, weight);
    else if (coding === '*') any = weight;
  }
  return (gzip ?? any ?? 0) > 0;
}

/** The `q` of a coding's parameters: 1 when absent, 0 when malformed (a weight it cannot read is no consent). */
function weightOf(params: readonly string[]): number {
  for (const param of params) {
    const [key = '', value = ''] = param.split('=');
    if (key.trim().toLowerCase() !== 'q') continue;
    const q = value.trim();
    return /^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(q) ? Number(q) : 0;
  }
  return 1;
}
