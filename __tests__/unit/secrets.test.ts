import { describe, expect, it } from 'vitest';
import { fenced, logLine, LOG_LINE_LIMIT } from '../../src/lib/log-text.js';
import { redactCredentials, Secrets } from '../../src/lib/secrets.js';
import { registerSecretInputs } from '../../src/desired/inputs.js';

describe('Secrets', () => {
  it('masks the whole value and each line of a multi-line one, once each', () => {
    const masked: string[] = [];
    const secrets = new Secrets((v) => masked.push(v));
    secrets.add('-----BEGIN KEY-----\nAAAAline1\nBBBBline2\n-----END KEY-----');
    secrets.add('AAAAline1');
    expect(masked).toEqual([
      '-----BEGIN KEY-----\nAAAAline1\nBBBBline2\n-----END KEY-----',
      '-----BEGIN KEY-----',
      'AAAAline1',
      'BBBBline2',
      '-----END KEY-----',
    ]);
  });

  it('scrubs registered values (longest first) and URL user-info, before any escaping', () => {
    const secrets = new Secrets();
    secrets.add('ghs_abc_123');
    secrets.add('ghs_abc_123_longer');
    expect(secrets.scrub('token ghs_abc_123_longer and ghs_abc_123; db postgres://app:pw@db:5432/x')).toBe(
      'token *** and ***; db postgres://***@db:5432/x',
    );
  });

  it('scrubs every string of a report, deeply', () => {
    const secrets = new Secrets();
    secrets.add('hunter2-secret');
    const report = { failureReason: 'x hunter2-secret', evidence: [{ logs: ['a', 'pw=hunter2-secret'] }], n: 3 };
    expect(secrets.scrubAll(report)).toEqual({ failureReason: 'x ***', evidence: [{ logs: ['a', 'pw=***'] }], n: 3 });
    expect(report.failureReason).toBe('x hunter2-secret');
  });

  it('registers each line of a multi-line secret without its indentation, so it is found wherever it appears', () => {
    const masked: string[] = [];
    const secrets = new Secrets((v) => masked.push(v));
    secrets.add('token:\n    indented-secret-value\n');
    expect(masked).toContain('indented-secret-value');
    expect(secrets.scrub('refused: indented-secret-value.')).toBe('refused: ***.');
  });

  it('does not scrub values shorter than 4 characters (they would shred ordinary words), and scrubs those of 4', () => {
    const masked: string[] = [];
    const secrets = new Secrets((v) => masked.push(v));
    secrets.add('abc');
    secrets.add('wxyz');
    expect(masked).toEqual(['abc', 'wxyz']);
    expect(secrets.scrub('abcdef wxyz')).toBe('abcdef ***');
  });

  it("redacts the user a registry's pull rate-limit message names", () => {
    expect(
      redactCredentials(
        "toomanyrequests: You have reached your pull rate limit as 'acme-ci': dckr_jti_abc. You may increase the limit",
      ),
    ).toBe("toomanyrequests: You have reached your pull rate limit as '***': dckr_jti_abc. You may increase the limit");
  });
});

describe('logLine', () => {
  it.each([
    ['panic: boom\n::error title=Deploy succeeded::all good', 'panic: boom ⏎ ::error title=Deploy succeeded::all good'],
    ['::add-mask::Rolled', '» ::add-mask::Rolled'],
    ['   ::stop-commands::pwnd', '»    ::stop-commands::pwnd'],
    ['mid-line ##[error]forged and ##[add-mask]x', 'mid-line ##\u200b[error]forged and ##\u200b[add-mask]x'],
    ['user\u202egnp.exe \u009b31m \u001b[31mred\u001b[0m', 'usergnp.exe 31m red'],
  ])('%j -> %j', (text, line) => {
    expect(logLine(text)).toBe(line);
  });

  it('cuts a very long line and says how much', () => {
    const line = logLine('A'.repeat(LOG_LINE_LIMIT + 10));
    expect(line).toHaveLength(LOG_LINE_LIMIT + '… (10 characters cut)'.length);
    expect(line.endsWith('… (10 characters cut)')).toBe(true);
  });
});

describe('fenced', () => {
  it('puts the lines between stop-commands markers with a token of its own', () => {
    expect(fenced(['a', '::error::x'], 'tok')).toEqual(['::stop-commands::tok', 'a', '» ::error::x', '::tok::']);
    const [open, , close] = fenced(['a']);
    expect(open).toMatch(/^::stop-commands::[0-9a-f]{32}$/);
    expect(close).toBe(`::${open?.slice('::stop-commands::'.length)}::`);
  });
});

describe('registerSecretInputs', () => {
  it('registers every secret input and removes them from the environment children inherit', () => {
    const masked: string[] = [];
    const env: NodeJS.ProcessEnv = {
      'INPUT_REGISTRY-PASSWORD': 'reg-pass',
      'INPUT_GITHUB-TOKEN': 'ghs_token',
      INPUT_KUBECONFIG: 'kc',
      INPUT_SECRETS: 'NPM=npm_x',
      INPUT_IMAGE: 'ghcr.io/acme/web',
      PATH: '/usr/bin',
    };
    registerSecretInputs(
      { 'registry-password': 'reg-pass', 'github-token': 'ghs_token', kubeconfig: 'kc-yaml', secrets: ['NPM=npm_x=y'] },
      new Secrets((v) => masked.push(v)),
      env,
    );
    expect(masked).toEqual(['reg-pass', 'ghs_token', 'kc-yaml', 'npm_x=y']);
    expect(env).toEqual({ INPUT_IMAGE: 'ghcr.io/acme/web', PATH: '/usr/bin' });
  });

  it('registers a kubeconfig whole, never line by line (that would mask "kind: Config" everywhere)', () => {
    const masked: string[] = [];
    registerSecretInputs(
      { 'registry-password': '', 'github-token': '', kubeconfig: 'apiVersion: v1\nkind: Config', secrets: [] },
      new Secrets((v) => masked.push(v)),
      {},
    );
    expect(masked).toEqual(['apiVersion: v1\nkind: Config']);
  });
});
