/**
 * Rendering the report as GitHub-flavoured markdown, for the job summary and the PR comment. Every piece of text
 * that comes from the cluster or the build (event messages, log lines, names) is escaped, because it is written
 * by whoever controls the image: it must not inject HTML, markdown, @mentions or #references. Output is bounded:
 * log lines are dropped first, then whole evidence sections, then target rows, and the text says what was cut.
 */
import type { Evidence } from '../deploy/evidence.js';
import { formatReference, splitReference } from '../desired/image-ref.js';
import { stripControls } from '../lib/log-text.js';
import { clip } from '../lib/text.js';
import type { CheckReport } from '../deploy/verify.js';
import type { Report } from './report.js';
import type { ObjectReport, TargetReport } from './report.js';
import { changedSince, stampLine, stampOf, unplanned, type SinceItem } from '../preview/since-preview.js';
import type { PlanTarget } from '../preview/preview.js';

/** Limits, in UTF-8 bytes: the job summary takes up to 1 MiB, a PR comment up to 65,536 characters. */
export const SUMMARY_LIMIT = 512 * 1024;
export const COMMENT_LIMIT = 60_000;
/** Longest log line shown, and longest piece of other cluster text (messages, reasons). */
const LINE_LIMIT = 400;
const TEXT_LIMIT = 1_000;
const EVENTS_SHOWN = 15;

/** Size as GitHub counts it: UTF-8 bytes (CJK text takes three per character). */
const bytes = (text: string): number => Buffer.byteLength(text, 'utf8');

const ZERO_WIDTH_SPACE = '&#8203;';

/** What each character that means something to HTML, markdown or GitHub's autolinking becomes. */
const TEXT_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  '\\': '&#92;',
  '`': '&#96;',
  '*': '&#42;',
  _: '&#95;',
  '[': '&#91;',
  ']': '&#93;',
  '|': '&#124;',
  '~': '&#126;',
  '!': '&#33;',
  // GitHub links @mentions and #123 after the markdown is turned into HTML, when entities are already decoded, so
  // only an invisible break stops them: `@org/team` in an event message must ping nobody.
  '@': `@${ZERO_WIDTH_SPACE}`,
  '#': `#${ZERO_WIDTH_SPACE}`,
};

/**
 * Escapes one line of cluster text for markdown, table cells and HTML alike: one pass, so no escape is escaped
 * again. Newlines become spaces; very long text is cut and says so.
 */
