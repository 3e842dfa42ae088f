import { describe, expect, it } from 'vitest';
import {
  buildFailure,
  buildkitArgs,
  buildxArgs,
  cacheImageRef,
  cacheUse,
  commitTime,
  withDefaultLabels,
  withMaxCacheMode,
  type BuildSpec,
} from '../../src/image/builder.js';

const spec: BuildSpec = {
  context: 'app',
  file: 'app/Dockerfile',
  target: 'runtime',
  buildArgs: ['VERSION=1.2'],
  labels: ['team=web'],
  secretFiles: [{ id: 'npmrc', path: '/tmp/s/secret-0' }],
  cacheFrom: ['type=registry,ref=ghcr.io/acme/web:buildcache'],
  cacheTo: ['type=registry,ref=ghcr.io/acme/web:buildcache'],
  platforms: [],
  noCache: false,
  network: 'host',
  tags: ['ghcr.io/acme/web:abc1234', 'ghcr.io/acme/web:latest'],
};

describe('buildxArgs', () => {
  it.each([
    [
      'full spec',
      spec,
      [
        'buildx',
        'build',
        '--progress',
        'plain',
        '--file',
        'app/Dockerfile',
        '--target',
        'runtime',
        '--build-arg',
        'VERSION=1.2',
        '--label',
        'team=web',
        '--secret',
        'id=npmrc,src=/tmp/s/secret-0',
        '--network',
        'host',
        '--tag',
        'ghcr.io/acme/web:abc1234',
        '--tag',
        'ghcr.io/acme/web:latest',
        '--cache-from',
        'type=registry,ref=ghcr.io/acme/web:buildcache',
        '--cache-to',
        'type=registry,ref=ghcr.io/acme/web:buildcache,mode=max',
        '--metadata-file',
        '/tmp/m.json',
        '--push',
        '--',
        'app',
      ],
    ],
    [
      'minimal spec with platforms and no-cache',
      {
        ...spec,
        file: '',
        target: '',
        buildArgs: [],
        labels: [],
        secretFiles: [],
        cacheFrom: [],
        cacheTo: [],
        network: '',
        noCache: true,
        platforms: ['linux/amd64', 'linux/arm64'],
        tags: ['r:1'],
      },
      [
        'buildx',
        'build',
        '--progress',
        'plain',
        '--no-cache',
        '--tag',
        'r:1',
        '--platform',
        'linux/amd64,linux/arm64',
        '--metadata-file',
        '/tmp/m.json',
        '--push',
        '--',
        'app',
      ],
    ],
  ])('%s', (_name, s, argv) => {
    expect(buildxArgs(s, '/tmp/m.json')).toEqual(argv);
  });
});

describe('buildkitArgs', () => {
  it('uses image references for cache-from and inline cache for cache-to', () => {
    expect(buildkitArgs(spec, '/tmp/iid')).toEqual([
      'build',
      '--progress',
      'plain',
      '--file',
      'app/Dockerfile',
      '--target',
      'runtime',
      '--build-arg',
      'VERSION=1.2',
      '--label',
      'team=web',
      '--secret',
      'id=npmrc,src=/tmp/s/secret-0',
      '--network',
      'host',
      '--tag',
      'ghcr.io/acme/web:abc1234',
      '--tag',
      'ghcr.io/acme/web:latest',
      '--cache-from',
      'ghcr.io/acme/web:buildcache',
      '--build-arg',
      'BUILDKIT_INLINE_CACHE=1',
      '--iidfile',
      '/tmp/iid',
      '--',
      'app',
    ]);
  });
});

describe('cache options', () => {
  it.each([
    ['type=registry,ref=r:cache', 'type=registry,ref=r:cache,mode=max'],
    ['type=registry,ref=r:cache,mode=min', 'type=registry,ref=r:cache,mode=min'],
    ['type=inline', 'type=inline'],
    ['type=gha', 'type=gha,mode=max'],
    ['r:cache', 'type=registry,ref=r:cache,mode=max'],
  ])('withMaxCacheMode(%s)', (input, output) => expect(withMaxCacheMode(input)).toBe(output));
  it('cacheImageRef', () => {
    expect(cacheImageRef('type=registry,ref=r:cache')).toBe('r:cache');
    expect(cacheImageRef('r:cache')).toBe('r:cache');
  });
});

