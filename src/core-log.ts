/** The Log the domain code writes to, on @actions/core: for the main step and the post step alike. */
import * as core from '@actions/core';
import type { Log } from './log.js';

export const coreLog: Log = {
  info: (m) => core.info(m),
  warning: (m) => core.warning(m),
  debug: (m) => core.debug(m),
  group: (name, fn) => core.group(name, fn),
};
