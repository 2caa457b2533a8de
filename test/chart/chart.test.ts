/**
 * charts/fanout checked without a `helm` binary: values.yaml against values.schema.json (ajv),
 * every `.Values` path a template names exists in values.yaml, and every template rendered (by
 * test/support/helm-template.ts, for the Go-template subset the chart uses) with the default values
 * and with everything switched on parses as YAML into the Kubernetes objects the issue lists, wired
 * to each other (selectors, ports, probes, grace periods), with an environment the server's own config
 * schema accepts.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Ajv from 'ajv';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig, Role } from '@fanout/server';
import { ChartRenderer, RenderContext, valuesPathsIn } from '../support/helm-template';

type Json = Record<string, any>;
const ROOT = resolve(__dirname, '..', '..');
const CHART = join(ROOT, 'charts', 'fanout');
const read = (file: string) => readFileSync(file, 'utf8');

const chartYaml = parse(read(join(CHART, 'Chart.yaml'))) as Json;
const defaults = parse(read(join(CHART, 'values.yaml'))) as Json;
const schema = JSON.parse(read(join(CHART, 'values.schema.json'))) as Json;
const templates: Record<string, string> = Object.fromEntries(
  readdirSync(join(CHART, 'templates')).map((name) => [name, read(join(CHART, 'templates', name))]),
);

/** The variables loadConfig reads, from its source (as apps/server/test/deploy.test.ts does). */
const CONFIG_VARIABLES = new Set([...read(join(ROOT, 'apps/server/src/config.ts')).matchAll(/read(?:<[^(]*>)?\(\s*env,\s*'([A-Z0-9_]+)'/g)].map((m) => m[1]!));

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** Values with every optional part switched on. */
function everythingOn(): Json {
  const v = clone(defaults);
  v.ingress = { ...v.ingress, enabled: true, exposePublisher: true, annotations: { 'cert-manager.io/cluster-issuer': 'letsencrypt' }, tls: [{ secretName: 'fanout-tls', hosts: [v.ingress.host] }] };
  v.serviceMonitor = { ...v.serviceMonitor, enabled: true, labels: { release: 'prometheus' } };
  v.publisher.autoscaling.enabled = true;
  v.gateway.workers = 4;
  v.gateway.podAnnotations = { 'example.com/team': 'streaming' };
  v.gateway.podLabels = { tier: 'edge' };
  v.gateway.nodeSelector = { 'kubernetes.io/os': 'linux' };
  v.gateway.tolerations = [{ key: 'dedicated', operator: 'Equal', value: 'sse', effect: 'NoSchedule' }];
  v.gateway.topologySpreadConstraints = [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway' }];
  v.auth.jwt.jwksUrl = 'https://auth.example.com/.well-known/jwks.json';
  v.auth.jwt.issuer = 'https://auth.example.com/';
  v.auth.jwt.audience = 'fanout';
  v.config.corsOrigins = 'https://app.example.com';
  v.extraEnv = [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=768' }];
  v.imagePullSecrets = [{ name: 'registry' }];
  v.gateway.service.annotations = { 'service.beta.kubernetes.io/aws-load-balancer-type': 'nlb' };
  v.serviceAccount.annotations = { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::1:role/fanout' };
  return v;
}

const context = (values: Json): RenderContext => ({
  Values: values,
  Release: { Name: 'fo', Namespace: 'streaming', Service: 'Helm' },
  Chart: { Name: chartYaml.name, Version: chartYaml.version, AppVersion: chartYaml.appVersion },
});

function renderObjects(values: Json): { objects: Json[]; notes: string; renderer: ChartRenderer } {
  const renderer = new ChartRenderer(templates);
  const rendered = renderer.renderAll(context(values));
  const objects: Json[] = [];
  for (const [name, text] of Object.entries(rendered)) {
    if (name === 'NOTES.txt') continue;
    const docs = parseAllDocuments(text);
    for (const doc of docs) {
      if (doc.errors.length > 0) throw new Error(`${name} does not parse as YAML: ${doc.errors[0]!.message}\n${text}`);
      const object = doc.toJS() as Json | null;
      if (object === null) continue;
      expect({ template: name, apiVersion: typeof object.apiVersion, kind: typeof object.kind, name: typeof object.metadata?.name }).toEqual({
        template: name,
        apiVersion: 'string',
        kind: 'string',
        name: 'string',
      });
      objects.push({ ...object, template: name });
    }
  }
  return { objects, notes: rendered['NOTES.txt']!, renderer };
}

function hasPath(values: Json, path: string): boolean {
  let v: any = values;
  for (const key of path.split('.')) {
    if (v === null || typeof v !== 'object' || !Object.prototype.hasOwnProperty.call(v, key)) return false;
    v = v[key];
  }
  return true;
}

const find = (objects: Json[], kind: string, name: string): Json => {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} among ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found;
};
const matches = (selector: Json, labels: Json) => Object.entries(selector).every(([k, v]) => labels[k] === v);

describe('charts/fanout', () => {
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate = ajv.compile(schema);

  it('is a Helm v2 chart named fanout', () => {
    expect(chartYaml).toMatchObject({ apiVersion: 'v2', name: 'fanout', type: 'application', version: expect.any(String), appVersion: expect.any(String) });
  });

  it('values.yaml is valid against values.schema.json, and the schema refuses wrong values', () => {
    expect({ valid: validate(defaults), errors: validate.errors ?? [] }).toEqual({ valid: true, errors: [] });
    expect({ valid: validate(everythingOn()), errors: validate.errors ?? [] }).toEqual({ valid: true, errors: [] });
    const wrong: [string, (v: Json) => void][] = [
      ['a typo in a key', (v) => (v.gateway.replicas = 3)],
      ['no workers', (v) => (v.gateway.workers = 0)],
      ['a port out of range', (v) => (v.publisher.port = 70000)],
      ['a negative shutdown grace', (v) => (v.config.shutdownGraceMs = -1)],
      ['an unknown log level', (v) => (v.config.logLevel = 'verbose')],
      ['no Redis Secret', (v) => (v.redis.existingSecret = '')],
      ['neither a JWT Secret nor a JWKS URL', (v) => (v.auth.jwt.existingSecret = '')],
      ['a JWKS URL that is no URL', (v) => (v.auth.jwt.jwksUrl = 'jwks.json')],
      ['a string where a number goes', (v) => (v.config.historyMaxLen = '10000')],
    ];
    for (const [what, change] of wrong) {
      const v = clone(defaults);
      change(v);
      expect({ what, valid: validate(v) }).toEqual({ what, valid: false });
    }
  });

  it('every .Values path a template names exists in values.yaml', () => {
    const missing: string[] = [];
    for (const [name, src] of Object.entries(templates)) {
      for (const path of valuesPathsIn(src)) if (!hasPath(defaults, path)) missing.push(`${name}: .Values.${path}`);
    }
    expect(missing).toEqual([]);
    // And what rendering looked up (both renders), in case a path is built another way.
    for (const values of [defaults, everythingOn()]) {
      const { renderer } = renderObjects(values);
      expect([...renderer.valuesLookups].filter((path) => path !== '' && !hasPath(defaults, path))).toEqual([]);
    }
  });

  describe.each([
    ['the default values', () => defaults],
    ['everything switched on', everythingOn],
  ])('rendered with %s', (label, valuesOf) => {
    const values = valuesOf();
    const { objects, notes } = renderObjects(values);
    const full = 'fo-fanout';

    it('parses into the expected objects', () => {
      const kinds = objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
      const expected = [
        `Deployment/${full}-gateway`,
        `Deployment/${full}-publisher`,
        `Service/${full}-gateway`,
        `Service/${full}-publisher`,
        `HorizontalPodAutoscaler/${full}-gateway`,
        `PodDisruptionBudget/${full}-gateway`,
        `PodDisruptionBudget/${full}-publisher`,
        `ServiceAccount/${full}`,
      ];
      if (label === 'everything switched on') expected.push(`HorizontalPodAutoscaler/${full}-publisher`, `Ingress/${full}`, `ServiceMonitor/${full}`);
      expect(kinds).toEqual(expected.sort());
      for (const o of objects) expect(o.metadata.labels).toMatchObject({ 'app.kubernetes.io/name': 'fanout', 'app.kubernetes.io/instance': 'fo' });
    });

    it.each(['gateway', 'publisher'] as Role[])('the %s Deployment: probes, preStop, grace period above the drain, env accepted by loadConfig, Service and PDB select its pods', (role) => {
      const deployment = find(objects, 'Deployment', `${full}-${role}`);
      const pod = deployment.spec.template;
      expect(matches(deployment.spec.selector.matchLabels, pod.metadata.labels)).toBe(true);
      expect(pod.metadata.labels['app.kubernetes.io/component']).toBe(role);
      const [container, ...others] = pod.spec.containers as Json[];
      expect(others).toEqual([]);
      expect(container!.args).toEqual([role]);
      expect(container!.image).toBe(`${values.image.repository}:${chartYaml.appVersion}`);
      const port = container!.ports.find((p: Json) => p.name === 'http');
      expect(port.containerPort).toBe(values[role].port);
      expect(container!.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
      expect(container!.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
      expect(container!.lifecycle.preStop.exec.command).toEqual(['sleep', String(values[role].preStopSleepSeconds)]);
      expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
      if (values[role].autoscaling.enabled) expect(deployment.spec.replicas).toBeUndefined();
      else expect(deployment.spec.replicas).toBe(values[role].replicaCount);

      // The environment: only variables the server's config knows, Redis and the JWT secret from Secrets.
      const env = container!.env as Json[];
      const names = env.map((e) => e.name);
      expect(names.filter((n) => !CONFIG_VARIABLES.has(n) && n !== 'NODE_OPTIONS')).toEqual([]);
      expect(new Set(names).size).toBe(names.length);
      const redis = env.find((e) => e.name === 'REDIS_URL')!;
      expect(redis.valueFrom.secretKeyRef).toEqual({ name: values.redis.existingSecret, key: values.redis.secretKey });
      const jwt = env.find((e) => e.name === 'FANOUT_JWT_SECRET')!;
      expect(jwt.valueFrom.secretKeyRef).toEqual({ name: values.auth.jwt.existingSecret, key: values.auth.jwt.secretKey });
      for (const redisUrl of ['redis://:pw@redis-master:6379/0', 'redis+cluster://:pw@redis-0.redis:6379,redis-1.redis:6379']) {
        const plain: Record<string, string> = {};
        for (const e of env) {
          if (e.name === 'NODE_OPTIONS') continue;
          if (e.valueFrom) plain[e.name] = e.name === 'REDIS_URL' ? redisUrl : 'secret-from-a-secret';
          else {
            expect({ name: e.name, type: typeof e.value }).toEqual({ name: e.name, type: 'string' });
            plain[e.name] = e.value;
          }
        }
        const config = loadConfig(role, plain);
        expect(config).toMatchObject({ port: values[role].port, host: '0.0.0.0', workers: values[role].workers, shutdownGraceMs: values.config.shutdownGraceMs });
        expect(config.auth.mode).toBe('jwt');
        expect(config.redisUrl).toBe(redisUrl);
      }

      // The kubelet waits longer than preStop plus the drain before it kills.
      const graceSeconds = pod.spec.terminationGracePeriodSeconds as number;
      expect(graceSeconds * 1000).toBeGreaterThan(values[role].preStopSleepSeconds * 1000 + values.config.shutdownGraceMs);

      const service = find(objects, 'Service', `${full}-${role}`);
      expect(matches(service.spec.selector, pod.metadata.labels)).toBe(true);
      expect(service.spec.ports).toEqual([{ name: 'http', port: values[role].service.port, targetPort: 'http', protocol: 'TCP' }]);
      const pdb = find(objects, 'PodDisruptionBudget', `${full}-${role}`);
      expect(matches(pdb.spec.selector.matchLabels, pod.metadata.labels)).toBe(true);
      // The other role's Service does not select these pods.
      const other = find(objects, 'Service', `${full}-${role === 'gateway' ? 'publisher' : 'gateway'}`);
      expect(matches(other.spec.selector, pod.metadata.labels)).toBe(false);

      if (values[role].autoscaling.enabled) {
        const hpa = find(objects, 'HorizontalPodAutoscaler', `${full}-${role}`);
        expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
        expect(hpa.spec.minReplicas).toBeLessThanOrEqual(hpa.spec.maxReplicas);
      }
    });

    if (label === 'everything switched on') {
      it('the Ingress is set up for SSE and routes streams to the gateways, publishing to the publishers', () => {
        const ingress = find(objects, 'Ingress', full);
        expect(ingress.metadata.annotations).toMatchObject({
          'nginx.ingress.kubernetes.io/proxy-buffering': 'off',
          'nginx.ingress.kubernetes.io/proxy-read-timeout': String(values.ingress.streamTimeoutSeconds),
          'nginx.ingress.kubernetes.io/proxy-send-timeout': String(values.ingress.streamTimeoutSeconds),
          'cert-manager.io/cluster-issuer': 'letsencrypt',
        });
        // Heartbeats come well before nginx would time a quiet stream out.
        expect(values.ingress.streamTimeoutSeconds * 1000).toBeGreaterThan(2 * values.config.heartbeatMs);
        expect(ingress.spec.tls).toEqual(values.ingress.tls);
        const paths = ingress.spec.rules[0].http.paths.map((p: Json) => [p.path, p.backend.service.name, p.backend.service.port.name]);
        expect(paths).toEqual([
          ['/api/v1/events', `${full}-publisher`, 'http'],
          ['/', `${full}-gateway`, 'http'],
        ]);
      });

      it('the ServiceMonitor scrapes /metrics of both Services', () => {
        const monitor = find(objects, 'ServiceMonitor', full);
        expect(monitor.metadata.labels.release).toBe('prometheus');
        for (const role of ['gateway', 'publisher']) {
          expect(matches(monitor.spec.selector.matchLabels, find(objects, 'Service', `${full}-${role}`).metadata.labels)).toBe(true);
        }
        expect(monitor.spec.endpoints).toEqual([{ port: 'http', path: '/metrics', interval: values.serviceMonitor.interval, scrapeTimeout: values.serviceMonitor.scrapeTimeout }]);
      });
    }

    it('NOTES.txt renders and names the Secrets to create', () => {
      expect(notes).toContain(`create secret generic ${values.redis.existingSecret}`);
      expect(notes).toContain(`create secret generic ${values.auth.jwt.existingSecret}`);
      expect(notes).not.toMatch(/<no value>|\{\{/);
    });
  });
});

describe('the Go-template subset renderer (test/support/helm-template.ts)', () => {
  const render = (src: string, values: Json = {}): string =>
    new ChartRenderer({ 'h.tpl': '{{- define "x" -}}[{{ .a }}]{{- end -}}', 't.yaml': src }).renderAll({
      Values: values,
      Release: { Name: 'r', Namespace: 'n', Service: 'Helm' },
      Chart: { Name: 'c', Version: '1', AppVersion: '2' },
    })['t.yaml']!;

  it('renders the constructs the chart uses as Go templates do', () => {
    expect(render('a {{- " b " -}} c')).toBe('a b c');
    expect(render('{{ if .Values.a }}A{{ else if .Values.b }}B{{ else }}C{{ end }}', { b: 1 })).toBe('B');
    expect(render('{{ if .Values.a }}A{{ else if .Values.b }}B{{ else }}C{{ end }}', {})).toBe('C');
    expect(render('{{ with .Values.m }}{{ .k }}{{ else }}none{{ end }}', { m: { k: 'v' } })).toBe('v');
    expect(render('{{ with .Values.m }}{{ .k }}{{ else }}none{{ end }}', { m: {} })).toBe('none');
    expect(render('{{ range $k, $v := .Values.m }}{{ $k }}={{ $v }};{{ end }}', { m: { b: 2, a: 1 } })).toBe('a=1;b=2;');
    expect(render('{{ range .Values.l }}{{ . }},{{ end }}', { l: [1, 2] })).toBe('1,2,');
    expect(render('{{ $n := default "d" .Values.x }}{{ $n | quote }}')).toBe('"d"');
    expect(render('{{ include "x" .Values }}', { a: 7 })).toBe('[7]');
    expect(render('{{ add 1 (div (add 10000 999) 1000) 10 }}')).toBe('21');
    expect(render('k:{{- toYaml .Values.m | nindent 2 }}', { m: { a: [1] } })).toBe('k:\n  a:\n    - 1');
    expect(render('{{ printf "%s-%s" .Chart.Name .Release.Name | trunc 3 | trimSuffix "-" }}')).toBe('c-r');
    expect(() => render('{{ lookup "v1" "Secret" "n" "s" }}')).toThrow(/outside the supported subset/);
  });
});
