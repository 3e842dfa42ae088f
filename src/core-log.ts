/**
 * The Log the domain code writes to, on @actions/core, for the main step and the post step alike. Every line is
 * scrubbed of known secrets and made safe to print (`logLine`): messages carry text from the cluster, which must
 * never become a workflow command. Warnings go through @actions/core's command escaping, which keeps them on one line.
 */
import * as core from '@actions/core';
import type { Log } from './lib/log.js';
import { logLine, logMessage } from './lib/log-text.js';
import type { Secrets } from './lib/secrets.js';

export function logTo(secrets: Secrets): Log {
  return {
    info: (m) => core.info(logLine(secrets.scrub(m))),
    warning: (m) => core.warning(logMessage(secrets.scrub(m))),
    debug: (m) => core.debug(logMessage(secrets.scrub(m))),
    group: (name, fn) => core.group(name, fn),
  };
}

/**
 * Fails the step with this message, made safe as every other line of the log (`logMessage`): it often names a file
 * of the repository or quotes the cluster.
 */
export function failStep(message: string): void {
  core.setFailed(logMessage(message));
}
