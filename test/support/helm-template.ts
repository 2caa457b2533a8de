/**
 * A small renderer for the part of Go's text/template and Helm's functions that charts/fanout uses,
 * so the chart can be rendered and checked without a `helm` binary: actions with pipelines, `if` /
 * `else if` / `else`, `with`, `range` (lists and maps, with `$i, $v :=`), variables (`$x :=`, `$`),
 * `define` / `include` / `template`, whitespace trimming (`{{-`, `-}}`), comments, and the functions
 * listed in FUNCTIONS. Anything else is an error, so a template that strays from the subset fails the
 * test instead of rendering wrong.
 */
import { stringify } from 'yaml';

type Value = any;

interface TextNode {
  kind: 'text';
  text: string;
}
interface ActionNode {
  kind: 'action';
  pipe: Pipeline;
}
interface IfNode {
  kind: 'if' | 'with';
  pipe: Pipeline;
  then: Node[];
  else: Node[];
}
interface RangeNode {
  kind: 'range';
  pipe: Pipeline;
  body: Node[];
  else: Node[];
}
interface TemplateNode {
  kind: 'template';
  name: string;
  pipe?: Pipeline;
}
type Node = TextNode | ActionNode | IfNode | RangeNode | TemplateNode;

/** `$a, $b :=` or `$a =` declarations, then commands joined by `|`. */
interface Pipeline {
  decl: string[];
  assign: boolean;
  commands: Arg[][];
}

type Arg =
  | { kind: 'field'; base: 'dot' | string; path: string[] }
  | { kind: 'ident'; name: string }
  | { kind: 'literal'; value: Value }
  | { kind: 'pipe'; pipe: Pipeline; path: string[] };

// ---------------------------------------------------------------------------------------------
// Lexing and parsing

function tokenizeAction(src: string): string[] {
  const tokens: string[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"' || c === '`') {
      let j = i + 1;
      while (j < src.length && src[j] !== c) j += src[j] === '\\' && c === '"' ? 2 : 1;
      tokens.push(src.slice(i, j + 1));
      i = j + 1;
    } else if (c === ')' && src[i + 1] === '.') {
      throw new Error('template: (…).field is outside the supported subset');
    } else if (c === '(' || c === ')' || c === '|' || c === ',') {
      tokens.push(c);
      i++;
    } else if (src.startsWith(':=', i)) {
      tokens.push(':=');
      i += 2;
    } else if (c === '=') {
      tokens.push('=');
      i++;
    } else {
      let j = i;
      while (j < src.length && !/[\s()|,]/.test(src[j]!) && !src.startsWith(':=', j)) j++;
      tokens.push(src.slice(i, j));
      i = j;
    }
  }
  return tokens;
}

function parsePipeline(tokens: string[]): Pipeline {
  let pos = 0;
  const decl: string[] = [];
  let assign = false;
  // Declarations: $x := …, $i, $v := …
  const assignAt = tokens.findIndex((t) => t === ':=' || t === '=');
  if (assignAt > 0 && tokens.slice(0, assignAt).every((t) => t === ',' || t.startsWith('$'))) {
    decl.push(...tokens.slice(0, assignAt).filter((t) => t !== ','));
    assign = tokens[assignAt] === '=';
    pos = assignAt + 1;
  }
  const parseArgs = (end: (t: string) => boolean): Pipeline['commands'] => {
    const commands: Arg[][] = [[]];
    while (pos < tokens.length && !end(tokens[pos]!)) {
      const t = tokens[pos++]!;
      if (t === '|') {
        commands.push([]);
        continue;
      }
      commands[commands.length - 1]!.push(parseArg(t));
    }
    return commands;
  };
  const parseArg = (t: string): Arg => {
    if (t === '(') {
      const inner: Pipeline = { decl: [], assign: false, commands: parseArgs((x) => x === ')') };
      pos++; // )
      return { kind: 'pipe', pipe: inner, path: [] };
    }
    if (t.startsWith('"')) return { kind: 'literal', value: JSON.parse(t) };
    if (t.startsWith('`')) return { kind: 'literal', value: t.slice(1, -1) };
    if (/^-?\d+(\.\d+)?$/.test(t)) return { kind: 'literal', value: Number(t) };
    if (t === 'true' || t === 'false') return { kind: 'literal', value: t === 'true' };
    if (t === 'nil') return { kind: 'literal', value: null };
    if (t === '.') return { kind: 'field', base: 'dot', path: [] };
    if (t.startsWith('.')) return { kind: 'field', base: 'dot', path: t.slice(1).split('.') };
    if (t.startsWith('$')) {
      const [name, ...path] = t.split('.');
      return { kind: 'field', base: name!, path };
    }
    if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(t)) return { kind: 'ident', name: t };
    throw new Error(`template: unexpected token ${JSON.stringify(t)}`);
  };
  const commands = parseArgs(() => false);
  if (commands.some((c) => c.length === 0)) throw new Error(`template: empty command in ${tokens.join(' ')}`);
  return { decl, assign, commands };
}

