/**
 * The post step (runs after success, failure and cancel): if the main step patched targets but never reached
 * its verdict (the runner killed it), undo what it changed (steps/restore-unfinished.ts); then log out of a
 * registry the main step logged in to.
 */
import * as core from '@actions/core';
import { failStep, logTo } from './core-log.js';
import type { Log } from './lib/log.js';
import { messageOf } from './lib/errors.js';
import { run as exec } from './image/exec.js';
import { parseBoolean } from './desired/inputs.js';
import { createKube } from './cluster/kube-client.js';
import { loadCluster } from './cluster/kubeconfig.js';
import { createHelm, stopLeftHelm } from './helm/helm-cli.js';
import { restoreUnfinished } from './steps/restore-unfinished.js';
import { Secrets } from './lib/secrets.js';
import { STATE } from './state.js';

/** Reads what the main step saved and the inputs, and undoes what an unfinished main step changed. */
async function undoUnfinished(secrets: Secrets, log: Log): Promise<void> {
  const saved = {
    recordsFile: core.getState(STATE.recordsFile),
    objectsFile: core.getState(STATE.objectsFile),
    jobsFile: core.getState(STATE.jobsFile),
    releaseFile: core.getState(STATE.releaseFile),
    routeFile: core.getState(STATE.routeFile),
    finished: core.getState(STATE.finished) === 'true',
  };
  const cluster = () =>
    loadCluster(
      core.getInput('kubeconfig'),
      core.getInput('kube-context'),
      process.env,
      (s, whole) => secrets.add(s, { lines: !whole }),
      {
        allowHttp: parseBoolean('allow-http', core.getInput('allow-http'), false),
      },
    ).config;
  const failure = await restoreUnfinished(saved, {
    rollback: () => parseBoolean('rollback', core.getInput('rollback'), true),
    connect: () => createKube(cluster()),
    helm: () => {
      const config = cluster();
      return createHelm({
        run: exec,
        kubeconfig: config.exportConfig(),
        context: config.getCurrentContext(),
        env: process.env,
        node: process.execPath,
        bundle: process.argv[1] ?? '',
      });
    },
    stopHelm: stopLeftHelm,
    log,
  });
  if (failure !== undefined) failStep(secrets.scrub(failure));
}

/** Every line and the failure go through the one safe path (scrubbed, made plain text): they quote the cluster. */
export async function post(): Promise<void> {
  const secrets = new Secrets((value) => core.setSecret(value));
  const log = logTo(secrets);
  try {
    await undoUnfinished(secrets, log);
  } catch (error) {
    failStep(secrets.scrub(`Could not restore the recorded templates: ${messageOf(error)}`));
  }
  const host = core.getState(STATE.loggedIn);
  if (host !== '') {
    const result = await exec('docker', ['logout', host]);
    if (result.exitCode !== 0) log.warning(`docker logout ${host} failed`);
  }
}
