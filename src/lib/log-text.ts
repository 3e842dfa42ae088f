/**
 * Text from the cluster or the deployed app, made safe for the job log. The runner executes a stdout line that
 * starts (after spaces) with `::` as a workflow command, so a pod's termination message could forge an
 * annotation, mask words or silence kube-ship's own failure. Every line printed is flattened to one line without
 * control or bidi characters, never starts with `::` and never holds `##[`; multi-line evidence goes between `::stop-commands::`
 * markers with a token the pod cannot guess.
 */
import { randomUUID } from 'node:crypto';
import { charactersCut, clip } from './text.js';

/** C0 and C1 controls (tab kept), DEL, and the bidi embedding, override and isolate characters. */
// eslint-disable-next-line no-control-regex
export const UNSAFE_CHARACTERS = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)/g;

/** Longest line printed: a 1 MiB log line must not become a 1 MiB log line. */
export const LOG_LINE_LIMIT = 4000;

/** Terminal colours, C0/C1 controls (tab and newline kept) and bidi characters removed: for the log and reports. */
export function stripControls(text: string): string {
  return text.replace(ANSI, '').replace(UNSAFE_CHARACTERS, '');
}

/** One line of log text: newlines shown as ⏎, unsafe characters dropped, cut at LOG_LINE_LIMIT, never a command. */
export function logLine(text: string): string {
  const flat = stripControls(text.replace(/\r?\n|\r/g, ' ⏎ '));
  const cut = clip(flat, LOG_LINE_LIMIT, charactersCut);
  // The runner also reads the old `##[command]` form anywhere in a line: a zero-width space breaks it.
  const inert = cut.replace(/##\[/g, '##\u200b[');
  return /^\s*::/.test(inert) ? `» ${inert}` : inert;
}

/**
 * The message of a workflow command (a warning, an error, the step's failure, a debug line): each of its lines
 * made safe as `logLine` makes a line. The newlines stay: the command's own escaping keeps them inside it, and a
 * multi-line failure reads as one.
 */
export function logMessage(text: string): string {
  return text
    .split(/\r?\n|\r/)
    .map(logLine)
    .join('\n');
}

/** Lines printed between `::stop-commands::TOKEN` and `::TOKEN::`: the runner executes none of them. */
export function fenced(lines: string[], token: string = randomUUID().replace(/-/g, '')): string[] {
  return [`::stop-commands::${token}`, ...lines.map(logLine), `::${token}::`];
}
