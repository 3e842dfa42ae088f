/** Publishing the report to GitHub (sticky PR comment, GitHub Deployments). */
import type { Inputs } from './inputs.js';
import type { Log } from './log.js';
import type { Report } from './report.js';

export async function publishReport(_report: Report, _inputs: Inputs, _log: Log): Promise<void> {
  // The PR comment and GitHub Deployments are published here.
}
