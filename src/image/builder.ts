/**
 * Building and pushing the image: `docker buildx build --push` when buildx works (digest from its metadata file),
 * otherwise classic BuildKit (`DOCKER_BUILDKIT=1 docker build`, then `docker push`, digest from the registry).
 * The argv are built by pure functions, tested as tables of exact arrays.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { within } from '../lib/deadline.js';
import { lastErrorLine, type Run } from './exec.js';

export interface BuildSpec {
  context: string;
  file: string;
  target: string;
  buildArgs: string[];
  labels: string[];
  /** `id=file` pairs for --secret, written to files by the adapter. */
  secretFiles: { id: string; path: string }[];
  cacheFrom: string[];
  cacheTo: string[];
  platforms: string[];
  noCache: boolean;
  network: string;
  /** Full references `repo:tag`. */
  tags: string[];
}

export interface BuildOutput {
  builder: 'buildx' | 'buildkit';
  /** Manifest digest from the build itself (buildx), or undefined when it must be read from the registry. */
  digest: string | undefined;
  imageId: string;
  metadata: Record<string, unknown>;
  buildMs: number;
  pushMs: number;
  /** Build steps taken from cache, and all steps, as BuildKit's plain progress reports them. */
  cachedSteps: number;
  totalSteps: number;
}

export interface Builder {
  readonly kind: 'buildx' | 'buildkit';
  build(spec: BuildSpec): Promise<BuildOutput>;
}

/**
 * OCI labels from the GitHub context, unless the user set the same key. `created` is the commit's time, not the
 * build's: the same commit then builds the same image digest, and a re-run is a no-op instead of a new rollout.
 */
export function withDefaultLabels(labels: string[], env: NodeJS.ProcessEnv, created: string | undefined): string[] {
  const set = new Set(labels.map((l) => l.slice(0, l.indexOf('='))));
  const defaults: [string, string | undefined][] = [
    [
      'org.opencontainers.image.source',
      env.GITHUB_REPOSITORY ? `${env.GITHUB_SERVER_URL ?? 'https://github.com'}/${env.GITHUB_REPOSITORY}` : undefined,
    ],
    ['org.opencontainers.image.revision', env.GITHUB_SHA],
    ['org.opencontainers.image.created', created],
  ];
  const added = defaults.filter(([key, value]) => value && !set.has(key)).map(([key, value]) => `${key}=${value}`);
  return [...labels, ...added];
}

/** Where a commit's time can come from. */
export interface CommitSource {
  env: NodeJS.ProcessEnv;
  /** The push event's head commit time, as the event payload writes it. */
  pushed: string | undefined;
  /** The build context, a git checkout. */
  context: string;
}

/**
 * The commit's time in ISO 8601: SOURCE_DATE_EPOCH when set, else the push event's head commit, else
 * `git log -1` in the build context; undefined when none is known.
 */
export async function commitTime({ env, pushed, context }: CommitSource, run: Run): Promise<string | undefined> {
  if (env.SOURCE_DATE_EPOCH && /^\d+$/.test(env.SOURCE_DATE_EPOCH)) {
    return new Date(Number(env.SOURCE_DATE_EPOCH) * 1000).toISOString();
  }
  const time = pushed ? new Date(pushed) : undefined;
  if (time && !Number.isNaN(time.getTime())) return time.toISOString();
  const result = await run('git', ['-C', context, 'log', '-1', '--format=%cI', 'HEAD']);
  const logged = result.stdout.trim();
  return result.exitCode === 0 && logged !== '' ? new Date(logged).toISOString() : undefined;
}

/** A registry cache export caches only the final stage unless told `mode=max`: multi-stage builds want max. */
export function withMaxCacheMode(cacheTo: string): string {
  if (!cacheTo.includes('=')) return `type=registry,ref=${cacheTo},mode=max`;
  if (/(^|,)mode=/.test(cacheTo) || /(^|,)type=inline(,|$)/.test(cacheTo)) return cacheTo;
  return `${cacheTo},mode=max`;
}

function commonArgs(spec: BuildSpec): string[] {
  const args: string[] = [];
  if (spec.file) args.push('--file', spec.file);
  if (spec.target) args.push('--target', spec.target);
  for (const arg of spec.buildArgs) args.push('--build-arg', arg);
  for (const label of spec.labels) args.push('--label', label);
  for (const secret of spec.secretFiles) args.push('--secret', `id=${secret.id},src=${secret.path}`);
  if (spec.noCache) args.push('--no-cache');
  if (spec.network) args.push('--network', spec.network);
  for (const tag of spec.tags) args.push('--tag', tag);
  return args;
}

/** argv for `docker buildx build ... --push`, with the metadata file the digest is read from. */
export function buildxArgs(spec: BuildSpec, metadataFile: string): string[] {
  const args = ['buildx', 'build', '--progress', 'plain', ...commonArgs(spec)];
  for (const from of spec.cacheFrom) args.push('--cache-from', from);
  for (const to of spec.cacheTo) args.push('--cache-to', withMaxCacheMode(to));
  if (spec.platforms.length > 0) args.push('--platform', spec.platforms.join(','));
  // The context after `--`: a context named like a flag (`-v`) must stay a path.
  args.push('--metadata-file', metadataFile, '--push', '--', spec.context);
  return args;
}

/** The image reference in a `type=registry,ref=X` cache source (classic BuildKit takes only image references). */
export function cacheImageRef(entry: string): string {
  const ref = entry.split(',').find((part) => part.startsWith('ref='));
  return ref ? ref.slice('ref='.length) : entry;
}

/**
 * argv for classic BuildKit (`DOCKER_BUILDKIT=1 docker build`). It cannot export a separate cache, so `cache-to`
 * becomes inline cache in the pushed image, which a later `cache-from` of the same image reads.
 */
