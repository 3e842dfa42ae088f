/** Keys of what the main step saves for the post step (`core.saveState`). */
export const STATE = {
  /** Registry host logged in to with the inputs' credentials: logged out in the post step. */
  loggedIn: 'logged-in-registry',
  /** JSON of the TargetRecords once patched: the post step restores them if the main step never finished. */
  records: 'records',
  /** Set when the main step reached its verdict (and rollback, if any). */
  finished: 'finished',
} as const;
