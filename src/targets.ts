/**
 * Deployment targets: parsing the `deployments` input and choosing which containers of a pod template get the new
 * image. A target that matches no container is an error: silently deploying nothing (or adding a container, as a
 * strategic merge patch with a wrong name does) is what users of other tools get bitten by.
 */
import { InputError } from './errors.js';
import { imageRepository } from './image-ref.js';

export interface TargetSpec {
  /** Namespace given on the line, or undefined to use the `namespace` input / context default. */
  namespace: string | undefined;
  name: string;
  /** Containers named on the line; empty means "every container whose image repository equals `image`". */
  containers: string[];
}

export interface Target {
  namespace: string;
  name: string;
  containers: string[];
}

export interface TemplateContainer {
  name: string;
  image?: string;
}

export interface ChosenContainer {
  kind: 'containers' | 'initContainers';
  index: number;
  name: string;
  image: string;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** Parses one line of `deployments`: `NAME`, `NAMESPACE/NAME`, each optionally followed by `:C1,C2`. */
export function parseTarget(line: string): TargetSpec {
  const fix = 'write NAME or NAMESPACE/NAME, optionally followed by :CONTAINER[,CONTAINER...]';
  const [ref = '', containerList, extra] = line.split(':');
  if (extra !== undefined) throw new InputError('deployments', `"${line}" has more than one ":"; ${fix}.`);
  const parts = ref.trim().split('/');
  if (parts.length > 2) throw new InputError('deployments', `"${line}" has more than one "/"; ${fix}.`);
  const name = (parts.length === 2 ? parts[1] : parts[0])?.trim() ?? '';
  const namespace = parts.length === 2 ? parts[0]?.trim() : undefined;
  if (!DNS_SUBDOMAIN.test(name) || name.length > 253) {
    throw new InputError('deployments', `"${line}": "${name}" is not a valid Deployment name; ${fix}.`);
  }
  if (namespace !== undefined && (!DNS_LABEL.test(namespace) || namespace.length > 63)) {
    throw new InputError('deployments', `"${line}": "${namespace}" is not a valid namespace; ${fix}.`);
  }
  const containers =
    containerList === undefined
      ? []
      : containerList
          .split(',')
          .map((c) => c.trim())
          .filter((c) => c !== '');
  if (containerList !== undefined && containers.length === 0) {
    throw new InputError('deployments', `"${line}" has ":" but no container names; ${fix}.`);
  }
  for (const c of containers) {
    if (!DNS_LABEL.test(c)) throw new InputError('deployments', `"${line}": "${c}" is not a valid container name.`);
  }
  return { namespace, name, containers };
}

/** Gives every target its namespace and rejects the same Deployment listed twice. */
export function resolveTargets(specs: TargetSpec[], defaultNamespace: string): Target[] {
  const seen = new Set<string>();
  return specs.map((spec) => {
    const target = { namespace: spec.namespace ?? defaultNamespace, name: spec.name, containers: spec.containers };
    const key = targetKey(target);
    if (seen.has(key)) throw new InputError('deployments', `"${key}" is listed twice; list each Deployment once.`);
    seen.add(key);
    return target;
  });
}

export function targetKey(target: { namespace: string; name: string }): string {
  return `${target.namespace}/${target.name}`;
}

/**
 * Chooses the containers of a pod template that get the new image: the named ones (each must exist), or, when
 * none are named, every container and initContainer whose image repository equals `image`.
 */
export function chooseContainers(
  target: Target,
  template: { containers: TemplateContainer[]; initContainers?: TemplateContainer[] },
  image: string,
): ChosenContainer[] {
  const all: ChosenContainer[] = [
    ...template.containers.map((c, index) => ({
      kind: 'containers' as const,
      index,
      name: c.name,
      image: c.image ?? '',
    })),
    ...(template.initContainers ?? []).map((c, index) => ({
      kind: 'initContainers' as const,
      index,
      name: c.name,
      image: c.image ?? '',
    })),
  ];
  const key = targetKey(target);
  const names = all.map((c) => c.name).join(', ');
  if (target.containers.length > 0) {
    return target.containers.map((name) => {
      const found = all.find((c) => c.name === name);
      if (!found) {
        throw new InputError(
          'deployments',
          `${key} has no container "${name}" (it has: ${names}); name one of its containers or leave the name out.`,
        );
      }
      return found;
    });
  }
  const repository = imageRepository(image);
  const chosen = all.filter((c) => imageRepository(c.image) === repository);
  if (chosen.length === 0) {
    const images = all.map((c) => `${c.name}=${c.image}`).join(', ');
    throw new InputError(
      'deployments',
      `no container of ${key} runs an image from ${image} (it has: ${images}); ` +
        `name the containers as ${key}:CONTAINER, or fix "image".`,
    );
  }
  return chosen;
}
