/**
 * Renders the job summary and the PR comment of the sample reports (success, rolled back, no-op, preview) the way GitHub
 * shows them (GFM by `marked`, GitHub's styles from `github-markdown-css`), screenshots each in Debian's headless
 * Chromium and writes docs/*.png. Offline: the page loads nothing but itself.
 *
 *   node_modules/.bin/node --experimental-transform-types --import ./scripts/ts-hooks.mjs scripts/screenshots.ts [--keep-html]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { marked } from 'marked';
import { noOpReport, previewReport, rolledBackReport, successReport } from '../__tests__/fixtures/reports.js';
import { COMMENT_LIMIT, renderReport, SUMMARY_LIMIT } from '../src/report/markdown.js';
import { COMMENT_LOG_LINES, commentMarker } from '../src/report/publish.js';
import type { Report } from '../src/report/report.js';

const ROOT = resolve(import.meta.dirname, '..');
const DOCS = join(ROOT, 'docs');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const CSS = readFileSync(join(ROOT, 'node_modules/github-markdown-css/github-markdown-light.css'), 'utf8');

interface Shot {
  name: string;
  kind: 'comment' | 'summary';
  report: Report;
}

const SHOTS: Shot[] = [
  { name: 'success', kind: 'comment', report: successReport() },
  { name: 'rolled-back', kind: 'comment', report: rolledBackReport() },
  { name: 'no-op', kind: 'comment', report: noOpReport() },
  { name: 'preview', kind: 'comment', report: previewReport() },
  { name: 'success', kind: 'summary', report: successReport() },
  { name: 'rolled-back', kind: 'summary', report: rolledBackReport() },
  { name: 'no-op', kind: 'summary', report: noOpReport() },
  { name: 'preview', kind: 'summary', report: previewReport() },
];

const FRAME_CSS = `
  body { margin: 0; padding: 24px; background: #f6f8fa; font-family: -apple-system, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif; }
  .frame { background: #fff; border: 1px solid #d1d9e0; border-radius: 6px; overflow: hidden; }
  .frame-head { display: flex; gap: 8px; align-items: center; padding: 8px 16px; background: #f6f8fa; border-bottom: 1px solid #d1d9e0;
    font-size: 14px; color: #59636e; }
  .frame-head b { color: #1f2328; }
  .avatar { width: 20px; height: 20px; border-radius: 4px; background: #2f81f7; color: #fff; font-size: 12px; display: inline-flex;
    align-items: center; justify-content: center; font-weight: 600; }
  .badge { border: 1px solid #d1d9e0; border-radius: 2em; padding: 0 7px; font-size: 12px; }
  .markdown-body { padding: 16px 24px; font-size: 14px; }
  .page { display: inline-block; }
  .caption { margin: 0 0 10px; font-size: 12px; color: #59636e; }
`;

function page(shot: Shot, markdown: string): string {
  // The evidence and a preview's changed fields are collapsed on GitHub; the picture shows them opened, as after a click.
  const opened = shot.report.result === 'preview' ? /<details>/g : /<details><summary><b>/g;
  const html = (marked.parse(markdown, { gfm: true, async: false }) as string).replace(opened, (d) =>
    d.replace('<details>', '<details open>'),
  );
  // GitHub renders a `> [!WARNING]` quote as an alert box; marked leaves it a quote.
  const alerted = html.replace(
    /<blockquote>\s*<p>\[!WARNING\]\s*([\s\S]*?)<\/blockquote>/g,
    '<div class="markdown-alert markdown-alert-warning"><p class="markdown-alert-title">⚠️ Warning</p><p>$1</div>',
  );
  const head =
    shot.kind === 'comment'
      ? `<span class="avatar">A</span><b>github-actions</b><span class="badge">bot</span> commented`
      : `<b>deploy</b> summary`;
  const caption =
    shot.report.evidence.length > 0
      ? '<p class="caption">Evidence shown expanded (one click on GitHub).</p>'
      : shot.report.result === 'preview'
        ? '<p class="caption">Changed fields shown expanded (one click each on GitHub).</p>'
        : '';
  const width = shot.kind === 'comment' ? 860 : 1012;
  return `<!doctype html><html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<style>${CSS}</style><style>${FRAME_CSS} .frame { width: ${width}px; }</style></head>
<body><div class="page">${caption}<div class="frame"><div class="frame-head">${head}</div><article class="markdown-body">${alerted}</article></div></div>
<script>const r = document.querySelector('.page').getBoundingClientRect();
document.title = String(Math.ceil(r.bottom + 24)) + 'x' + String(Math.ceil(r.right + 24));</script>
</body></html>`;
}

function chromium(profile: string, args: string[]): string {
  return execFileSync(
    CHROMIUM,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--hide-scrollbars',
      '--force-device-scale-factor=1',
      `--user-data-dir=${profile}`,
      ...args,
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 },
  );
}

function main(): void {
  const work = mkdtempSync(join(tmpdir(), 'kube-ship-shots-'));
  mkdirSync(DOCS, { recursive: true });
  try {
    for (const shot of SHOTS) {
      const markdown =
        shot.kind === 'comment'
          ? renderReport(shot.report, {
              limit: COMMENT_LIMIT,
              logLines: COMMENT_LOG_LINES,
              marker: commentMarker(shot.report.environment),
            })
          : renderReport(shot.report, { limit: SUMMARY_LIMIT, logLines: 50 });
      const file = join(work, `${shot.kind}-${shot.name}.html`);
      writeFileSync(file, page(shot, markdown));
      // First pass measures the page, second takes the picture at that size.
      const profile = mkdtempSync(join(work, 'profile-'));
      const dom = chromium(profile, [
        '--window-size=1100,800',
        '--virtual-time-budget=2000',
        '--dump-dom',
        `file://${file}`,
      ]);
      const size = /<title>(\d+)x(\d+)<\/title>/.exec(dom);
      if (!size) throw new Error(`could not measure ${file}`);
      const png = join(DOCS, `${shot.kind}-${shot.name}.png`);
      chromium(profile, [
        `--window-size=${Number(size[2])},${Number(size[1])}`,
        `--screenshot=${png}`,
        `file://${file}`,
      ]);
      console.log(`${png} (${size[2]}x${size[1]})`);
    }
  } finally {
    if (process.argv.includes('--keep-html')) console.log(`HTML kept in ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

main();