export function buildkitArgs(spec: BuildSpec, iidFile: string): string[] {
  const args = ['build', '--progress', 'plain', ...commonArgs(spec)];
  for (const from of spec.cacheFrom) args.push('--cache-from', cacheImageRef(from));
  if (spec.cacheTo.length > 0) args.push('--build-arg', 'BUILDKIT_INLINE_CACHE=1');
  args.push('--iidfile', iidFile, '--', spec.context);
  return args;
}

/** Counts `#N CACHED` steps and all numbered steps in BuildKit's plain progress output. */
export function cacheUse(progress: string): { cachedSteps: number; totalSteps: number } {
  const steps = new Set<string>();
  const cached = new Set<string>();
  for (const match of progress.matchAll(/^#(\d+) (.*)$/gm)) {
    const [, step = '', text = ''] = match;
    if (/^\[[^\]]*\d+\/\d+\]/.test(text)) steps.add(step);
    if (text.trim() === 'CACHED') cached.add(step);
  }
  return { cachedSteps: [...cached].filter((s) => steps.has(s)).length, totalSteps: steps.size };
}

/** Last lines that mean the Docker engine itself went away (stopped, restarted, crashed), not the Dockerfile. */
const ENGINE_LOST = [
  /unexpected EOF/,
  /Cannot connect to the Docker daemon/,
  /error reading from server: EOF/,
  /connection reset by peer/,
  /broken pipe/,
  /rpc error: code = Unavailable/,
];

/**
 * A failed docker command in one line: its last error line, and when the engine stopped answering (`engineAnswers`
 * false) or docker's own output (not a build step's, which BuildKit prefixes with `#N`) says the connection to it
 * was lost, what that means: the build did not fail on its own, the engine went away under it.
 */
export function buildFailure(
  what: string,
  result: { exitCode: number; stdout: string; stderr: string },
  engineAnswers: boolean,
): string {
  const own = `${result.stderr}\n${result.stdout}`.split('\n').filter((line) => !/^#\d+ /.test(line));
  const lost = !engineAnswers || own.some((line) => ENGINE_LOST.some((pattern) => pattern.test(line)));
  const hint = lost
    ? ' (the connection to the Docker engine was lost: it was stopped or restarted during the build; run the job again once it is up)'
    : '';
  return `${what} failed: ${lastErrorLine(result)}${hint}`;
}

/** How long the engine gets to answer `docker version` after a failed command. */
const ENGINE_PROBE_MS = 5000;

/** Throws the failure of a docker command, asking the engine first whether it is still there. */
async function failIfNonZero(
  result: { exitCode: number; stdout: string; stderr: string },
  what: string,
  run: Run,
): Promise<void> {
  if (result.exitCode === 0) return;
  const probe = run('docker', ['version', '--format', '{{.Server.Version}}']).then((r) => r.exitCode === 0);
  throw new Error(buildFailure(what, result, await within(ENGINE_PROBE_MS, probe, () => false)));
}

/** Detects buildx (`docker buildx version` succeeds) and returns the matching real builder. */
export async function createBuilder(run: Run, now: () => number = Date.now): Promise<Builder> {
  const buildx = (await run('docker', ['buildx', 'version'])).exitCode === 0;
  if (buildx) {
    return {
      kind: 'buildx',
      async build(spec) {
        const dir = await mkdtemp(join(tmpdir(), 'kube-ship-'));
        try {
          const metadataFile = join(dir, 'metadata.json');
          const started = now();
          const result = await run('docker', buildxArgs(spec, metadataFile), { stream: true });
          await failIfNonZero(result, 'docker buildx build', run);
          const metadata = JSON.parse(await readFile(metadataFile, 'utf8')) as Record<string, unknown>;
          const digest =
            typeof metadata['containerimage.digest'] === 'string' ? metadata['containerimage.digest'] : undefined;
          const imageId = String(metadata['containerimage.config.digest'] ?? '');
          return {
            builder: 'buildx',
            digest,
            imageId,
            metadata,
            buildMs: now() - started,
            pushMs: 0,
            ...cacheUse(result.stderr),
          };
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      },
    };
  }
  return {
    kind: 'buildkit',
    async build(spec) {
      const dir = await mkdtemp(join(tmpdir(), 'kube-ship-'));
      try {
        const iidFile = join(dir, 'iid');
        const started = now();
        const result = await run('docker', buildkitArgs(spec, iidFile), {
          stream: true,
          env: { DOCKER_BUILDKIT: '1' },
        });
        await failIfNonZero(result, 'docker build', run);
        const imageId = (await readFile(iidFile, 'utf8')).trim();
        const built = now();
        for (const tag of spec.tags) {
          await failIfNonZero(await run('docker', ['push', tag], { stream: true }), `docker push ${tag}`, run);
        }
        const metadata = { 'containerimage.config.digest': imageId, 'image.name': spec.tags.join(',') };
        return {
          builder: 'buildkit',
          digest: undefined,
          imageId,
          metadata,
          buildMs: built - started,
          pushMs: now() - built,
          ...cacheUse(result.stderr),
        };
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

/** Writes build secrets to private files (mode 600) for `--secret id=...,src=...`; returns them and a cleanup. */
export async function writeSecretFiles(
  secrets: string[],
): Promise<{ files: { id: string; path: string }[]; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(process.env.RUNNER_TEMP || tmpdir(), 'kube-ship-secrets-'));
  const files: { id: string; path: string }[] = [];
  for (const [index, line] of secrets.entries()) {
    const eq = line.indexOf('=');
    const path = join(dir, `secret-${index}`);
    await writeFile(path, line.slice(eq + 1), { mode: 0o600 });
    files.push({ id: line.slice(0, eq), path });
  }
  return { files, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
