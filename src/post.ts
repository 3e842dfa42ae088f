/**
 * The post step (runs after success, failure and cancel): if the main step patched targets but never reached
 * its verdict (the runner killed it), undo what it changed so nothing is left half-deployed, unless the workflow
 * said `rollback: false`; then log out of a registry the main step logged in to.
 */
import * as core from '@actions/core';
import { logTo } from './core-log.js';
import { messageOf } from './lib/errors.js';
import { run as exec } from './build/exec.js';
import { parseBoolean } from './spec/inputs.js';
import { createKube } from './cluster/kube-client.js';
import { loadCluster } from './cluster/kubeconfig.js';
import { restoreObjects } from './deploy/apply.js';
import { loadObjectRecords, loadRecords } from './deploy/records-file.js';
import { rollBack } from './deploy/restore.js';
import { Secrets } from './lib/secrets.js';
import { STATE } from './state.js';

async function restoreUnfinished(): Promise<void> {
  const file = core.getState(STATE.recordsFile);
  const objectsFile = core.getState(STATE.objectsFile);
  if ((file === '' && objectsFile === '') || core.getState(STATE.finished) === 'true') return;
  const records = file === '' ? [] : loadRecords(file);
  const objects = objectsFile === '' ? [] : loadObjectRecords(objectsFile);
  const keys = [...records.map((r) => r.key), ...objects.map((o) => o.key)].join(', ');
  if (!parseBoolean('rollback', core.getInput('rollback'), true)) {
    core.warning(`The deploy did not finish; ${keys} left as they are (rollback: false)`);
    return;
  }
  core.warning(`The deploy did not finish: undoing what it changed in ${keys}`);
  const secrets = new Secrets((value) => core.setSecret(value));
  const cluster = loadCluster(
    core.getInput('kubeconfig'),
    core.getInput('kube-context'),
    process.env,
    (s, whole) => secrets.add(s, { lines: !whole }),
    {
      allowHttp: parseBoolean('allow-http', core.getInput('allow-http'), false),
    },
  );
  const kube = createKube(cluster.config);
  const log = logTo(secrets);
  // Objects the deploy applied: what it created goes, what it changed is set back (newest first).
  const undone = await restoreObjects(kube, objects, log, 60_000);
  const { errors, notes } = await rollBack(kube, records, log);
  const problems = [
    ...undone.errors.map((e) => `${e.key}: ${e.message}`),
    ...errors.map((e) => `${e.key}: ${e.message}`),
    ...notes.filter((n) => n.left).map((n) => `${n.key}: not restored: ${n.note}`),
  ];
  if (problems.length > 0) core.setFailed(`Could not restore: ${problems.join('; ')}`);
}

export async function post(): Promise<void> {
  try {
    await restoreUnfinished();
  } catch (error) {
    core.setFailed(`Could not restore the recorded templates: ${messageOf(error)}`);
  }
  const host = core.getState(STATE.loggedIn);
  if (host !== '') {
    const result = await exec('docker', ['logout', host]);
    if (result.exitCode !== 0) core.warning(`docker logout ${host} failed`);
  }
}