export function escapeText(text: string): string {
  return escapeLine(text, /[&<>"\\`*_[\]|~!@#]/g);
}

/** Like `escapeText`, leaving @ and # alone: for <code>, where GitHub links nothing and a digest must copy whole. */
function escapeCode(text: string): string {
  return escapeLine(text, /[&<>"\\`*_[\]|~!]/g);
}

function escapeLine(text: string, special: RegExp): string {
  const flat = stripControls(text.replace(/\s*\r?\n\s*/g, ' '));
  return clip(flat, TEXT_LIMIT, 'cut').replace(special, (c) => TEXT_ESCAPES[c] ?? c);
}

/** Escapes a log line for a <pre> block: HTML only (markdown is not rendered there, nor mentions linked). */
export function escapePre(line: string): string {
  const clean = clip(stripControls(line), LINE_LIMIT, 'line cut');
  return clean.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A link to a URL given by the workflow (http and https only; anything else is shown as text). */
function link(url: string, text: string): string {
  if (!/^https?:\/\//i.test(url)) return escapeText(url);
  const href = url.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '%3C').replace(/>/g, '%3E');
  return `<a href="${href}">${text}</a>`;
}

/** Inline code: an HTML element, because entities are not decoded inside markdown's backtick spans. */
function code(text: string): string {
  return `<code>${escapeCode(text)}</code>`;
}

export function shortDigest(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}

/** `repo:tag@sha256:abc...` shown as `repo:tag@abc123456789`. */
export function shortReference(reference: string): string {
  const parts = splitReference(reference);
  return parts.digest === undefined ? reference : formatReference({ ...parts, digest: shortDigest(parts.digest) });
}

/** A reference of the report's own repository shown as `tag@digest`: the repository is in the header already. */
function imageCell(reference: string, repository: string): string {
  const short = shortReference(reference);
  return code(repository && short.startsWith(`${repository}:`) ? short.slice(repository.length + 1) : short);
}

function headline(report: Report): string {
  const named = report.environment !== 'default';
  const to = named ? ` to ${escapeText(report.environment)}` : '';
  switch (report.result) {
    case 'success':
      return `✅ Deployed${to}`;
    case 'rolled-back':
      return `↩️ Deploy${to} failed and was rolled back`;
    case 'failed':
      return report.rollbackError ? `❌ Deploy${to} failed and the rollback did not finish` : `❌ Deploy${to} failed`;
    case 'no-op':
      return named
        ? `➖ Nothing to deploy: ${escapeText(report.environment)} already runs this image`
        : '➖ Nothing to deploy: already running this image';
    case 'superseded':
      return `⏭️ Deploy${to} superseded: another change took over during the rollout`;
    case 'cancelled':
      return `⏹️ Deploy${to} cancelled${report.targets.some((t) => t.outcome === 'rolled-back') ? ': what it changed was restored' : ''}`;
    case 'error':
      return `❌ Deploy${to} failed before changing anything`;
    case 'preview':
      return previewHeadline(report, to);
  }
}

const OUTCOMES: Record<TargetReport['outcome'], string> = {
  success: '✅&nbsp;rolled&nbsp;out',
  'no-op': '➖&nbsp;unchanged',
  failed: '❌&nbsp;failed',
  'rolled-back': '↩️&nbsp;restored',
  'rollback-failed': '❌&nbsp;restore&nbsp;failed',
  'not-restored': '⚠️&nbsp;left&nbsp;as&nbsp;is',
  superseded: '⏭️&nbsp;superseded',
  interrupted: '⏸️&nbsp;stopped',
};

/** `12.3s`, or `4.1s + 30s bake, 1 restart` when the new pods were baked. */
function timeCell(t: TargetReport): string {
  if (t.rolledOutSeconds === undefined || t.bakedSeconds === undefined || t.bakedSeconds <= 0) {
    return `${t.seconds}s`;
  }
  const restarts = t.restarts ? `, ${t.restarts} restart${t.restarts === 1 ? '' : 's'}` : '';
  return `${t.rolledOutSeconds}s + ${t.bakedSeconds}s bake${restarts}`;
}

function targetRow(t: TargetReport, repository: string): string {
  const before = [...new Set(Object.values(t.imagesBefore))];
  const unchanged = before.length === 1 && before[0] === t.imageAfter;
  const from = before.length === 0 ? 'new' : before.map((i) => imageCell(i, repository)).join('<br>');
  const images = unchanged
    ? `${imageCell(t.imageAfter, repository)} (unchanged)`
    : `${from} → ${imageCell(t.imageAfter, repository)}`;
  const revision =
    t.revisionAfter && t.revisionAfter !== t.revisionBefore
      ? `${escapeText(t.revisionBefore)} → ${escapeText(t.revisionAfter)}`
      : escapeText(t.revisionBefore);
  const target = t.containers.length > 0 ? `${code(t.key)}<br>${escapeText(t.containers.join(', '))}` : code(t.key);
  return `| ${target} | ${images} | ${revision} | ${t.replicas} | ${OUTCOMES[t.outcome]} | ${timeCell(t)} |`;
}

function evidenceBlock(e: Evidence, logLines: number, logsLeftOut?: string): string {
  const where = `${e.pod ? ` in pod ${code(e.pod)}` : ''}${e.container ? `, container ${code(e.container)}` : ''}`;
  const parts = [`<details><summary><b>${escapeText(e.target)}</b>: ${escapeText(e.reason)}${where}</summary>`, ''];
  if (e.message) parts.push(`**Message:** ${escapeText(e.message)}`, '');
  if (e.lastTermination) {
    const t = e.lastTermination;
    const detail = `${t.reason ? ` (${escapeText(t.reason)})` : ''}${t.message ? `: ${escapeText(t.message)}` : ''}`;
    parts.push(`**Last exit:** code ${t.exitCode}${detail}; restarts: ${e.restartCount}`, '');
  }
  if (e.events.length > 0) {
    parts.push('| Warning | Count | Message |', '|---|---|---|');
    for (const ev of e.events.slice(0, EVENTS_SHOWN))
      parts.push(`| ${escapeText(ev.reason)} | ${ev.count} | ${escapeText(ev.message)} |`);
    if (e.events.length > EVENTS_SHOWN) parts.push(`| … | | ${e.events.length - EVENTS_SHOWN} more events not shown |`);
    parts.push('');
  }
  const lines = logLines > 0 ? e.logs.slice(-logLines) : [];
  if (lines.length > 0) {
    const cut = e.logs.length > lines.length ? `, ${e.logs.length - lines.length} earlier lines cut to fit` : '';
    parts.push(
      `**Last ${lines.length} log lines**, ${escapeText(e.logSource)}${cut}:`,
      '',
      `<pre>${lines.map(escapePre).join('\n')}</pre>`,
    );
  } else if (e.logs.length > 0 && logsLeftOut) {
    parts.push(`*${e.logs.length} log lines ${logsLeftOut}.*`);
  } else if (e.logs.length > 0) {
    parts.push(`*${e.logs.length} log lines cut to fit; the job log has them.*`);
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
  /** Why log lines are left out on purpose (`comment-logs: false`), instead of "cut to fit". */
  logsLeftOut?: string;
}

function headOf(report: Report, marker: string | undefined): string[] {
  const head: string[] = [];
  if (marker) head.push(marker);
  // A preview's comment carries its stamp, for the deploy after the merge to compare with (since-preview.ts).
  if (marker && report.plan) head.push(stampLine(stampOf(report.plan, report.sha)));
  // A deploy's comment keeps the stamp it compared with, so that a re-run of the deploy compares with it too.
  else if (marker && report.sincePreview) head.push(stampLine(report.sincePreview.stamp));
  head.push(`### ${headline(report)}`, '');
  const image = report.reference || report.image;
  const facts = image ? [code(shortReference(image))] : [];
  if (report.sha) facts.push(`commit ${code(report.sha.slice(0, 7))}`);
  facts.push(`${report.durationSeconds}s`);
  if (report.environmentUrl) facts.push(link(report.environmentUrl, escapeText(report.environmentUrl)));
  if (report.runUrl) facts.push(link(report.runUrl, 'workflow run'));
  head.push(facts.join(' · '), '');
  if (report.failureReason) {
    const lines = report.failureReason
      .split(/\r?\n/)
      .filter((l) => l.trim() !== '')
      .slice(0, 20);
    head.push(`> **Why:** ${lines.map(escapeText).join('<br>')}`, '');
  }
  if (report.rollbackError) head.push(`> **Rollback problem:** ${escapeText(report.rollbackError)}`, '');
  return head;
}

/** One line first: how many targets and objects would change, and whether the cluster would refuse any. */
function previewHeadline(report: Report, to: string): string {
  const plan = report.plan;
  if (plan === undefined) return `🔍 Preview of the deploy${to}`;
  const changing =
    plan.targets.filter((t) => !t.noop).length + plan.objects.filter((o) => o.action !== 'unchanged').length;
  const refused = plan.targets.filter((t) => t.refusal).length + plan.objects.filter((o) => o.refusal).length;
  const what = changing === 0 ? 'nothing would change' : `${changing} change${changing === 1 ? '' : 's'}`;
  return `🔍 Preview of the deploy${to}: ${what}${refused > 0 ? `, ${refused} would fail` : ', the cluster accepts it'}`;
}

const ACTIONS: Record<'create' | 'change' | 'unchanged', string> = {
  create: '🆕&nbsp;would&nbsp;create',
  change: '✏️&nbsp;would&nbsp;change',
  unchanged: '➖&nbsp;unchanged',
};

/**
 * The canary's plan (with `canary`): each target's steps, the pods of the release (a Deployment's in `NAME-canary`,
 * a StatefulSet's at and above the partition) and the stable pods beside them.
 */
function canaryPlanOf(targets: PlanTarget[]): string[] {
  const planned = targets.filter((t) => t.canary !== undefined);
  if (planned.length === 0) return [];
  const out = [
    '**Canary plan**',
    '',
    '| Target | Step | Share | Canary pods | Partition | Stable pods |',
    '|---|---|---|---|---|---|',
  ];
  for (const t of planned) {
    const steps = t.canary ?? [];
    if (steps.length === 0) out.push(`| ${code(t.key)} | | | no canary | | |`);
    steps.forEach((s, i) => {
      const partition = s.partition === undefined ? '' : String(s.partition);
      out.push(
        `| ${code(t.key)} | ${i + 1} | ${escapeText(s.share)} | ${s.canaryPods} | ${partition} | ${s.stablePods} |`,
      );
    });
  }
  out.push('');
  return out;
}

/** The plan of a preview: destructive changes first, then each target and object, details collapsed. */
function planOf(report: Report): string[] {
  const plan = report.plan;
  if (plan === undefined) return [];
  const out: string[] = [];
  if (plan.destructive.length > 0) {
    out.push(`> [!WARNING]`, `> **Destructive:** ${plan.destructive.map(escapeText).join('; ')}`, '');
  }
  out.push(`Plan for commit ${code(report.sha)}: nothing has been changed in the cluster.`, '');
  const verdict = (refusal: string | undefined): string =>
    refusal === undefined ? '✅&nbsp;accepted' : `❌&nbsp;would&nbsp;fail: ${escapeText(refusal)}`;
  if (plan.targets.length > 0) {
    out.push('| Target | Image before → after | resourceVersion | Dry run |', '|---|---|---|---|');
    for (const t of plan.targets) {
      const images = t.noop
        ? `${imageCell(t.containers[0]?.after ?? '', report.image)} (unchanged)`
        : t.containers
            .map(
              (c) =>
                `${escapeText(c.name)}: ${imageCell(c.before, report.image)} → ${imageCell(c.after, report.image)}`,
            )
            .join('<br>');
      out.push(
        `| ${code(t.key)} | ${images} | ${code(t.resourceVersion)} | ${t.noop ? '➖&nbsp;no-op' : verdict(t.refusal)} |`,
      );
    }
    out.push('');
  }
  out.push(...canaryPlanOf(plan.targets));
  if (plan.objects.length > 0) {
    out.push('| Object | From | Would | resourceVersion | Dry run |', '|---|---|---|---|---|');
    for (const o of plan.objects) {
      out.push(
        `| ${code(o.key)} | ${code(o.source)} | ${ACTIONS[o.action]} | ${o.resourceVersion ? code(o.resourceVersion) : ''} | ${verdict(o.refusal)} |`,
      );
    }
    out.push('');
    for (const o of plan.objects.filter((x) => x.changes.length > 0)) {
      out.push(
        `<details><summary>${escapeText(o.key)}: ${o.changes.length} field${o.changes.length === 1 ? '' : 's'}</summary>`,
        '',
      );
      out.push('| Field | Now | After |', '|---|---|---|');
      for (const c of o.changes) {
        // A container's image is shown as in the targets' table: tag and short digest.
        const value = (v: string): string => (c.field.endsWith('.image') ? imageCell(v, report.image) : code(v));
        out.push(`| ${code(c.field)} | ${value(c.before)} | ${value(c.after)} |`);
      }
      out.push('', '</details>', '');
    }
  }
  return out;
}

const SINCE = {
  changed: '⚠️&nbsp;changed since the preview',
  unchanged: '✅&nbsp;as previewed',
  new: '➕&nbsp;not in the preview',
};

/**
 * A deploy that follows a preview: whether the cluster changed each target and object between the two. Anything
 * changed is called out first: the plan the reviewers approved did not hold for it.
 */
function sinceOf(report: Report): string[] {
  const since = report.sincePreview;
  if (since === undefined) return [];
  const items = [...since.targets, ...since.objects];
  const changed = items.filter(changedSince);
  const notPlanned = items.filter(unplanned);
  const of = `the preview of commit ${code(since.sha.slice(0, 7))}`;
  const them = (n: number): string => (n === 1 ? 'it' : 'them');
  const out: string[] = [];
  if (!since.headPreviewed) {
    const head = since.head ? code(since.head.slice(0, 7)) : '(GitHub did not say which)';
    out.push(
      '> [!WARNING]',
      `> **The merged head ${head} was never previewed:** the preview found is of commit ${code(since.sha.slice(0, 7))}. No reviewed plan covers this deploy.`,
      '',
    );
  } else {
    if (changed.length > 0) {
      out.push(
        '> [!WARNING]',
        `> **Changed in the cluster since ${of}:** ${changed.map((i) => code(i.key)).join(', ')}. The plan reviewed did not hold for ${them(changed.length)}.`,
        '',
      );
    }
    if (notPlanned.length > 0) {
      out.push(
        '> [!WARNING]',
        `> **Not in ${of}:** ${notPlanned.map((i) => code(i.key)).join(', ')}. No reviewed plan covers ${them(notPlanned.length)}.`,
        '',
      );
    }
    if (changed.length === 0 && notPlanned.length === 0) {
      out.push(`**Since ${of}:** nothing it planned for was changed in the cluster before this deploy.`, '');
    }
  }
  const version = (v: string | undefined): string => (v === undefined ? '' : v === '' ? '(none)' : code(v));
  const state = (i: SinceItem): string =>
    i.atPreview === undefined ? SINCE.new : changedSince(i) ? SINCE.changed : SINCE.unchanged;
  out.push(
    '| Target or object | resourceVersion at the preview | before this deploy | Since the preview |',
    '|---|---|---|---|',
    ...items.map((i) => `| ${code(i.key)} | ${version(i.atPreview)} | ${version(i.atDeploy)} | ${state(i)} |`),
    '',
  );
  return out;
}

const OBJECT_OUTCOMES: Record<ObjectReport['outcome'], string> = {
  created: '🆕&nbsp;created',
  configured: '✏️&nbsp;configured',
  unchanged: '➖&nbsp;unchanged',
  restored: '↩️&nbsp;restored',
  deleted: '🗑️&nbsp;deleted',
  'not-restored': '⚠️&nbsp;left&nbsp;as&nbsp;is',
};

const CHECK_STATES: Record<CheckReport['state'], string> = {
  passing: '✅&nbsp;passing',
  failing: '⚠️&nbsp;failing',
  failed: '❌&nbsp;failed',
  pending: '⏳&nbsp;not&nbsp;judged',
};

const STEP_RESULTS = { passed: '✅&nbsp;passed', failed: '❌&nbsp;failed', cancelled: '⏹️&nbsp;cancelled' };

/** The canary's steps, each with its share, pods, verdict and time (a failure's text is the cluster's: as code). */
function canaryOf(report: Report): string[] {
  if (report.canary.length === 0) return [];
  const rows = report.canary.map(
    (s, i) =>
      `| ${i + 1} | ${escapeText(s.share)} | ${s.replicas} | ${STEP_RESULTS[s.result]} | ${code(s.message)} | ${s.seconds}s |`,
  );
  const promoted = report.canary.every((s) => s.result === 'passed');
  return [
    '**Canary first**',
    '',
    '| Step | Share | Canary pods | Result | Checks and verdict | Time |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    canaryEnd(report, promoted),
    '',
  ];
}

/** What became of the targets after the steps: a Deployment's canary is its own, a StatefulSet's its own pods. */
function canaryEnd(report: Report, promoted: boolean): string {
  const kinds = new Set(report.targets.map((t) => t.kind));
  const sets = kinds.has('statefulset');
  const lines: string[] = [];
  if (kinds.has('deployment') || !sets) {
    lines.push(
      promoted
        ? 'Every step passed: the stable Deployment was then patched, and the canary deleted.'
        : 'The canary was stopped and deleted; the stable Deployment was not changed.',
    );
  }
  if (sets) {
    lines.push(
      promoted
        ? "Every step passed: the StatefulSet's partition was then put back, and the rest of its pods rolled out."
        : "The canary was stopped: the StatefulSet's template and partition were put back as recorded.",
    );
  }
  return lines.join(' ');
}

/** The checks of `verify` with their last result (what the app said is untrusted: shown as code). */
function checksOf(report: Report): string[] {
  if (report.checks.length === 0) return [];
  const rows = report.checks.map(
    (c) =>
      `| ${escapeText(c.label)} | ${code(c.what)} | ${CHECK_STATES[c.state]} | ${code(c.detail)} | ${c.runs} (${c.failures} failed) |`,
  );
  return [
    '**Checks of what users see** (verify)',
    '',
    '| Check | What | Result | Last run | Runs |',
    '|---|---|---|---|---|',
    ...rows,
    '',
  ];
}

/** The Jobs run before the rollout, each with its end. */
function jobsOf(report: Report): string[] {
  if (report.jobs.length === 0) return [];
  const rows = report.jobs.map(
    (j) =>
      `| ${code(`Job ${j.key}`)} | ${j.outcome === 'complete' ? '✅&nbsp;completed' : `❌&nbsp;${escapeText(j.outcome)}`} | ${code(j.message)} | ${j.seconds}s |`,
  );
  return [
    '**Before the rollout** (pre-deploy)',
    '',
    '| Job | Result | Detail | Time |',
    '|---|---|---|---|',
    ...rows,
    '',
  ];
}

/** What the deploy did to each object of the manifests (names are the manifests' text: shown as code). */
function objectsOf(report: Report): string[] {
  if (report.objects.length === 0) return [];
  const rows = report.objects.map(
    (o) =>
      `| ${code(o.key)} | ${code(o.source)} | ${OBJECT_OUTCOMES[o.outcome]}${o.note ? `: ${escapeText(o.note)}` : ''} |`,
  );
  return ['| Object | From | Result |', '|---|---|---|', ...rows, ''];
}

function restoredOf(report: Report): string[] {
  const restored = report.targets.filter((t) => t.outcome === 'rolled-back');
  const list = restored.map((t) =>
    t.revisionBefore === ''
      ? code(t.key)
      : `${code(t.key)} to revision ${escapeText(t.revisionBefore)} (now ${escapeText(t.revisionAfter)})`,
  );
  const notes = report.targets
    .filter((t) => t.restoreNote)
    .map(
      (t) =>
        `**${t.outcome === 'not-restored' ? 'Not restored' : 'Rollback'}:** ${code(t.key)}: ${escapeText(t.restoreNote ?? '')}`,
    );
  return [
    ...(list.length > 0
      ? [`**Restored:** ${list.join(', ')}: they run the images listed before the arrow again.`, '']
      : []),
    ...notes.flatMap((n) => [n, '']),
  ];
}

/**
 * Where each target is reachable: its Services (type, ports) and the Ingress paths to them, all cluster text, so
 * shown as code and never as links (a host named by the cluster is not one the workflow vouched for).
 */
function reachableOf(report: Report): string[] {
  const lines = report.targets.flatMap((t) => {
    const routes = t.routes;
    if (routes === undefined) return [];
    const note = routes.note === undefined ? '' : ` (${escapeText(routes.note)})`;
    if (routes.services.length === 0) {
      return [
        `- ${code(t.key)}: ${routes.note === undefined ? 'no Service selects its pods' : escapeText(routes.note)}`,
      ];
    }
    const services = routes.services.map(
      (s) =>
        `Service ${code(s.name)} (${escapeText(s.type)}${s.ports.length ? ` ${s.ports.map(code).join(' ')}` : ''})`,
    );
    const ingresses = routes.ingresses.map(
      (i) => `Ingress ${code(i.ingress)} ${code(i.url)} → ${code(`${i.service}:${i.port}`)}`,
    );
    return [`- ${code(t.key)}: ${[...services, ...ingresses].join('; ')}${note}`];
  });
  return lines.length > 0 ? ['**Where it is reachable**', '', ...lines, ''] : [];
}

function buildOf(report: Report): string[] {
  if (!report.build) return [];
  const b = report.build;
  const cache = b.totalSteps > 0 ? `${b.cachedSteps}/${b.totalSteps} steps cached` : 'not reported';
  const tags = report.tags.map(code).join(' ');
  return [
    `<details><summary>Build: ${b.builder}, ${b.buildSeconds}s build, ${b.pushSeconds}s push, ${cache}</summary>`,
    '',
    '| Image | Tags | Digest |',
    '|---|---|---|',
    `| ${code(report.image)} | ${tags} | ${code(report.digest)} |`,
    '',
    '</details>',
    '',
  ];
}

/** The text cut to `limit` UTF-8 bytes (never inside a character), ending with `note`. */
function cutToBytes(text: string, limit: number, note: string): string {
  const room = Math.max(0, limit - bytes(note) - 2);
  const head = Buffer.from(text, 'utf8')
    .subarray(0, room)
    .toString('utf8')
    .replace(/\uFFFD$/, '');
  return `${head}\n${note}`;
}

/** Renders the report; when over `limit`, log lines, then evidence, then target rows are cut, and the text says so. */
export function renderReport(report: Report, options: RenderOptions): string {
  const head = headOf(report, options.marker).join('\n');
  if (report.plan) {
    const body = `${head}\n${[...planOf(report), ...reachableOf(report), ...buildOf(report)].join('\n')}\n`;
    const note = `*Plan cut to stay within GitHub's size limit; the job log and the plan output have it all.*`;
    return bytes(body) <= options.limit ? body : cutToBytes(body, options.limit, note);
  }
  const tail = [
    ...sinceOf(report),
    ...jobsOf(report),
    ...canaryOf(report),
    ...checksOf(report),
    ...objectsOf(report),
    ...restoredOf(report),
    ...reachableOf(report),
    ...buildOf(report),
  ].join('\n');
  const rows = report.targets.map((t) => targetRow(t, report.image));
  const tableHead =
    '| Target | Image before → after | Revision | Replicas | Result | Time |\n|---|---|---|---|---|---|\n';
  const table = (shown: string[]): string => {
    if (rows.length === 0) return '';
    const more = rows.length > shown.length ? `| … | | ${rows.length - shown.length} more targets not shown |\n` : '';
    return `${tableHead}${shown.join('\n')}\n${more}\n`;
  };
  const assemble = (shown: string[], evidence: string[], note: string): string =>
    `${head}\n${table(shown)}${tail}\n${evidence.join('\n\n')}${note ? `\n\n${note}` : ''}\n`;

  // Fewer log lines first, then fewer evidence sections: the first failure is the one that matters most.
  const lineSteps = [...new Set([options.logLines, Math.min(options.logLines, 10), 0])];
  for (const lines of lineSteps) {
    const blocks = report.evidence.map((e) => evidenceBlock(e, lines, options.logsLeftOut));
    for (let kept = blocks.length; kept >= 0; kept--) {
      const dropped = blocks.length - kept;
      const note =
        dropped > 0
          ? `*${dropped} of ${blocks.length} evidence sections cut to stay within GitHub's size limit; the job log has them all.*`
          : '';
      const body = assemble(rows, blocks.slice(0, kept), note);
      if (bytes(body) <= options.limit) return body;
      if (lines !== 0) break;
    }
  }
  // Even without evidence it is too long: show as many targets as fit.
  const note = `*Report cut to stay within GitHub's size limit; the job log has it all.*`;
  let shown = rows.length;
  while (shown > 0 && bytes(assemble(rows.slice(0, shown), [], note)) > options.limit) shown = Math.floor(shown / 2);
  const body = assemble(rows.slice(0, shown), [], note);
  return bytes(body) <= options.limit ? body : cutToBytes(`${head}\n${note}`, options.limit, note);
}
