/**
 * The runner's event payload (the JSON file at GITHUB_EVENT_PATH), read here only on kube-ship's side: the phases
 * get what they need of it through `Job`. (@actions/github reads it too, for the GitHub adapter's context.)
 */
import { readFileSync } from 'node:fs';

/** The parts of the payload kube-ship reads; any of them may be missing or of another type. */
interface Payload {
  pull_request?: { head?: { sha?: unknown } };
  head_commit?: { timestamp?: unknown };
}

/** The payload, or an empty one when there is no event file or it cannot be read as JSON. */
function payload(env: NodeJS.ProcessEnv): Payload {
  try {
    return (JSON.parse(readFileSync(env.GITHUB_EVENT_PATH ?? '', 'utf8')) as Payload | null) ?? {};
  } catch {
    return {};
  }
}

/** The head commit of the pull request the event is about; undefined when there is none or the file cannot be read. */
export function pullRequestHead(env: NodeJS.ProcessEnv): string | undefined {
  const sha = payload(env).pull_request?.head?.sha;
  return typeof sha === 'string' ? sha : undefined;
}

/** When a push event's head commit was made, as the payload writes it; undefined on other events. */
export function headCommitTime(env: NodeJS.ProcessEnv): string | undefined {
  const time = payload(env).head_commit?.timestamp;
  return typeof time === 'string' ? time : undefined;
}
