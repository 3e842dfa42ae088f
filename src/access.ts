/**
 * The permissions a deploy needs in each namespace: what preflight checks with SelfSubjectAccessReview, what the
 * README's Role grants and what the test bed grants its deployer (a unit test keeps the three equal). Plain data,
 * so tests and the bench can read it without loading the action.
 */
import type { AccessCheck } from './kube.js';

export const REQUIRED_ACCESS: AccessCheck[] = [
  { verb: 'get', group: 'apps', resource: 'deployments' },
  { verb: 'patch', group: 'apps', resource: 'deployments' },
  { verb: 'list', group: 'apps', resource: 'deployments' },
  { verb: 'watch', group: 'apps', resource: 'deployments' },
  { verb: 'list', group: 'apps', resource: 'replicasets' },
  { verb: 'watch', group: 'apps', resource: 'replicasets' },
  { verb: 'list', group: '', resource: 'pods' },
  { verb: 'watch', group: '', resource: 'pods' },
  { verb: 'list', group: '', resource: 'events' },
  { verb: 'get', group: '', resource: 'pods', subresource: 'log' },
];
