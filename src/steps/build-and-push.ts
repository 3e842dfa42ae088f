/**
 * The image: logged in to its registry, built and pushed (Build and push), and its digest resolved from what the
 * registry serves (Digest), which is what the cluster is given.
 */
import { commitTime, withDefaultLabels, type Builder, type BuildOutput } from '../image/builder.js';
import { lastErrorLine, type Run } from '../image/exec.js';
import type { Registry } from '../image/registry.js';
import { writeSecretFiles } from '../image/builder.js';
import { InputError } from '../lib/errors.js';
import type { Log } from '../lib/log.js';
import type { Report } from '../report/report.js';
import { formatReference, splitRepository } from '../desired/image-ref.js';
import type { Inputs } from '../desired/inputs.js';
import type { Job } from './job.js';

/** Logs in to the image's registry with `registry-username` (if set), for the build's push; the post step logs out. */
export async function login(inputs: Inputs, run: Run, job: Job, log: Log): Promise<void> {
  if (inputs['registry-username'] === '') return;
  const { host } = splitRepository(inputs.image);
  const result = await run('docker', ['login', host, '--username', inputs['registry-username'], '--password-stdin'], {
    input: inputs['registry-password'],
  });
  if (result.exitCode !== 0) {
    throw new Error(
      `docker login to ${host} failed: ${lastErrorLine(result)}; check registry-username and registry-password`,
    );
  }
  job.save('loggedIn', host);
  log.info(`Logged in to ${host} as ${inputs['registry-username']}`);
}

export interface BuildOptions {
  env: NodeJS.ProcessEnv;
  /** Finds the builder on this runner (docker buildx, else docker build with BuildKit). */
  builder: () => Promise<Builder>;
  run: Run;
  /** Tells when the pushed commit was made, for the image's `created` label. */
  job: Job;
  log: Log;
}

/** Builds and pushes every tag; secrets are written to files for the build only. */
export async function buildAndPush(
  inputs: Inputs,
  { env, builder: find, run, job, log }: BuildOptions,
): Promise<BuildOutput> {
  const builder = await find();
  log.info(`Builder: ${builder.kind === 'buildx' ? 'docker buildx' : 'docker build with BuildKit (no buildx found)'}`);
  if (builder.kind === 'buildkit') {
    if (inputs.platforms.length > 0) {
      throw new InputError(
        'platforms',
        'needs docker buildx, which is not installed; add docker/setup-buildx-action before kube-ship.',
      );
    }
    if (inputs['cache-to'].length > 0) {
      log.warning(
        'cache-to: without buildx the cache is exported inline in the pushed image; use that image in cache-from.',
      );
    }
  }
  const secrets = await writeSecretFiles(inputs.secrets);
  try {
    return await builder.build({
      context: inputs.context,
      file: inputs.file,
      target: inputs.target,
      buildArgs: inputs['build-args'],
      labels: withDefaultLabels(
        inputs.labels,
        env,
        await commitTime({ env, pushed: job.headCommitTime(), context: inputs.context }, run),
      ),
      secretFiles: secrets.files,
      cacheFrom: inputs['cache-from'],
      cacheTo: inputs['cache-to'],
      platforms: inputs.platforms,
      noCache: inputs['no-cache'],
      network: inputs.network,
      tags: inputs.tags.map((tag) => `${inputs.image}:${tag}`),
    });
  } finally {
    await secrets.cleanup();
  }
}

/** The build as the report shows it (times in tenths of a second). */
export function buildReport(output: BuildOutput): NonNullable<Report['build']> {
  return {
    builder: output.builder,
    buildSeconds: Math.round(output.buildMs / 100) / 10,
    pushSeconds: Math.round(output.pushMs / 100) / 10,
    cachedSteps: output.cachedSteps,
    totalSteps: output.totalSteps,
    imageId: output.imageId,
  };
}

/**
 * The digest the registry serves for the image's first tag (or pinned digest): the one the cluster gets. A build
 * that reported another digest is an error, as is an image the registry does not have.
 */
export async function resolveDigest(
  registry: Registry,
  inputs: Pick<Inputs, 'image' | 'tags' | 'pinned' | 'build'>,
  built: string | undefined,
  log: Log,
): Promise<string> {
  // The tag (or pinned digest) that names the image: what the registry is asked for, and what the reference shows.
  const ref = inputs.pinned?.digest ?? inputs.tags[0] ?? '';
  const named = formatReference(
    inputs.pinned ? { repository: inputs.image, digest: ref } : { repository: inputs.image, tag: ref },
  );
  const served = await registry.manifestDigest(inputs.image, ref);
  if (served === undefined) {
    throw new Error(
      `${named} is not in the registry; ${inputs.build ? 'the push did not land' : 'push it first or fix "image" / "tags"'}`,
    );
  }
  if (built !== undefined && built !== served) {
    throw new Error(`the build reported ${built} but the registry serves ${served} for ${named}`);
  }
  log.info(`${named} is ${served} in the registry`);
  return served;
}

/** The image as deployed: shown by its tag (the pinned one, or the first) and pinned by digest. */
export function deployedReference(inputs: Pick<Inputs, 'image' | 'tags' | 'pinned'>, digest: string): string {
  return formatReference({ ...shownImage(inputs), digest });
}

/**
 * The build's metadata output: what buildx reported, with the digest added if it lacks one; without a build, the
 * digest and the image's name.
 */
export function metadataOf(
  inputs: Pick<Inputs, 'image' | 'tags' | 'pinned'>,
  digest: string,
  built: Record<string, unknown> | undefined,
): Record<string, unknown> {
  const metadata = built ?? { 'containerimage.digest': digest, 'image.name': formatReference(shownImage(inputs)) };
  metadata['containerimage.digest'] ??= digest;
  return metadata;
}

function shownImage(inputs: Pick<Inputs, 'image' | 'tags' | 'pinned'>): { repository: string; tag?: string } {
  const tag = inputs.pinned ? inputs.pinned.tag : inputs.tags[0];
  return { repository: inputs.image, ...(tag ? { tag } : {}) };
}
