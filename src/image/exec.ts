/**
 * The one path by which kube-ship runs a command: argv arrays only (never a shell string built from inputs), the
 * command logged at debug level (secrets are masked by the runner before they reach the log), output captured.
 */
import * as core from '@actions/core';
import { getExecOutput } from '@actions/exec';
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  /** Stops the command (SIGTERM) when aborted; the result comes once it has exited. */
  signal?: AbortSignal;
  /** Told the command's process id once it runs (with `signal` only). */
  onStarted?: (pid: number) => void;
}

export type Run = (command: string, args: string[], options?: RunOptions) => Promise<CommandResult>;

export const run: Run = async (command, args, options = {}) => {
  core.debug(logLine(`run: ${[command, ...args].join(' ')}`));
  const env = options.env ? { ...(process.env as Record<string, string>), ...options.env } : undefined;
  if (options.signal) return runAbortable(command, args, { signal: options.signal, onStarted: options.onStarted }, env);
  const result = await getExecOutput(command, args, {
    ignoreReturnCode: true,
    silent: options.stream !== true,
    ...(options.input !== undefined ? { input: Buffer.from(options.input) } : {}),
    ...(env ? { env } : {}),
  });
  return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
};

/**
 * A command that a cancel stops: SIGTERM on abort, the exit waited for (never a stray child). Its output goes to
 * files, not pipes: a command that outlives a killed step (the post step stops it) must not die of a broken pipe
 * before it has recorded how it ended.
 */
function runAbortable(
  command: string,
  args: string[],
  { signal, onStarted }: { signal: AbortSignal; onStarted: ((pid: number) => void) | undefined },
  env: Record<string, string> | undefined,
): Promise<CommandResult> {
  // The runner's temporary folder, emptied after every job (a self-hosted runner's /tmp is not): the output of a dry
  // run holds rendered Secrets and the values given.
  const dir = mkdtempSync(join((env ?? process.env).RUNNER_TEMP || tmpdir(), 'kube-ship-run-'));
  const out = openSync(join(dir, 'stdout'), 'w', 0o600);
  const err = openSync(join(dir, 'stderr'), 'w', 0o600);
  let finished: CommandResult | undefined;
  const finish = (exitCode: number, extra = ''): CommandResult => {
    // A spawn that fails emits 'error' and then 'close': the files are read and closed once.
    if (finished !== undefined) return finished;
    closeSync(out);
    closeSync(err);
    const result = {
      exitCode,
      stdout: readFileSync(join(dir, 'stdout'), 'utf8'),
      stderr: readFileSync(join(dir, 'stderr'), 'utf8') + extra,
    };
    rmSync(dir, { recursive: true, force: true });
    finished = result;
    return result;
  };
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: env ?? process.env, stdio: ['ignore', out, err] });
    if (child.pid !== undefined) onStarted?.(child.pid);
    const stop = (): void => void child.kill('SIGTERM');
    signal.addEventListener('abort', stop, { once: true });
    if (signal.aborted) stop();
    child.once('error', (error) => {
      signal.removeEventListener('abort', stop);
      if (child.pid === undefined) resolve(finish(127, `${error.message}\n`));
    });
    child.once('close', (code) => {
      signal.removeEventListener('abort', stop);
      resolve(finish(code ?? 143));
    });
  });
}

/** The last non-empty line of a command's error output: what it said went wrong. */
export function lastErrorLine(result: CommandResult): string {
  const lines = `${result.stderr}\n${result.stdout}`
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  return lines[lines.length - 1] ?? `exit code ${result.exitCode}`;
}