interface RawAction {
  kind: 'rawAction';
  body: string;
}

function lex(src: string, file: string): (TextNode | RawAction)[] {
  const out: (TextNode | RawAction)[] = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    if (open < 0) {
      out.push({ kind: 'text', text: src.slice(i) });
      break;
    }
    let text = src.slice(i, open);
    const trimLeft = src.startsWith('{{- ', open) || src.startsWith('{{-\n', open);
    const close = src.indexOf('}}', open);
    if (close < 0) throw new Error(`${file}: unclosed action`);
    const trimRight = src[close - 1] === '-' && /\s/.test(src[close - 2] ?? '');
    const body = src.slice(open + 2 + (trimLeft ? 1 : 0), trimRight ? close - 1 : close).trim();
    if (trimLeft) text = text.replace(/\s+$/, '');
    out.push({ kind: 'text', text });
    i = close + 2;
    if (trimRight) while (i < src.length && /\s/.test(src[i]!)) i++;
    if (body.startsWith('/*')) {
      if (!body.endsWith('*/')) throw new Error(`${file}: unclosed comment`);
      continue;
    }
    out.push({ kind: 'rawAction', body });
  }
  return out.filter((n) => n.kind !== 'text' || n.text !== '');
}

function parse(src: string, file: string, defines: Map<string, Node[]>): Node[] {
  const items = lex(src, file);
  let pos = 0;
  const block = (terminators: string[]): { nodes: Node[]; end: string } => {
    const nodes: Node[] = [];
    while (pos < items.length) {
      const item = items[pos++]!;
      if (item.kind === 'text') {
        nodes.push(item);
        continue;
      }
      const word = item.body.split(/\s+/)[0]!;
      const rest = item.body.slice(word.length).trim();
      if (terminators.includes(word)) {
        pos--;
        return { nodes, end: word };
      }
      switch (word) {
        case 'if':
        case 'with': {
          nodes.push(conditional(word, rest));
          break;
        }
        case 'range': {
          const pipe = parsePipeline(tokenizeAction(rest));
          const body = block(['else', 'end']);
          let otherwise: Node[] = [];
          if (items[pos]!.kind === 'rawAction' && (items[pos] as RawAction).body === 'else') {
            pos++;
            otherwise = block(['end']).nodes;
          }
          pos++; // end
          nodes.push({ kind: 'range', pipe, body: body.nodes, else: otherwise });
          break;
        }
        case 'define': {
          const name = JSON.parse(rest) as string;
          const body = block(['end']);
          pos++;
          defines.set(name, body.nodes);
          break;
        }
        case 'template': {
          const tokens = tokenizeAction(rest);
          const name = JSON.parse(tokens[0]!) as string;
          nodes.push({ kind: 'template', name, pipe: tokens.length > 1 ? parsePipeline(tokens.slice(1)) : undefined });
          break;
        }
        case 'else':
        case 'end':
          throw new Error(`${file}: unexpected {{${item.body}}}`);
        default:
          if (['block', 'break', 'continue'].includes(word)) throw new Error(`${file}: {{${word}}} is outside the supported subset`);
          nodes.push({ kind: 'action', pipe: parsePipeline(tokenizeAction(item.body)) });
      }
    }
    if (terminators.length > 0) throw new Error(`${file}: missing {{end}}`);
    return { nodes, end: '' };
  };
  const conditional = (kind: 'if' | 'with', condition: string): IfNode => {
    const pipe = parsePipeline(tokenizeAction(condition));
    const then = block(['else', 'end']);
    const node: IfNode = { kind, pipe, then: then.nodes, else: [] };
    const item = items[pos++] as RawAction; // else… or end
    if (item.body === 'end') return node;
    const elseRest = item.body.slice(4).trim();
    if (elseRest.startsWith('if ')) {
      node.else = [conditional('if', elseRest.slice(3))];
      return node; // the nested conditional consumed the shared {{end}}
    }
    node.else = block(['end']).nodes;
    pos++;
    return node;
  };
  return block([]).nodes;
}

// ---------------------------------------------------------------------------------------------
// Evaluation

function truthy(v: Value): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

function print(v: Value): string {
  if (v === null || v === undefined) return '<no value>';
  if (typeof v === 'object') throw new Error(`template: printing an object (${JSON.stringify(v).slice(0, 80)}); use toYaml`);
  return String(v);
}

