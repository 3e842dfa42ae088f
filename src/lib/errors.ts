/**
 * A problem the user can fix by changing an input. The message names the input, the value (unless secret) and
 * the fix, so the first line of a failed step says what to change.
 */
export class InputError extends Error {
  constructor(
    readonly input: string,
    /** What is wrong and the fix, without the input's name: to say it of another input that led to the same text. */
    readonly reason: string,
  ) {
    super(`Input "${input}": ${reason}`);
    this.name = 'InputError';
  }
}

/** A check before anything is built or changed failed (cluster access, missing objects, missing permissions). */
export class PreflightError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PreflightError';
  }
}

/** The job was cancelled (SIGINT/SIGTERM from the runner) before anything was changed. */
export class CancelledError extends Error {
  constructor(message = 'the job was cancelled before anything was deployed') {
    super(message);
    this.name = 'CancelledError';
  }
}

/**
 * The message of anything thrown, without the stack or the error's name: an Error's message, else the value as text.
 * Kubernetes' ApiException is reduced to its Status message earlier, by `toKubeError`, not here.
 */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
