/**
 * The one entry of the bundle, for action.yml's `main` and `post` alike (as build-push-action and checkout do):
 * the main step saves the state `isPost`, so the runner's second start of this file runs the post step. One catch
 * for both: anything thrown ends in setFailed. Helm starts it a third way, as the post-renderer of a chart.
 */
import * as core from '@actions/core';
import { failStep } from './core-log.js';
import { messageOf } from './lib/errors.js';
import { run } from './main.js';
import { post } from './post.js';
import { POST_RENDER_ARG, runPostRender } from './helm/post-render.js';

if (process.argv[2] === POST_RENDER_ARG) {
  // Started by helm as the chart's post-renderer (`chart`), not by the runner: no step, no state.
  runPostRender(process.argv.slice(3));
} else {
  const isPost = core.getState('isPost') === 'true';
  if (!isPost) core.saveState('isPost', 'true');
  await (isPost ? post() : run()).catch((error: unknown) => failStep(messageOf(error)));
}
