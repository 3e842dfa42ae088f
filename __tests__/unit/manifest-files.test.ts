import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MANIFEST_FILE_LIMIT, readManifestFiles, workspaceDirectory } from '../../src/desired/manifest-files.js';

const configMap = 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: a }\n';

describe('readManifestFiles', () => {
  let dir: string;
  let workspace: string;
  let outside: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'manifest-files-'));
    workspace = join(dir, 'workspace');
    outside = join(dir, 'outside');
    mkdirSync(join(workspace, 'k8s'), { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(workspace, 'k8s', 'a.yaml'), configMap);
    writeFileSync(join(workspace, 'k8s', 'b.yml'), configMap);
    writeFileSync(join(outside, 'secret.yaml'), 'stolen: true\n');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads files, directories and globs inside the workspace, named relative to it', () => {
    symlinkSync(join(workspace, 'k8s', 'a.yaml'), join(workspace, 'link.yaml'));
    expect(readManifestFiles(['k8s', 'link.yaml', 'k8s/*.yml'], workspace).map((f) => f.file)).toEqual([
      'k8s/a.yaml',
      'k8s/b.yml',
    ]);
  });

  it.each([
    [() => join(outside, 'secret.yaml'), 'is an absolute path; name the file relative to the workspace'],
    [() => '../outside/secret.yaml', 'leaves the workspace with ".."; name a file inside the workspace'],
    [() => 'k8s/../../outside/*.yaml', 'leaves the workspace with ".."'],
  ])('refuses a line that leaves the workspace: %#', (line, message) => {
    expect(() => readManifestFiles([line()], workspace)).toThrow(
      `Input "manifests": ${JSON.stringify(line())} ${message}`,
    );
  });

  it('refuses a symlink, named or found by a glob or in a directory, that leads out of the workspace', () => {
    symlinkSync(join(outside, 'secret.yaml'), join(workspace, 'k8s', 'c.yaml'));
    symlinkSync(outside, join(workspace, 'elsewhere'));
    const refused = 'leads outside the workspace';
    expect(() => readManifestFiles(['k8s/c.yaml'], workspace)).toThrow(`"k8s/c.yaml" ${refused}`);
    expect(() => readManifestFiles(['k8s/*.yaml'], workspace)).toThrow(`"k8s/c.yaml" ${refused}`);
    expect(() => readManifestFiles(['k8s'], workspace)).toThrow(`"k8s/c.yaml" ${refused}`);
    expect(() => readManifestFiles(['elsewhere'], workspace)).toThrow(`"elsewhere" ${refused}`);
    expect(() => readManifestFiles(['elsewhere/secret.yaml'], workspace)).toThrow(refused);
  });

  it('refuses a glob whose braces lead out of the workspace', () => {
    expect(() => readManifestFiles(['{..,k8s}/outside/*.yaml'], workspace)).toThrow(
      '"../outside/secret.yaml" leads outside the workspace',
    );
  });

  it('refuses a symlink to nothing, naming it', () => {
    symlinkSync(join(workspace, 'gone.yaml'), join(workspace, 'k8s', 'dangling.yaml'));
    expect(() => readManifestFiles(['k8s'], workspace)).toThrow(
      '"k8s/dangling.yaml" is a symlink to nothing; fix or remove the link.',
    );
  });

  it('escapes a path it names: a newline cannot start a workflow command', () => {
    expect(() => readManifestFiles(['x\n::error::forged'], workspace)).toThrow(
      'Input "manifests": "x\\n::error::forged" does not exist',
    );
  });

  it('refuses a file over the limit per file, and files over the total, naming the limits', () => {
    writeFileSync(join(workspace, 'big.yaml'), 'a'.repeat(MANIFEST_FILE_LIMIT + 1));
    expect(() => readManifestFiles(['big.yaml'], workspace)).toThrow(
      '"big.yaml" is 1048577 bytes, over the limit of 1 MiB per manifest file; split it into smaller files.',
    );
    for (let i = 0; i < 9; i++) writeFileSync(join(workspace, `part-${i}.yaml`), 'a'.repeat(MANIFEST_FILE_LIMIT));
    expect(() => readManifestFiles(['part-*.yaml'], workspace)).toThrow(
      '"part-8.yaml" brings the manifests to 9437184 bytes, over the limit of 8 MiB for all manifest files together',
    );
  });
});

describe('workspaceDirectory', () => {
  let dir: string;
  let workspace: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'workspace-dir-'));
    workspace = join(dir, 'workspace');
    mkdirSync(join(workspace, 'k8s', 'overlays', 'prod'), { recursive: true });
    mkdirSync(join(dir, 'outside'));
    writeFileSync(join(workspace, 'k8s', 'kustomization.yaml'), '');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('gives where a directory inside the workspace really is, and how the workflow named it', () => {
    symlinkSync(join(workspace, 'k8s', 'overlays', 'prod'), join(workspace, 'prod'));
    expect(workspaceDirectory('kustomize', 'prod/', workspace)).toEqual({
      real: join(workspace, 'k8s', 'overlays', 'prod'),
      shown: 'prod',
    });
    expect(workspaceDirectory('kustomize', '.', workspace).shown).toBe('.');
  });

  it.each([
    ['/etc', 'is an absolute path'],
    ['k8s/../../outside', 'leaves the workspace with ".."'],
    ['out', 'leads outside the workspace'],
    ['k8s/overlays/staging', 'does not exist'],
    ['k8s/kustomization.yaml', 'is not a directory; name the directory that holds it.'],
  ])('refuses %s, naming the input', (line, message) => {
    symlinkSync(join(dir, 'outside'), join(workspace, 'out'));
    expect(() => workspaceDirectory('kustomize', line, workspace)).toThrow(
      `Input "kustomize": ${JSON.stringify(line)} ${message}`,
    );
  });
});