function indentLines(n: number, s: string): string {
  const pad = ' '.repeat(n);
  return String(s)
    .split('\n')
    .map((line) => pad + line)
    .join('\n');
}

function goPrintf(format: string, ...args: Value[]): string {
  let i = 0;
  return format.replace(/%[-+ 0#]*\d*(?:\.\d+)?([sdvqf%])/g, (_m, verb: string) => {
    if (verb === '%') return '%';
    const a = args[i++];
    if (verb === 'd') return String(Math.trunc(Number(a)));
    if (verb === 'q') return JSON.stringify(String(a));
    return String(a);
  });
}

function toInt(v: Value): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`template: ${JSON.stringify(v)} is not a number`);
  return Math.trunc(n);
}

export interface RenderContext {
  Values: Value;
  Release: { Name: string; Namespace: string; Service: string };
  Chart: { Name: string; Version: string; AppVersion: string };
}

export class ChartRenderer {
  private readonly defines = new Map<string, Node[]>();
  /** Every `.Values` path looked up while rendering (a path that is missing resolves to undefined). */
  readonly valuesLookups = new Set<string>();

  constructor(private readonly files: Record<string, string>) {
    for (const [name, src] of Object.entries(files)) if (name.endsWith('.tpl')) parse(src, name, this.defines);
  }

  /** Renders every template (not helpers nor NOTES.txt): file name → text. */
  renderAll(ctx: RenderContext): Record<string, string> {
    const out: Record<string, string> = {};
    for (const name of Object.keys(this.files)) {
      if (name.endsWith('.tpl')) continue;
      out[name] = this.render(name, ctx);
    }
    return out;
  }

  render(name: string, ctx: RenderContext): string {
    const nodes = parse(this.files[name]!, name, this.defines);
    this.root = ctx;
    return this.exec(nodes, ctx, new Map([['$', ctx]]));
  }

  private readonly functions: Record<string, (...args: Value[]) => Value> = {
    include: (name: string, dot: Value) => this.include(name, dot),
    toYaml: (v: Value) => (v === null || v === undefined ? '' : stringify(v, { lineWidth: 0 }).replace(/\n$/, '')),
    nindent: (n: number, s: string) => `\n${indentLines(n, s)}`,
    indent: (n: number, s: string) => indentLines(n, s),
    quote: (...v: Value[]) => v.map((x) => JSON.stringify(x === null || x === undefined ? '' : String(x))).join(' '),
    squote: (v: Value) => `'${String(v ?? '')}'`,
    default: (d: Value, v?: Value) => (truthy(v) ? v : d),
    required: (message: string, v: Value) => {
      if (v === null || v === undefined || v === '') throw new Error(message);
      return v;
    },
    printf: goPrintf,
    trunc: (n: number, s: string) => String(s).slice(0, n),
    trimSuffix: (suffix: string, s: string) => (String(s).endsWith(suffix) ? String(s).slice(0, -suffix.length) : String(s)),
    replace: (from: string, to: string, s: string) => String(s).split(from).join(to),
    lower: (s: string) => String(s).toLowerCase(),
    contains: (part: string, s: string) => String(s).includes(part),
    toString: (v: Value) => String(v),
    int: toInt,
    add: (...n: Value[]) => n.reduce((a: number, b) => a + toInt(b), 0),
    sub: (a: Value, b: Value) => toInt(a) - toInt(b),
    mul: (...n: Value[]) => n.reduce((a: number, b) => a * toInt(b), 1),
    div: (a: Value, b: Value) => Math.trunc(toInt(a) / toInt(b)),
    max: (...n: Value[]) => Math.max(...n.map(toInt)),
    eq: (a: Value, ...b: Value[]) => b.some((x) => x === a),
    ne: (a: Value, b: Value) => a !== b,
    lt: (a: Value, b: Value) => a < b,
    le: (a: Value, b: Value) => a <= b,
    gt: (a: Value, b: Value) => a > b,
    ge: (a: Value, b: Value) => a >= b,
    not: (v: Value) => !truthy(v),
    and: (...v: Value[]) => v.find((x) => !truthy(x)) ?? v[v.length - 1],
    or: (...v: Value[]) => v.find((x) => truthy(x)) ?? v[v.length - 1],
    empty: (v: Value) => !truthy(v),
    hasKey: (m: Value, k: string) => m !== null && typeof m === 'object' && k in m,
    ternary: (a: Value, b: Value, c: Value) => (truthy(c) ? a : b),
    dict: (...kv: Value[]) => Object.fromEntries(Array.from({ length: kv.length / 2 }, (_, i) => [kv[2 * i], kv[2 * i + 1]])),
    list: (...v: Value[]) => v,
    merge: (...maps: Value[]) => Object.assign({}, ...[...maps].reverse()),
  };

