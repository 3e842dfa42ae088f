/**
 * The post step (runs after success, failure and cancel): if the main step patched targets but never reached
 * its verdict (the runner killed it), restore the recorded templates so nothing is left half-deployed; then log
 * out of a registry the main step logged in to.
 */
import * as core from '@actions/core';
import { createKube } from './kube-client.js';
import { loadCluster } from './kubeconfig.js';
import { coreLog } from './main.js';
import { messageOf } from './errors.js';
import { run as exec } from './exec.js';
import { rollBack, type TargetRecord } from './rollout.js';
import { STATE } from './state.js';

async function restoreUnfinished(): Promise<void> {
  const saved = core.getState(STATE.records);
  if (saved === '' || core.getState(STATE.finished) === 'true') return;
  const records = JSON.parse(saved) as TargetRecord[];
  core.warning(
    `The deploy did not finish: restoring ${records.map((r) => r.key).join(', ')} to the recorded templates`,
  );
  const cluster = loadCluster(core.getInput('kubeconfig'), core.getInput('kube-context'), process.env, (s) =>
    core.setSecret(s),
  );
  const { errors } = await rollBack(createKube(cluster.config), records, coreLog);
  if (errors.length > 0) core.setFailed(`Could not restore: ${errors.map((e) => `${e.key}: ${e.message}`).join('; ')}`);
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

await post();
