/**
 * The runner's event payload (the JSON file at GITHUB_EVENT_PATH), read on the runner's side of `Job`: the phases
 * get what they need of it through the job. (@actions/github reads it too, for the GitHub adapter's context.)
 */
import { readFileSync } from 'node:fs';

/** The head commit of the pull request the event is about; undefined when there is none or the file cannot be read. */
export function pullRequestHead(env: NodeJS.ProcessEnv): string | undefined {
  try {
    const event = JSON.parse(readFileSync(env.GITHUB_EVENT_PATH ?? '', 'utf8')) as {
      pull_request?: { head?: { sha?: unknown } };
    };
    const sha = event.pull_request?.head?.sha;
    return typeof sha === 'string' ? sha : undefined;
  } catch {
    return undefined;
  }
}
