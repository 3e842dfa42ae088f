import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as yaml from 'js-yaml';
import {
  decodeKubeconfig,
  issuedToken,
  kubeconfigSecrets,
  loadCluster,
  mergeKubeconfigs,
} from '../../src/cluster/kubeconfig.js';

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
    expect(kubeconfigSecrets(yaml.load(yamlText)).sort()).toEqual(['Q0FEQVRB', 'S0VZREFUQQ==', 's3cr3t-token']);
  });

  it("lists an exec plugin's arguments and environment values, and a token file's contents", () => {
    const document = {
      users: [
        {
          name: 'a',
          user: {
            exec: {
              command: 'get-token',
              args: ['--cluster', 'prod', 'exec-arg-secret'],
              env: [{ name: 'API_KEY', value: 'exec-env-secret' }],
            },
          },
        },
        { name: 'b', user: { 'token-file': '/var/run/token' } },
      ],
    };
    const secrets = kubeconfigSecrets(document, (path) => (path === '/var/run/token' ? 'file-token' : undefined));
    expect(secrets).toEqual(expect.arrayContaining(['prod', 'exec-arg-secret', 'exec-env-secret', 'file-token']));
    expect(secrets).not.toContain('--cluster');
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
    expect(cluster.credentialCommand).toBeUndefined();
  });

  it('announces a gcp/azure cmd-path credential command like an exec plugin', () => {
    const withCmd = yamlText.replace(
      '    token: s3cr3t-token\n',
      '    auth-provider:\n      name: gcp\n      config: {cmd-path: /usr/bin/gcloud, cmd-args: config config-helper}\n',
    );
    expect(loadCluster(withCmd, '', {}, () => undefined).credentialCommand).toBe('/usr/bin/gcloud');
  });

  it('refuses a cluster on plain http:// unless allow-http is set, naming the fix', () => {
    const http = yamlText.replace('https://10.0.0.1:6443', 'http://10.0.0.1:8080');
    expect(() => loadCluster(http, '', {}, () => undefined)).toThrow(
      'Input "kubeconfig": the kubeconfig input: cluster "prod" is served on plain http://10.0.0.1:8080, so its credentials would travel unencrypted; use its https:// address, or set allow-http: true',
    );
    expect(loadCluster(http, '', {}, () => undefined, { allowHttp: true }).config.getCurrentCluster()?.server).toBe(
      'http://10.0.0.1:8080',
    );
  });

  it('merges several KUBECONFIG files as kubectl does, and masks the secrets of each', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kube-ship-kc-'));
    const second = `apiVersion: v1
kind: Config
current-context: other
clusters:
- name: prod
  cluster: {server: https://ignored:6443}
- name: stage
  cluster: {server: https://10.0.0.2:6443, certificate-authority: ca.crt}
contexts:
- name: other
  context: {cluster: stage, user: second}
users:
- name: second
  user: {token: second-token}
`;
    writeFileSync(join(dir, 'a'), yamlText);
    writeFileSync(join(dir, 'b'), second);
    const masked: string[] = [];
    const cluster = loadCluster('', '', { KUBECONFIG: `${join(dir, 'a')}:${join(dir, 'b')}` }, (s) => masked.push(s));
    expect(cluster.config.getCurrentContext()).toBe('ci');
    expect(cluster.config.getCurrentCluster()?.server).toBe('https://10.0.0.1:6443');
    expect(cluster.source).toBe(`${join(dir, 'a')}:${join(dir, 'b')}`);
    expect(masked).toEqual(expect.arrayContaining(['s3cr3t-token', 'second-token']));
    const merged = mergeKubeconfigs([
      { path: join(dir, 'a'), document: yaml.load(yamlText) },
      { path: join(dir, 'b'), document: yaml.load(second) },
    ]);
    expect(merged.clusters?.map((c) => c.name)).toEqual(['prod', 'stage']);
    expect(merged.clusters?.[1]?.cluster?.['certificate-authority']).toBe(join(dir, 'ca.crt'));
  });

  it('masks the in-cluster token', () => {
    const masked: string[] = [];
    try {
      loadCluster(
        '',
        '',
        { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443', HOME: '/nonexistent' },
        (s) => masked.push(s),
        {
          readFile: (path) => (path.endsWith('/token') ? 'in-cluster-token' : undefined),
        },
      );
    } catch {
      // client-node may refuse without the CA file; the token is masked before that matters
    }
    expect(masked).toContain('in-cluster-token');
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

describe('issuedToken', () => {
  it('gets the token an exec plugin issues, so that it can be masked before any request', async () => {
    const credential = JSON.stringify({
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      status: { token: 'exec-issued-token' },
    });
    const withExec = yamlText.replace(
      '    token: s3cr3t-token\n',
      `    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: sh\n      args: ["-c", ${JSON.stringify(`echo '${credential}'`)}]\n      interactiveMode: Never\n`,
    );
    const cluster = loadCluster(withExec, '', {}, () => undefined);
    expect(cluster.credentialCommand).toBe('sh');
    expect(await issuedToken(cluster.config)).toBe('exec-issued-token');
  });
});