  private include(name: string, dot: Value): string {
    const nodes = this.defines.get(name);
    if (!nodes) throw new Error(`template: no template "${name}"`);
    return this.exec(nodes, dot, new Map([['$', dot]]));
  }

  /** The context the template being rendered started from (its `.Values` lookups are recorded). */
  private root: Value;

  private exec(nodes: Node[], dot: Value, vars: Map<string, Value>): string {
    let out = '';
    for (const node of nodes) {
      switch (node.kind) {
        case 'text':
          out += node.text;
          break;
        case 'action': {
          const v = this.pipeline(node.pipe, dot, vars);
          if (node.pipe.decl.length === 0) out += print(v);
          break;
        }
        case 'if':
        case 'with': {
          const v = this.pipeline(node.pipe, dot, vars);
          const scope = new Map(vars);
          if (truthy(v)) out += this.exec(node.then, node.kind === 'with' ? v : dot, scope);
          else out += this.exec(node.else, dot, scope);
          break;
        }
        case 'range': {
          const scope = new Map(vars);
          const decl = node.pipe.decl;
          const v = this.pipeline({ ...node.pipe, decl: [] }, dot, vars);
          const entries: [Value, Value][] = Array.isArray(v)
            ? v.map((x, i) => [i, x])
            : v && typeof v === 'object'
              ? Object.keys(v)
                  .sort()
                  .map((k) => [k, v[k]])
              : [];
          if (entries.length === 0) out += this.exec(node.else, dot, scope);
          for (const [k, x] of entries) {
            if (decl.length === 1) scope.set(decl[0]!, x);
            if (decl.length === 2) {
              scope.set(decl[0]!, k);
              scope.set(decl[1]!, x);
            }
            out += this.exec(node.body, x, scope);
          }
          break;
        }
        case 'template':
          out += this.include(node.name, node.pipe ? this.pipeline(node.pipe, dot, vars) : undefined);
          break;
      }
    }
    return out;
  }

  private pipeline(pipe: Pipeline, dot: Value, vars: Map<string, Value>): Value {
    let result: Value;
    pipe.commands.forEach((command, i) => {
      result = this.command(command, dot, vars, i === 0 ? undefined : { value: result });
    });
    if (pipe.decl.length === 1) {
      if (pipe.assign && !vars.has(pipe.decl[0]!)) throw new Error(`template: ${pipe.decl[0]} is not declared`);
      vars.set(pipe.decl[0]!, result);
    }
    return result;
  }

  private command(args: Arg[], dot: Value, vars: Map<string, Value>, piped?: { value: Value }): Value {
    const [head, ...rest] = args;
    if (head!.kind === 'ident') {
      const fn = this.functions[head!.name];
      if (!fn) throw new Error(`template: function "${head!.name}" is outside the supported subset`);
      const values = rest.map((a) => this.arg(a, dot, vars));
      if (piped) values.push(piped.value);
      return fn(...values);
    }
    if (rest.length > 0 || piped) throw new Error('template: only a function takes arguments');
    return this.arg(head!, dot, vars);
  }

  private arg(a: Arg, dot: Value, vars: Map<string, Value>): Value {
    switch (a.kind) {
      case 'literal':
        return a.value;
      case 'ident': {
        const fn = this.functions[a.name];
        if (!fn) throw new Error(`template: function "${a.name}" is outside the supported subset`);
        return fn();
      }
      case 'pipe':
        return this.walk(this.pipeline(a.pipe, dot, vars), a.path, undefined);
      case 'field': {
        let base: Value;
        if (a.base === 'dot') base = dot;
        else {
          if (!vars.has(a.base)) throw new Error(`template: undefined variable ${a.base}`);
          base = vars.get(a.base);
        }
        const rooted = base === this.root;
        return this.walk(base, a.path, rooted ? '' : undefined);
      }
    }
  }

  /** Walks a field chain; records `.Values…` lookups made from the root. */
  private walk(base: Value, path: string[], fromRoot: string | undefined): Value {
    let v = base;
    if (fromRoot !== undefined && path[0] === 'Values') this.valuesLookups.add(path.slice(1).join('.'));
    for (const key of path) {
      if (v === null || v === undefined) return undefined;
      v = v[key];
    }
    return v;
  }
}

/** Every `.Values.a.b` path written in a template (whatever branch it is in). */
export function valuesPathsIn(src: string): string[] {
  return [...src.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)].map((m) => m[1]!.slice(1));
}
