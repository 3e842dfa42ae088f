/**
 * The `chart` input and its companions (`values`, `set`, `release`, `chart-version`): what Helm release to make.
 * Pure apart from reading the chart's own name from a chart directory's Chart.yaml (the default release name).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { load } from 'js-yaml';
import { InputError } from '../lib/errors.js';
import { isRecord } from '../lib/json.js';

/** A Helm release to install or upgrade: where the chart is and what it is given. */
export interface ChartSpec {
  /** A chart directory (as the workflow wrote it, relative to the workspace) or an `oci://` reference. */
  chart: string;
  /** `oci://...`: pulled by helm; else a directory of the workspace. */
  remote: boolean;
  /** Values files, in order (relative to the workspace). */
  values: string[];
  /** `KEY=VALUE` lines, given to helm as `--set`. */
  set: string[];
  /** The release name: the input `release`, else the chart's name. */
  release: string;
  /** `chart-version` ('' for the chart's latest, or a directory's own). */
  version: string;
}

/** Helm's rule for release names (DNS-1123 label, 53 characters). */
const RELEASE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const RELEASE_MAX = 53;

/** The inputs of a chart as the workflow wrote them. */
export interface ChartInputs {
  chart: string;
  values: string[];
  set: string[];
  release: string;
  'chart-version': string;
}

/** The last path segment of an `oci://` reference, without a tag: the chart's name there. */
export function ociChartName(reference: string): string {
  const path = reference.replace(/^oci:\/\//, '').split('@')[0] ?? '';
  const last = path.split('/').pop() ?? '';
  return last.split(':')[0] ?? '';
}

/** The name in a chart directory's Chart.yaml (undefined when there is none to read). */
export function chartDirectoryName(dir: string): string | undefined {
  const file = join(dir, 'Chart.yaml');
  if (!existsSync(file)) return undefined;
  const doc = load(readFileSync(file, 'utf8'));
  return isRecord(doc) && typeof doc.name === 'string' ? doc.name : undefined;
}

/** Checks the chart inputs against the workspace and fills in the release name. */
export function chartSpec(inputs: ChartInputs, workspace: string): ChartSpec {
  const chart = inputs.chart.trim();
  const remote = chart.startsWith('oci://');
  const inWorkspace = (path: string): string => (isAbsolute(path) ? path : join(workspace, path));
  let name: string | undefined;
  if (remote) {
    name = ociChartName(chart);
  } else {
    const dir = inWorkspace(chart);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      throw new InputError(
        'chart',
        `"${chart}" is not a directory of the workspace; give a chart directory (with Chart.yaml) or an oci:// reference.`,
      );
    }
    name = chartDirectoryName(dir);
    if (name === undefined) {
      throw new InputError('chart', `"${chart}" has no Chart.yaml with a name; point it at the chart's own directory.`);
    }
    if (inputs['chart-version'] !== '') {
      throw new InputError(
        'chart-version',
        `is set, but "${chart}" is a chart directory (its version is its Chart.yaml's); leave chart-version out, or use an oci:// chart.`,
      );
    }
  }
  for (const file of inputs.values) {
    if (!existsSync(inWorkspace(file))) {
      throw new InputError('values', `"${file}" is not a file of the workspace; list values files one per line.`);
    }
  }
  const release = inputs.release.trim() || name;
  if (!RELEASE.test(release) || release.length > RELEASE_MAX) {
    throw new InputError(
      inputs.release.trim() ? 'release' : 'chart',
      `"${release}" is not a valid release name (lower case letters, digits and "-", at most ${RELEASE_MAX}); set release.`,
    );
  }
  return {
    chart: remote ? chart : inWorkspace(chart),
    remote,
    values: inputs.values.map(inWorkspace),
    set: inputs.set,
    release,
    version: inputs['chart-version'],
  };
}
