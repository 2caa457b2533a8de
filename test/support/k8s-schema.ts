/**
 * Validation of rendered Kubernetes objects against the Kubernetes API schemas, offline.
 *
 * `kubectl apply --dry-run=client --validate=strict` cannot do it here: it downloads the OpenAPI
 * document from a cluster's API server. The schemas come instead from the maintained npm packages
 * `kubernetes-models` (the Kubernetes OpenAPI definitions compiled into ajv validators: types,
 * required fields, enums, formats) and `@kubernetes-models/prometheus-operator` (the operator's CRDs:
 * ServiceMonitor, PrometheusRule). Kubernetes' OpenAPI does not forbid unknown fields (the API server
 * drops or warns about them; kubectl's strict mode refuses them), so, as kubectl's strict validation
 * does, unknown fields are found here too: each object is walked along the packages' TypeScript
 * declarations of the same schemas, and a key the declared type has no property (and no index
 * signature) for is an error.
 */
import { join } from 'node:path';
import * as ts from 'typescript';

type Json = Record<string, unknown>;

/** apiVersion → the module directory of its models; kinds are files in it. */
const MODULES: Record<string, string> = {
  v1: 'kubernetes-models/v1',
  'apps/v1': 'kubernetes-models/apps/v1',
  'autoscaling/v2': 'kubernetes-models/autoscaling/v2',
  'policy/v1': 'kubernetes-models/policy/v1',
  'networking.k8s.io/v1': 'kubernetes-models/networking.k8s.io/v1',
  'monitoring.coreos.com/v1': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
};

const moduleOf = (object: Json): string => {
  const dir = MODULES[String(object.apiVersion)];
  if (!dir || !/^[A-Z][A-Za-z]+$/.test(String(object.kind))) throw new Error(`no schema known for ${String(object.apiVersion)} ${String(object.kind)}`);
  return `${dir}/${String(object.kind)}`;
};

/** The schema check proper: throws the validator's message when the object breaks the schema. */
function validateWithModel(object: Json): string[] {
  const path = moduleOf(object);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Model = (require(path) as Record<string, new (data: Json) => { validate(): void }>)[String(object.kind)];
  if (!Model) throw new Error(`${path} exports no ${String(object.kind)}`);
  try {
    new Model(object).validate();
    return [];
  } catch (error) {
    return [(error as Error).message];
  }
}

let program: { checker: ts.TypeChecker; types: Map<string, ts.Type> } | undefined;

/** One TypeScript program over the declarations of every kind in `kinds`, built once. */
function declarations(kinds: string[]): { checker: ts.TypeChecker; types: Map<string, ts.Type> } {
  if (program && kinds.every((k) => program!.types.has(k))) return program;
  const all = [...new Set([...kinds, ...(program ? program.types.keys() : [])])];
  const root = join(__dirname, '..', '..');
  const file = join(root, 'test', '.build', 'k8s-declarations.ts');
  const source = all.map((k, i) => `import type { I${k.split('/').pop()!} as T${i} } from '${k}';\nexport declare const v${i}: T${i};`).join('\n');
  const host = ts.createCompilerHost({ strict: true, noEmit: true, skipLibCheck: true, types: [] });
  const readFile = host.readFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.readFile = (name) => (name === file ? source : readFile(name));
  host.fileExists = (name) => name === file || fileExists(name);
  const p = ts.createProgram([file], { strict: true, noEmit: true, skipLibCheck: true, types: [], moduleResolution: ts.ModuleResolutionKind.Node10, baseUrl: root }, host);
  const checker = p.getTypeChecker();
  const sf = p.getSourceFile(file)!;
  const problems = ts.getPreEmitDiagnostics(p, sf);
  if (problems.length > 0) throw new Error(`the schema declarations do not load: ${ts.flattenDiagnosticMessageText(problems[0]!.messageText, '\n')}`);
  const types = new Map<string, ts.Type>();
  for (const statement of sf.statements) {
    if (!ts.isVariableStatement(statement)) continue;
    const decl = statement.declarationList.declarations[0]!;
    const index = Number((decl.name as ts.Identifier).text.slice(1));
    types.set(all[index]!, checker.getTypeAtLocation(decl));
  }
  program = { checker, types };
  return program;
}

/** Keys of `value` that its declared type does not have, as JSON paths. */
function unknownFields(checker: ts.TypeChecker, value: unknown, type: ts.Type, path: string, out: string[]): void {
  if (value === null || typeof value !== 'object') return;
  const members = (type.isUnion() ? type.types : [type]).filter((t) => !(t.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Null)));
  if (Array.isArray(value)) {
    const arrayType = members.find((t) => checker.isArrayType(t));
    if (!arrayType) return; // a union with a non-object (string | number, …): the model's validator judges it
    const element = checker.getTypeArguments(arrayType as ts.TypeReference)[0]!;
    value.forEach((item, i) => unknownFields(checker, item, element, `${path}[${i}]`, out));
    return;
  }
  const objects = members.filter((t) => t.flags & ts.TypeFlags.Object && !checker.isArrayType(t));
  if (objects.length === 0) return;
  for (const [key, child] of Object.entries(value as Json)) {
    const owner = objects.find((t) => t.getProperty(key) !== undefined);
    if (owner) {
      unknownFields(checker, child, checker.getTypeOfSymbol(owner.getProperty(key)!), `${path}.${key}`, out);
      continue;
    }
    const indexed = objects.map((t) => checker.getIndexTypeOfType(t, ts.IndexKind.String)).find((t) => t !== undefined);
    if (indexed) unknownFields(checker, child, indexed, `${path}.${key}`, out);
    else out.push(`${path}.${key}`);
  }
}

/**
 * Every problem with the objects: schema violations and unknown fields, as `Kind/name: message`.
 * An object of a kind without a known schema is a problem too.
 */
export function validateKubernetesObjects(objects: Json[]): string[] {
  const problems: string[] = [];
  const { checker, types } = declarations([...new Set(objects.map(moduleOf))]);
  for (const object of objects) {
    const name = `${String(object.kind)}/${String((object.metadata as Json | undefined)?.name)}`;
    for (const message of validateWithModel(object)) problems.push(`${name}: ${message}`);
    const unknown: string[] = [];
    unknownFields(checker, object, types.get(moduleOf(object))!, '', unknown);
    for (const path of unknown) problems.push(`${name}: unknown field ${path.slice(1)}`);
  }
  return problems;
}
