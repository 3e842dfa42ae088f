/**
 * What the phases ask of the job that runs them, beyond the log: GitHub Actions' runner in the action (main.ts
 * makes it from @actions/core), a recorder in tests. The phases never import @actions/* themselves.
 */

/** A fact the main step leaves for the post step (main.ts maps each to its key in `STATE`). */
export type PostFact =
  'loggedIn' | 'recordsFile' | 'objectsFile' | 'jobsFile' | 'releaseFile' | 'routeFile' | 'finished';

export interface Job {
  /** Lines printed as they are: a block already made safe (`fenced`), its cluster text inside. */
  print(lines: string[]): void;
  /** Leaves a fact for the post step. */
  save(fact: PostFact, value: string): void;
  setOutput(name: string, value: string): void;
  /** Writes the job summary (replacing what this step wrote before). */
  writeSummary(markdown: string): Promise<void>;
  /** The head commit of the pull request the run's event is about (none on a push, or without an event file). */
  pullRequestHead(): string | undefined;
  /** When the head commit of the push the run's event is about was made (none on other events). */
  headCommitTime(): string | undefined;
  /** Marks the step failed with this message; the step still ends normally. */
  setFailed(message: string): void;
}
