/** What a request carries for a kubeconfig's current context: TLS material read once, and its credentials. */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ClientConfig } from '../../src/cluster/client-config.js';

let dir = '';
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function kubeconfig(users: string): string {
  return `
apiVersion: v1
kind: Config
clusters:
- name: a
  cluster: {server: https://a.example, certificate-authority: ${join(dir, 'a.pem')}}
- name: b
  cluster: {server: https://b.example, certificate-authority-data: ${Buffer.from('CA of b').toString('base64')}}
users:
${users}
contexts:
- {name: a, context: {cluster: a, user: u}}
- {name: b, context: {cluster: b, user: u}}
current-context: a
`;
}

describe('ClientConfig.requestAuth', () => {
  it("reads the cluster's CA file once, and the other cluster's CA after the context changes", async () => {
    dir = mkdtempSync(join(tmpdir(), 'kube-ship-client-config-'));
    writeFileSync(join(dir, 'a.pem'), 'CA of a');
    const config = new ClientConfig();
    config.loadFromString(kubeconfig('- {name: u, user: {token: t}}'));
    expect(String((await config.requestAuth()).tls.ca)).toBe('CA of a');
    rmSync(join(dir, 'a.pem'));
    expect(String((await config.requestAuth()).tls.ca)).toBe('CA of a');
    config.setCurrentContext('b');
    expect(String((await config.requestAuth()).tls.ca)).toBe('CA of b');
  });

  it('sends a bearer token over basic auth when a user has both, as client-node does', async () => {
    dir = mkdtempSync(join(tmpdir(), 'kube-ship-client-config-'));
    const config = new ClientConfig();
    config.loadFromString(kubeconfig('- {name: u, user: {token: t, username: me, password: pw}}'));
    config.setCurrentContext('b');
    expect((await config.requestAuth()).headers.Authorization).toBe('Bearer t');
  });

  it("asks an exec plugin for its token, and sends it and the plugin's client certificate", async () => {
    dir = mkdtempSync(join(tmpdir(), 'kube-ship-client-config-'));
    const plugin = join(dir, 'plugin.sh');
    const credential = {
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      status: { token: 'issued', clientCertificateData: 'CERT', clientKeyData: 'KEY' },
    };
    writeFileSync(plugin, `#!/bin/sh\necho '${JSON.stringify(credential)}'\n`);
    chmodSync(plugin, 0o755);
    const config = new ClientConfig();
    config.loadFromString(
      kubeconfig(`- {name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: ${plugin}}}}`),
    );
    config.setCurrentContext('b');
    const auth = await config.requestAuth();
    expect(auth.headers.Authorization).toBe('Bearer issued');
    expect(auth.tls).toMatchObject({ cert: 'CERT', key: 'KEY' });
  });
});
