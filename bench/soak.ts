/**
 * npm run soak: SOAK_CYCLES (default 100) deploy/rollback cycles against one Deployment, one process per cycle, as
 * the runner starts the bundled action. Each cycle deploys a crash-looping image that is caught and rolled back.
 * After each cycle it reads the API server's count of open watches (apiserver_longrunning_requests, verb WATCH):
 * no growth means no watch outlives its process. It prints, per cycle, the time from the step's last line to its
 * exit (nothing left keeping Node alive) and its peak RSS, then first/last/max of each.
 */
import { NAMESPACE, REGISTRY, apply, env, kubectl, say, startAction, waitComplete } from './lib.js';

const CYCLES = Number(process.env.SOAK_CYCLES ?? 100);
const NAME = 'soak';

/** Open WATCH requests the API server counts right now. */
function openWatches(): number {
  const metrics = kubectl(['get', '--raw', '/metrics']);
  return metrics
    .split('\n')
    .filter((l) => l.startsWith('apiserver_longrunning_requests{') && l.includes('verb="WATCH"'))
    .reduce((sum, l) => sum + Number(l.split(' ').pop() ?? 0), 0);
}

function createTarget(): void {
  const manifest = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: NAME, namespace: NAMESPACE, labels: { app: NAME } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: NAME } },
      template: {
        metadata: { labels: { app: NAME } },
        spec: { containers: [{ name: 'app', image: `${REGISTRY}/e2e/${NAME}:initial` }] },
      },
    },
  };
  kubectl(['delete', 'deployment', NAME, '-n', NAMESPACE, '--ignore-not-found', '--wait=true']);
  apply([manifest]);
}

async function main(): Promise<void> {
  createTarget();
  await waitComplete(NAMESPACE, `app=${NAME}`);
  // The crash-looping image, built and pushed once; every cycle deploys it with build: false.
  const seed = startAction({
    image: `${REGISTRY}/e2e/${NAME}`,
    tags: 'crashloop-soak',
    context: 'examples/web',
    'build-args': `VARIANT=soak\nBASE_IMAGE=${env.BASE_IMAGE ?? 'kube-ship/busybox:latest'}`,
    deployments: `${NAMESPACE}/${NAME}`,
    network: 'host',
  });
  const seeded = await seed.finish();
  if (seeded.outputs.result !== 'rolled-back') throw new Error(`seed run: ${seeded.outputs.result}`);
  const baseline = openWatches();
  const rows: { exitMs: number; rssMiB: number; watches: number; result: string }[] = [];
  for (let i = 1; i <= CYCLES; i++) {
    const step = startAction({
      build: 'false',
      image: `${REGISTRY}/e2e/${NAME}`,
      tags: 'crashloop-soak',
      deployments: `${NAMESPACE}/${NAME}`,
    });
    const done = await step.finish();
    const last = step.lines.at(-1)?.t ?? done.t;
    const row = {
      exitMs: Math.round(done.t - last),
      rssMiB: Math.round(done.rssKiB / 1024),
      watches: openWatches(),
      result: done.outputs.result ?? '',
    };
    rows.push(row);
    if (i <= 3 || i % 10 === 0 || row.result !== 'rolled-back') {
      say(
        `cycle ${i}: ${row.result}, exit ${row.exitMs} ms after its last line, ${row.rssMiB} MiB, ${row.watches} open watches`,
      );
    }
  }
  const column = (pick: (r: (typeof rows)[number]) => number) => {
    const values = rows.map(pick);
    return `first ${values[0]}, last ${values.at(-1)}, max ${Math.max(...values)}`;
  };
  const failed = rows.filter((r) => r.result !== 'rolled-back').length;
  console.log(`soak: ${CYCLES} deploy/rollback cycles, ${failed} not rolled-back`);
  console.log(`  open watches at the API server (before: ${baseline}): ${column((r) => r.watches)}`);
  console.log(`  last line -> process exit, ms: ${column((r) => r.exitMs)}`);
  console.log(`  peak RSS per process, MiB: ${column((r) => r.rssMiB)}`);
  if (failed > 0 || Math.max(...rows.map((r) => r.exitMs)) > 1000 || (rows.at(-1)?.watches ?? 0) > baseline) {
    process.exitCode = 1;
  }
}

await main();
