/**
 * Rendering the report as GitHub-flavoured markdown, for the job summary and the PR comment. Every piece of text
 * that comes from the cluster or the build (event messages, log lines, names) is escaped, because it is written
 * by whoever controls the image: it must not inject HTML, markdown or @mentions. Output is bounded.
 */
import type { Evidence } from './evidence.js';
import type { Report } from './report.js';
import type { TargetReport } from './rollout.js';

/** Limits: the job summary takes up to 1 MiB, a PR comment up to 65,536 characters. */
export const SUMMARY_LIMIT = 512 * 1024;
export const COMMENT_LIMIT = 60_000;
const LINE_LIMIT = 400;

/** Escapes text for HTML and markdown, and breaks @mentions and #references so they ping nobody. */
export function escapeText(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/[\\`*_[\]|~]/g, (c) => `&#${c.charCodeAt(0)};`)
    .replace(/@/g, '&#64;')
    .replace(/#(?=\d)/g, '&#35;')
    .replace(/\r?\n/g, ' ');
}

/** Escapes a log line for a <pre> block: HTML only (markdown is not rendered there), mentions still broken. */
export function escapePre(line: string): string {
  const clipped = line.length > LINE_LIMIT ? `${line.slice(0, LINE_LIMIT)}… (line cut)` : line;
  return clipped.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/@/g, '&#64;');
}

export function shortDigest(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}

/** `repo:tag@sha256:abc...` shown as `repo:tag@abc123456789`. */
export function shortReference(reference: string): string {
  const at = reference.indexOf('@');
  return at < 0 ? reference : `${reference.slice(0, at)}@${shortDigest(reference.slice(at + 1))}`;
}

const HEADLINES: Record<Report['result'], string> = {
  success: '✅ Deployed',
  'rolled-back': '↩️ Rolled back',
  failed: '❌ Deploy failed',
  'no-op': '➖ Already deployed',
  error: '❌ Deploy failed before any change',
};

const OUTCOMES: Record<TargetReport['outcome'], string> = {
  success: '✅ rolled out',
  'no-op': '➖ unchanged',
  failed: '❌ failed',
  'rolled-back': '↩️ restored',
  'rollback-failed': '❌ restore failed',
  interrupted: '⏸️ stopped',
};

function targetRow(t: TargetReport): string {
  const before = [...new Set(Object.values(t.imagesBefore))].map((i) => `\`${escapeText(shortReference(i))}\``).join('<br>');
  const revision = t.revisionAfter && t.revisionAfter !== t.revisionBefore ? `${t.revisionBefore} → ${t.revisionAfter}` : t.revisionBefore;
  return `| \`${escapeText(t.key)}\` | ${escapeText(t.containers.join(', '))} | ${before} → \`${escapeText(shortReference(t.imageAfter))}\` | ${escapeText(revision)} | ${t.replicas} | ${OUTCOMES[t.outcome]} | ${t.seconds}s |`;
}

function evidenceBlock(e: Evidence, logLines: number): string {
  const parts = [`<details><summary><b>${escapeText(e.target)}</b>: ${escapeText(e.reason)} in pod <code>${escapeText(e.pod || 'none')}</code>${e.container ? ` container <code>${escapeText(e.container)}</code>` : ''}</summary>`, ''];
  parts.push(`${escapeText(e.message)}`, '');
  if (e.lastTermination) {
    const t = e.lastTermination;
    parts.push(`**Last exit:** code ${t.exitCode}${t.reason ? ` (${escapeText(t.reason)})` : ''}${t.message ? `: ${escapeText(t.message)}` : ''}; restarts: ${e.restartCount}`, '');
  }
  if (e.events.length > 0) {
    parts.push('| Event | Count | Message |', '|---|---|---|');
    for (const ev of e.events.slice(0, 15)) parts.push(`| ${escapeText(ev.reason)} | ${ev.count} | ${escapeText(ev.message)} |`);
    if (e.events.length > 15) parts.push(`| … | | ${e.events.length - 15} more events not shown |`);
    parts.push('');
  }
  const lines = e.logs.slice(-logLines);
  if (lines.length > 0) {
    parts.push(`**Last ${lines.length} log lines** (${escapeText(e.logSource)}):`, '', `<pre>${lines.map(escapePre).join('\n')}</pre>`);
  } else {
    parts.push(`*No log lines: ${escapeText(e.logSource)}.*`);
  }
  parts.push('', '</details>');
  return parts.join('\n');
}

export interface RenderOptions {
  limit: number;
  /** Log lines shown per failing pod (the comment shows fewer than the summary). */
  logLines: number;
  /** Hidden marker the sticky comment is found by. */
  marker?: string;
}

/** Renders the report; when over `limit`, evidence is cut first, and the text says so. */
export function renderReport(report: Report, options: RenderOptions): string {
  const env = report.environment !== 'default' ? ` to ${escapeText(report.environment)}` : '';
  const head: string[] = [];
  if (options.marker) head.push(options.marker);
  head.push(`### ${HEADLINES[report.result]}${env}`, '');
  const facts = [`\`${escapeText(shortReference(report.reference || report.image))}\``];
  if (report.sha) facts.push(`commit \`${report.sha.slice(0, 7)}\``);
  facts.push(`${report.durationSeconds}s`);
  if (report.environmentUrl) facts.push(`[${escapeText(report.environmentUrl)}](${encodeURI(report.environmentUrl)})`);
  if (report.runUrl) facts.push(`[workflow run](${report.runUrl})`);
  head.push(facts.join(' · '), '');
  if (report.failureReason) head.push(`> **Why:** ${escapeText(report.failureReason)}`, '');
  if (report.rollbackError) head.push(`> **Rollback problem:** ${escapeText(report.rollbackError)}`, '');

  const table: string[] = [];
  if (report.targets.length > 0) {
    table.push('| Target | Containers | Image before → after | Revision | Replicas | Result | Time |', '|---|---|---|---|---|---|---|');
    table.push(...report.targets.map(targetRow), '');
  }
  const build: string[] = [];
  if (report.build) {
    const b = report.build;
    const cache = b.totalSteps > 0 ? `${b.cachedSteps}/${b.totalSteps} steps cached` : 'not reported';
    build.push('<details><summary>Build</summary>', '', '| Builder | Build | Push | Cache | Digest | Tags |', '|---|---|---|---|---|---|');
    build.push(`| ${b.builder} | ${b.buildSeconds}s | ${b.pushSeconds}s | ${cache} | \`${escapeText(report.digest)}\` | ${report.tags.map((t) => `\`${escapeText(t)}\``).join(' ')} |`, '', '</details>', '');
  }
  const restored = report.targets.filter((t) => t.outcome === 'rolled-back');
  const rollback: string[] = [];
  if (restored.length > 0) {
    rollback.push(`**Restored:** ${restored.map((t) => `\`${escapeText(t.key)}\` to revision ${escapeText(t.revisionBefore)} (now ${escapeText(t.revisionAfter)})`).join(', ')}`, '');
  }
  const fixed = [...head, ...table, ...rollback, ...build].join('\n');
  let evidence = report.evidence.map((e) => evidenceBlock(e, options.logLines));
  const note = (n: number): string => `\n*${n} evidence section(s) cut to stay within GitHub's size limit; the job log has them all.*\n`;
  let body = `${fixed}\n${evidence.join('\n\n')}\n`;
  while (body.length > options.limit && evidence.length > 0) {
    evidence = evidence.slice(0, -1);
    body = `${fixed}\n${evidence.join('\n\n')}\n${note(report.evidence.length - evidence.length)}`;
  }
  if (body.length > options.limit) body = `${body.slice(0, options.limit - 80)}\n\n*Report cut to stay within GitHub's size limit.*\n`;
  return body;
}
