/**
 * build-push-action's conventions where the inputs overlap: full references in `tags` (as docker/metadata-action
 * writes them) with `image` left out, and `build: false` deploying a digest pinned in `image`.
 */
import { describe, expect, it } from 'vitest';
import { NAMESPACE, REGISTRY, appInputs, createDeployment, podImages, runAction } from './harness.js';

describe("build-push-action's conventions", () => {
  it('tags: REGISTRY/repo:v1 (image left out) builds, pushes and deploys that reference', async () => {
    createDeployment('conv', `${REGISTRY}/e2e/conv:initial`, { replicas: 1 });
    const inputs = appInputs('conv', 'unused', 'conv');
    const run = await runAction({
      ...inputs,
      image: '',
      tags: `${REGISTRY}/e2e/conv:v1\n${REGISTRY}/e2e/conv:latest`,
    });
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('success');
    expect(run.outputs.image).toMatch(new RegExp(`^${REGISTRY}/e2e/conv:v1@sha256:[0-9a-f]{64}$`));
    expect(new Set(podImages('conv'))).toEqual(new Set([run.outputs.image]));
    const latest = await fetch(`http://${REGISTRY}/v2/e2e/conv/manifests/latest`, {
      method: 'HEAD',
      headers: {
        Accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json',
      },
    });
    expect(latest.headers.get('docker-content-digest')).toBe(run.outputs.digest);
  });

  it('build: false with a digest pinned in image deploys exactly that digest', async () => {
    createDeployment('pinned', `${REGISTRY}/e2e/conv:initial`, { replicas: 1 });
    const built = await runAction(appInputs('conv', 'pin-source', 'pin', { deployments: `${NAMESPACE}/conv` }));
    expect(built.exitCode, built.log).toBe(0);
    const run = await runAction({
      build: 'false',
      image: `${REGISTRY}/e2e/conv@${built.outputs.digest}`,
      deployments: `${NAMESPACE}/pinned`,
    });
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.image).toBe(`${REGISTRY}/e2e/conv@${built.outputs.digest}`);
    expect(new Set(podImages('pinned'))).toEqual(new Set([run.outputs.image]));
    expect(run.log).not.toContain('::group::Build');
  });
});
