/**
 * The one path by which kube-ship runs a command: argv arrays only (never a shell string built from inputs), the
 * command logged at debug level (secrets are masked by the runner before they reach the log), output captured.
 */
import * as core from '@actions/core';
import { getExecOutput } from '@actions/exec';
import { logLine } from '../lib/log-text.js';

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Text written to the command's standard input (e.g. a password for --password-stdin). */
  input?: string;
  env?: Record<string, string>;
  /** Stream the command's output to the log as it runs. */
  stream?: boolean;
}

export type Run = (command: string, args: string[], options?: RunOptions) => Promise<CommandResult>;

export const run: Run = async (command, args, options = {}) => {
  core.debug(logLine(`run: ${[command, ...args].join(' ')}`));
  const env = options.env ? { ...(process.env as Record<string, string>), ...options.env } : undefined;
  const result = await getExecOutput(command, args, {
    ignoreReturnCode: true,
    silent: options.stream !== true,
    ...(options.input !== undefined ? { input: Buffer.from(options.input) } : {}),
    ...(env ? { env } : {}),
  });
  return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
};

/** The last non-empty line of a command's error output: what it said went wrong. */
export function lastErrorLine(result: CommandResult): string {
  const lines = `${result.stderr}\n${result.stdout}`
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  return lines[lines.length - 1] ?? `exit code ${result.exitCode}`;
}
