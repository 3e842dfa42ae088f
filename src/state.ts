/** Keys of what the main step saves for the post step (`core.saveState`). */
export const STATE = {
  /** Registry host logged in to with the inputs' credentials: logged out in the post step. */
  loggedIn: 'logged-in-registry',
  /**
   * Path of a file (under RUNNER_TEMP) with the TargetRecords once patched: the post step restores them if the main
   * step never finished. A file, not the state itself: state travels in an environment variable, which Linux caps
   * at 128 KiB (about 30 pod templates).
   */
  recordsFile: 'records-file',
  /** Path of a file with the ObjectRecords of the manifests applied so far (same reasons). */
  objectsFile: 'objects-file',
  /** Path of a file with the Jobs running now (pre-deploy, verify): the post step deletes them. */
  jobsFile: 'jobs-file',
  /** Path of a file with the Helm release a chart deploy changes and its revision before: the post step rolls it back. */
  releaseFile: 'release-file',
  /** Path of a file with the record of the HTTPRoute of `canary-route` (its rules before the canary, as last set). */
  routeFile: 'route-file',
  /** Set when the main step reached its verdict (and rollback, if any). */
  finished: 'finished',
} as const;
