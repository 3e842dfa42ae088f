/**
 * The other paths of a real deploy: buildx instead of classic BuildKit, a registry that needs a login (logged out
 * in the post step), a job cancelled mid-rollout, and a step killed mid-rollout whose post step restores.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  NAMESPACE,
  REGISTRY,
  appInputs,
  createDeployment,
  env,
  patched,
  podImages,
  runAction,
  template,
  withoutMasks,
} from './harness.js';

describe('build paths and interruptions', () => {
  beforeAll(() => {
    createDeployment('bx', `${REGISTRY}/e2e/bx:initial`);
    createDeployment('auth', `${env.AUTH_REGISTRY}/e2e/auth:initial`);
    createDeployment('cancel', `${REGISTRY}/e2e/cancel:initial`);
    createDeployment('killed', `${REGISTRY}/e2e/killed:initial`);
  });

  it('builds with buildx when the plugin is there, taking the digest from its metadata', async () => {
    expect(env.BUILDX_PLUGIN, 'the stack provides a buildx plugin').toBeTruthy();
    const config = mkdtempSync(join(tmpdir(), 'kube-ship-docker-'));
    mkdirSync(join(config, 'cli-plugins'));
    symlinkSync(env.BUILDX_PLUGIN ?? '', join(config, 'cli-plugins', 'docker-buildx'));
    const run = await runAction(appInputs('bx', 'v1', 'buildx'), { env: { DOCKER_CONFIG: config } });
    expect(run.exitCode, run.log).toBe(0);
    expect(run.log).toContain('Builder: docker buildx');
    expect(run.outputs.result).toBe('success');
    const metadata = JSON.parse(run.outputs.metadata ?? '{}') as Record<string, string>;
    expect(metadata['containerimage.digest']).toBe(run.outputs.digest);
    expect(metadata['containerimage.config.digest']).toBe(run.outputs.imageid);
    expect(new Set(podImages('bx'))).toEqual(new Set([run.outputs.image]));
  });

  it('logs in to a registry that needs credentials, masks the password, and logs out in the post step', async () => {
    const config = mkdtempSync(join(tmpdir(), 'kube-ship-docker-'));
    const password = env.AUTH_REGISTRY_PASSWORD ?? '';
    const inputs = {
      ...appInputs('auth', 'v1', 'auth'),
      image: `${env.AUTH_REGISTRY}/e2e/auth`,
      'registry-username': env.AUTH_REGISTRY_USER ?? '',
      'registry-password': password,
    };
    const run = await runAction(inputs, { env: { DOCKER_CONFIG: config } });
    expect(run.exitCode, run.log).toBe(0);
    expect(run.outputs.result).toBe('success');
    expect(run.state['logged-in-registry']).toBe(env.AUTH_REGISTRY);
    expect(withoutMasks(run.log)).not.toContain(password);
    expect(readFileSync(join(config, 'config.json'), 'utf8')).toContain(env.AUTH_REGISTRY ?? '');
    const post = await runAction(inputs, { post: true, state: run.state, env: { DOCKER_CONFIG: config } });
    expect(post.exitCode, post.log).toBe(0);
    const after = existsSync(join(config, 'config.json')) ? readFileSync(join(config, 'config.json'), 'utf8') : '';
    expect(after).not.toContain(`"${env.AUTH_REGISTRY}"`);
  });

  it('a cancelled job (SIGINT mid-rollout) restores the recorded template itself', async () => {
    const recorded = template('cancel');
    const run = await runAction(appInputs('cancel', 'crashloop-cancel', 'cancel', { 'fail-fast': 'false' }), {
      interrupt: { when: patched, signal: 'SIGINT' },
    });
    expect(run.exitCode).not.toBe(0);
    expect(run.log).toContain('Cancelled: stopping the rollout and restoring the recorded templates');
    expect(run.outputs.result).toBe('cancelled');
    expect(run.summary).toContain('cancelled: what it changed was restored');
    expect(template('cancel')).toEqual(recorded);
  });

  it('a step killed mid-rollout is restored by the post step', async () => {
    const recorded = template('killed');
    const inputs = appInputs('killed', 'crashloop-killed', 'killed', { 'fail-fast': 'false' });
    const run = await runAction(inputs, {
      interrupt: { when: patched, signal: 'SIGKILL' },
    });
    expect(run.exitCode).not.toBe(0);
    expect(run.state.finished).toBeUndefined();
    expect(template('killed')).not.toEqual(recorded);
    const post = await runAction(inputs, { post: true, state: run.state });
    expect(post.exitCode, post.log).toBe(0);
    expect(post.log).toContain(`The deploy did not finish: undoing what it changed in ${NAMESPACE}/killed`);
    expect(template('killed')).toEqual(recorded);
  });

  it('a step killed mid-rollout with rollback: false is left as it is by the post step', async () => {
    const inputs = appInputs('killed', 'crashloop-kept', 'kept', { 'fail-fast': 'false', rollback: 'false' });
    const run = await runAction(inputs, { interrupt: { when: patched, signal: 'SIGKILL' } });
    expect(run.exitCode).not.toBe(0);
    const left = template('killed');
    const post = await runAction(inputs, { post: true, state: run.state });
    expect(post.exitCode, post.log).toBe(0);
    expect(post.log).toContain(`${NAMESPACE}/killed left as they are (rollback: false)`);
    expect(template('killed')).toEqual(left);
    expect(JSON.stringify(left)).toContain('crashloop-kept');
  });
});
