import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeKubeconfig, kubeconfigSecrets, loadCluster } from '../../src/kubeconfig.js';

const yamlText = `apiVersion: v1
kind: Config
current-context: ci
clusters:
- name: prod
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority-data: Q0FEQVRB
contexts:
- name: ci
  context: {cluster: prod, user: deployer, namespace: shop}
users:
- name: deployer
  user:
    token: s3cr3t-token
    client-key-data: S0VZREFUQQ==
`;

describe('decodeKubeconfig', () => {
  it('takes YAML as it is and base64 decoded', () => {
    expect(decodeKubeconfig(yamlText)).toBe(yamlText.trim());
    expect(
      decodeKubeconfig(
        Buffer.from(yamlText)
          .toString('base64')
          .replace(/(.{60})/g, '$1\n'),
      ),
    ).toBe(yamlText);
  });
  it.each([
    [
      'not a kubeconfig {',
      'Input "kubeconfig": is neither kubeconfig YAML nor base64; paste the file or `base64 -w0` of it.',
    ],
    [
      Buffer.from('hello: world').toString('base64'),
      'Input "kubeconfig": decodes from base64 to something that is not a kubeconfig; check the secret.',
    ],
  ])('refuses %s', (raw, message) => expect(() => decodeKubeconfig(raw)).toThrow(message));
});

describe('kubeconfigSecrets', () => {
  it('lists every token, key and certificate', () => {
    expect(kubeconfigSecrets(yamlText).sort()).toEqual(['Q0FEQVRB', 'S0VZREFUQQ==', 's3cr3t-token']);
  });
});

describe('loadCluster', () => {
  it('masks the secrets before anything else, and reads the context namespace', () => {
    const masked: string[] = [];
    const cluster = loadCluster(yamlText, '', {}, (s) => masked.push(s));
    expect(masked).toContain('s3cr3t-token');
    expect(masked).toContain(yamlText.trim());
    expect(cluster.contextNamespace).toBe('shop');
    expect(cluster.config.getCurrentCluster()?.server).toBe('https://10.0.0.1:6443');
    expect(cluster.usesExec).toBe(false);
  });

  it('never falls back to localhost:8080 when nothing is configured', () => {
    const home = mkdtempSync(join(tmpdir(), 'kube-ship-home-'));
    expect(() => loadCluster('', '', { HOME: home }, () => undefined)).toThrow(
      'Input "kubeconfig": is empty and no KUBECONFIG, ~/.kube/config or in-cluster service account was found',
    );
  });

  it('reads KUBECONFIG when the input is empty, and masks its token', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kube-ship-kc-'));
    writeFileSync(join(dir, 'config'), yamlText);
    const masked: string[] = [];
    const cluster = loadCluster('', '', { KUBECONFIG: join(dir, 'config'), HOME: dir }, (s) => masked.push(s));
    expect(cluster.source).toBe(join(dir, 'config'));
    expect(masked).toContain('s3cr3t-token');
  });

  it('names the contexts there are when kube-context is wrong', () => {
    expect(() => loadCluster(yamlText, 'staging', {}, () => undefined)).toThrow(
      'Input "kube-context": "staging" is not in the kubeconfig input (it has: ci).',
    );
  });
});
