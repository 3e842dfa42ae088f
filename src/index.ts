/**
 * The one entry of the bundle, for action.yml's `main` and `post` alike (as build-push-action and checkout do):
 * the main step saves the state `isPost`, so the runner's second start of this file runs the post step. One catch
 * for both: anything thrown ends in setFailed.
 */
import * as core from '@actions/core';
import { failStep } from './core-log.js';
import { messageOf } from './lib/errors.js';
import { run } from './main.js';
import { post } from './post.js';

const isPost = core.getState('isPost') === 'true';
if (!isPost) core.saveState('isPost', 'true');
await (isPost ? post() : run()).catch((error: unknown) => failStep(messageOf(error)));
