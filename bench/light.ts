/**
 * P12 (issue 23): what one good rollout costs kube-ship and `kubectl rollout status` on every axis, side by side in
 * one run: start -> first TCP connection to the API server, peak RSS, TCP connections, API requests (counted at the
 * server: audit log) and bytes read from the API server. Each run deploys `bench-p12` (3 replicas, `bake: 0s`) with
 * kube-ship through a counting TCP relay of its own (bench/relay.ts), and starts `kubectl rollout status` of the same
 * rollout, through another relay, the instant kube-ship's patch returns (before it, kubectl would see the old rollout
 * as done), with a cold discovery cache of its own as on a fresh runner.
 *
 * BENCH_BEFORE=<bundle> also runs an earlier build (e.g. one built from the commit before a change) in the same runs,
 * alternating with dist/index.js, so that the rows say before and after measured alike.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BUNDLE,
  DEPLOYER_SA,
  apply,
  deploymentManifest,
  expectResult,
  launchTimed,
  logText,
  median,
  patchLine,
  result,
  say,
  serviceAccountUser,
  sleep,
  startAction,
  waitComplete,
  type Audit,
  type Result,
} from './lib.js';
import { startRelay } from './relay.js';

const NAME = 'bench-p12';
const API_SERVER = 'https://127.0.0.1:6443';

export interface LightOptions {
  runs: number;
  repo: string;
  ns: string;
  deployerKubeconfig: string;
  /** The kubeconfig file of the baseline's own read-only ServiceAccount, and its name (for the audit log). */
  kubectlKcFile: string;
  kubectlSa: string;
  audit: Audit;
}

/** One tool's cost of one rollout. */
interface Cost {
  startToConnectMs: number;
  rssMiB: number;
  connections: number;
  requests: number;
  readKiB: number;
}

/** The Deployment the runs roll out, on the good image, complete. */
export async function prepareLight(opts: LightOptions): Promise<void> {
  apply([
    deploymentManifest(NAME, {
      namespace: opts.ns,
      image: `${opts.repo}:good-a`,
      replicas: 3,
      labels: { bench: 'p12' },
    }),
  ]);
  await waitComplete(opts.ns, 'bench=p12');
}

/** One deploy by `bundle` and kubectl's watch of the same rollout, each through a relay of its own. */
async function measured(opts: LightOptions, bundle: string, tag: string): Promise<{ ours: Cost; kubectl: Cost }> {
  const [r1, r2] = await Promise.all([startRelay(API_SERVER), startRelay(API_SERVER)]);
  try {
    const key = `${opts.ns}/${NAME}`;
    const kcFile = `${opts.kubectlKcFile}.${r2.port}`;
    writeFileSync(kcFile, r2.kubeconfig(readFileSync(opts.kubectlKcFile, 'utf8')), { mode: 0o600 });
    const mark = opts.audit.mark();
    const inputs = {
      bake: '0s',
      build: 'false',
      image: opts.repo,
      tags: tag,
      deployments: key,
      namespace: opts.ns,
      kubeconfig: r1.kubeconfig(opts.deployerKubeconfig),
    };
    const a = startAction(inputs, {}, bundle);
    await patchLine(a, key);
    const cache = join(process.env.BENCH_TMP ?? '/tmp', `kube-cache-${r2.port}`);
    const args = [
      '--kubeconfig',
      kcFile,
      '--cache-dir',
      cache,
      '-n',
      opts.ns,
      'rollout',
      'status',
      `deployment/${NAME}`,
    ];
    const k = launchTimed('kubectl', args, { env: process.env, rssFile: `${kcFile}.rss` });
    const [fin, kx] = await Promise.all([expectResult(a, 'success'), k.exited]);
    if (kx.code !== 0) throw new Error(`kubectl rollout status ${key} failed:\n${logText(k.lines)}`);
    await sleep(1500); // the last requests reach the audit log a moment after the exit
    const events = opts.audit.since(mark);
    const count = (user: string, from: number): number =>
      events.filter((e) => e.user === user && e.received >= from - 5).length;
    return {
      ours: {
        startToConnectMs: r1.firstAt() - a.startedAt,
        rssMiB: fin.rssKiB / 1024,
        connections: r1.connections(),
        requests: count(serviceAccountUser(opts.ns, DEPLOYER_SA), a.startedAt),
        readKiB: r1.down() / 1024,
      },
      kubectl: {
        startToConnectMs: r2.firstAt() - k.startedAt,
        rssMiB: k.rssKiB() / 1024,
        connections: r2.connections(),
        requests: count(serviceAccountUser(opts.ns, opts.kubectlSa), k.startedAt),
        readKiB: r2.down() / 1024,
      },
    };
  } finally {
    await Promise.all([r1.close(), r2.close()]);
  }
}

/** The P12 rows: dist/index.js against kubectl; with BENCH_BEFORE, the earlier build's medians in each note. */
export async function benchLight(opts: LightOptions): Promise<Result[]> {
  await prepareLight(opts);
  const before = process.env.BENCH_BEFORE;
  const runs: { after: Cost; kubectl: Cost; before?: Cost }[] = [];
  let tag = 'good-b';
  const next = (): string => (tag = tag === 'good-b' ? 'good-a' : 'good-b');
  for (let i = 0; i < opts.runs; i += 1) {
    // The earlier build first in even runs, second in odd ones: neither always meets a warmer machine.
    const first = i % 2 === 0 && before ? await measured(opts, before, next()) : undefined;
    const after = await measured(opts, BUNDLE, next());
    const second = i % 2 === 1 && before ? await measured(opts, before, next()) : undefined;
    const earlier = (first ?? second)?.ours;
    runs.push({ after: after.ours, kubectl: after.kubectl, ...(earlier ? { before: earlier } : {}) });
    const c = after.ours;
    say(
      `P12 run ${i + 1}: start ${c.startToConnectMs.toFixed(0)} ms, ${c.rssMiB.toFixed(0)} MiB, ${c.connections} connections, ${c.requests} requests, ${c.readKiB.toFixed(1)} KiB` +
        (earlier
          ? ` (before: ${earlier.startToConnectMs.toFixed(0)} ms, ${earlier.rssMiB.toFixed(0)} MiB, ${earlier.connections}, ${earlier.requests}, ${earlier.readKiB.toFixed(1)} KiB)`
          : ''),
    );
  }
  const row = (id: string, what: string, unit: string, of: (c: Cost) => number): Result => {
    const olds = runs.flatMap((r) => (r.before ? [of(r.before)] : []));
    const note = olds.length
      ? `before this change (BENCH_BEFORE, same runs): ${median(olds).toFixed(1)} ${unit}`
      : undefined;
    return result(
      id,
      what,
      unit,
      runs.map((r) => of(r.after)),
      runs.map((r) => of(r.kubectl)),
      '`kubectl rollout status` of the same rollout',
      note,
    );
  };
  return [
    row(
      'P12',
      'good rollout, 3 replicas, bake 0s: process start -> first TCP connection to the API server',
      'ms',
      (c) => c.startToConnectMs,
    ),
    row('P12b', 'the same: peak RSS', 'MiB', (c) => c.rssMiB),
    row('P12c', 'the same: TCP connections to the API server', 'connections', (c) => c.connections),
    row('P12d', 'the same: API requests, counted at the server (audit log)', 'requests', (c) => c.requests),
    row('P12e', 'the same: bytes read from the API server (TCP, TLS included)', 'KiB', (c) => c.readKiB),
  ];
}
