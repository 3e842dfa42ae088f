/** The log the domain code writes to; the action passes @actions/core, tests pass a recorder. */
export interface Log {
  info(message: string): void;
  warning(message: string): void;
  debug(message: string): void;
  /** Runs `fn` inside a collapsible log group named for a phase (Preflight, Build, Deploy, Rollout, ...). */
  group<T>(name: string, fn: () => Promise<T>): Promise<T>;
}