describe('withDefaultLabels', () => {
  const env = { GITHUB_REPOSITORY: 'acme/web', GITHUB_SHA: 'abc', GITHUB_SERVER_URL: 'https://github.com' };
  const now = '2026-01-01T00:00:00.000Z';
  it('leaves out created when the commit time is unknown', () => {
    expect(withDefaultLabels([], env, undefined)).toHaveLength(2);
  });
  it('adds OCI source, revision and created', () => {
    expect(withDefaultLabels([], env, now)).toEqual([
      'org.opencontainers.image.source=https://github.com/acme/web',
      'org.opencontainers.image.revision=abc',
      'org.opencontainers.image.created=2026-01-01T00:00:00.000Z',
    ]);
  });
  it("keeps the user's own value", () => {
    expect(withDefaultLabels(['org.opencontainers.image.revision=mine'], env, now)).toContain(
      'org.opencontainers.image.revision=mine',
    );
    expect(withDefaultLabels(['org.opencontainers.image.revision=mine'], env, now)).toHaveLength(3);
  });
});

describe('cacheUse', () => {
  it('counts cached build steps in plain progress', () => {
    const progress = [
      '#1 [internal] load build definition from Dockerfile',
      '#5 [build 1/3] FROM kube-ship/busybox',
      '#5 CACHED',
      '#6 [build 2/3] RUN echo hi > /out',
      '#6 CACHED',
      '#7 [stage-1 2/2] COPY --from=build /out /out',
      '#7 DONE 0.1s',
    ].join('\n');
    expect(cacheUse(progress)).toEqual({ cachedSteps: 2, totalSteps: 3 });
  });
});

describe('commitTime', () => {
  const git =
    (stdout: string, exitCode = 0) =>
    async () => ({ exitCode, stdout, stderr: '' });
  const at = (env: NodeJS.ProcessEnv, pushed?: string) => ({ env, pushed, context: '.' });
  it("prefers SOURCE_DATE_EPOCH, then the push's head commit, then git", async () => {
    const pushed = '2026-03-04T05:06:07+02:00';
    expect(await commitTime(at({ SOURCE_DATE_EPOCH: '1767225600' }, pushed), git('x'))).toBe(
      '2026-01-01T00:00:00.000Z',
    );
    expect(await commitTime(at({}, pushed), git('2026-02-03T04:05:06+01:00\n'))).toBe('2026-03-04T03:06:07.000Z');
    expect(await commitTime(at({}), git('2026-02-03T04:05:06+01:00\n'))).toBe('2026-02-03T03:05:06.000Z');
    expect(await commitTime(at({}, 'not a time'), git('2026-02-03T04:05:06+01:00\n'))).toBe('2026-02-03T03:05:06.000Z');
    expect(await commitTime(at({}), git('', 128))).toBeUndefined();
  });
});

describe('buildFailure', () => {
  const failed = (stderr: string) => ({ exitCode: 1, stdout: '', stderr });
  it.each([
    ['unexpected EOF\ncannot write /tmp/x/iid because server did not provide an image ID', true],
    ['Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?', true],
    ['error reading from server: EOF', true],
    ['write unix @->/run/docker.sock: write: broken pipe', true],
    ['#5 [2/2] RUN ./fetch\n#5 0.3 unexpected EOF\nprocess "/bin/sh -c ./fetch" did not complete successfully', false],
    ['process "/bin/sh -c make" did not complete successfully: exit code: 2', false],
  ])('%s: engine lost %s', (stderr, lost) => {
    const message = buildFailure('docker build', failed(stderr), true);
    expect(message.startsWith(`docker build failed: ${stderr.split('\n').at(-1) ?? ''}`)).toBe(true);
    expect(message.includes('the connection to the Docker engine was lost')).toBe(lost);
  });

  it('says the engine was lost when it no longer answers, whatever the build printed', () => {
    const stderr = 'cannot write /tmp/x/iid because server did not provide an image ID';
    expect(buildFailure('docker build', failed(stderr), false)).toBe(
      `docker build failed: ${stderr} (the connection to the Docker engine was lost: it was stopped or restarted during the build; run the job again once it is up)`,
    );
    expect(buildFailure('docker build', failed(stderr), true)).toBe(`docker build failed: ${stderr}`);
  });
});
