import { describe, expect, it } from 'vitest';
import { chooseContainers, resolveTargets, type Target } from '../../src/desired/targets.js';

const template = {
  containers: [
    { name: 'app', image: 'ghcr.io/acme/web:1.0' },
    { name: 'proxy', image: 'envoyproxy/envoy:v1.30' },
  ],
  initContainers: [{ name: 'migrate', image: 'ghcr.io/acme/web@sha256:aaaa' }],
};

describe('chooseContainers', () => {
  const target: Target = { kind: 'deployment', namespace: 'shop', name: 'web', containers: [], input: 'deployments' };

  it('takes every container and initContainer running the image repository', () => {
    expect(chooseContainers(target, template, 'ghcr.io/acme/web')).toEqual([
      { kind: 'containers', index: 0, name: 'app', image: 'ghcr.io/acme/web:1.0' },
      { kind: 'initContainers', index: 0, name: 'migrate', image: 'ghcr.io/acme/web@sha256:aaaa' },
    ]);
  });

  it('takes only the named containers', () => {
    expect(chooseContainers({ ...target, containers: ['proxy'] }, template, 'ghcr.io/acme/web')).toEqual([
      { kind: 'containers', index: 1, name: 'proxy', image: 'envoyproxy/envoy:v1.30' },
    ]);
  });

  it('refuses a named container that does not exist, listing those that do', () => {
    expect(() => chooseContainers({ ...target, containers: ['ap'] }, template, 'ghcr.io/acme/web')).toThrow(
      'Input "deployments": shop/web has no container "ap" (it has: app, proxy, migrate); name one of its containers or leave the name out.',
    );
  });

  it('refuses a target where no container runs the image', () => {
    expect(() => chooseContainers(target, template, 'ghcr.io/acme/api')).toThrow(
      'Input "deployments": no container of shop/web runs an image from ghcr.io/acme/api (it has: app=ghcr.io/acme/web:1.0, proxy=envoyproxy/envoy:v1.30, migrate=ghcr.io/acme/web@sha256:aaaa); name the containers as shop/web:CONTAINER, or fix "image".',
    );
  });
});

describe('resolveTargets', () => {
  it('gives targets the default namespace and refuses duplicates', () => {
    expect(
      resolveTargets(
        [{ kind: 'deployment', namespace: undefined, name: 'web', containers: [], input: 'deployments' }],
        'prod',
      ),
    ).toEqual([{ kind: 'deployment', namespace: 'prod', name: 'web', containers: [], input: 'deployments' }]);
    expect(() =>
      resolveTargets(
        [
          { kind: 'deployment', namespace: undefined, name: 'web', containers: [], input: 'deployments' },
          { kind: 'deployment', namespace: 'prod', name: 'web', containers: [], input: 'deployments' },
        ],
        'prod',
      ),
    ).toThrow('"prod/web" is listed twice');
  });
});
