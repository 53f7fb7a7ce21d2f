// Validates examples/kubernetes/pod.yaml against the Kubernetes Pod schema, with no cluster:
//
//   node scripts/docker/validate-pod.mjs --modules DIR [FILE]
//
// DIR holds node_modules with three packages from the npm registry, installed by run.sh at pinned
// versions (not dependencies of this package):
//   kubernetes-models       the Kubernetes OpenAPI schemas compiled to validators (ajv): types,
//                           formats and required properties of every object in the Pod
//   @kubernetes/client-node the official client, generated from the same OpenAPI document: its
//                           models' attribute maps list every field an object may have, which
//                           the check below uses to refuse unknown fields (what kubectl's
//                           --validate=strict and kubeconform -strict refuse; the OpenAPI
//                           schemas alone let them through)
//   yaml                    the parser
// Each check is also run on copies of the manifest broken on purpose (a misspelt field, a string
// for an integer, a missing required field), which must be refused: the validators are live.
// Prints `pod.yaml: N passed, M failed`; exit 1 if anything failed.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const { values, positionals } = parseArgs({ options: { modules: { type: 'string' } }, allowPositionals: true });
if (!values.modules) {
  console.error('validate-pod: --modules DIR is required');
  process.exit(2);
}
const file = positionals[0] ?? path.join(ROOT, 'examples/kubernetes/pod.yaml');
const require = createRequire(path.join(path.resolve(values.modules), 'package.json'));
const { parseAllDocuments } = require('yaml');
const { Pod } = require('kubernetes-models/v1/Pod');
const k8s = require('@kubernetes/client-node');

/** The OpenAPI schema check: a list of messages, empty when the Pod is valid. */
function schemaErrors(object) {
  try {
    new Pod(object).validate();
    return [];
  } catch (error) {
    return error.message.split(', ');
  }
}

/**
 * Fields the models do not know, and values of the wrong primitive type, walking `value` as
 * model `type` (a class name of the client, `Array<T>`, `{ [key: string]: T; }` or a primitive).
 */
function strictErrors(value, type, where = '') {
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (!Array.isArray(value)) return [`${where || '/'} must be an array`];
    return value.flatMap((item, index) => strictErrors(item, array[1], `${where}/${index}`));
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${where} must be a map`];
    return Object.entries(value).flatMap(([key, item]) => strictErrors(item, map[1], `${where}/${key}`));
  }
  const primitive = { string: 'string', number: 'number', boolean: 'boolean' }[type];
  if (primitive) return typeof value === primitive ? [] : [`${where} must be a ${primitive}`];
  if (type === 'IntOrString') return Number.isInteger(value) || typeof value === 'string' ? [] : [`${where} must be an integer or a string`];
  if (type === 'any' || type === 'object') return [];
  const model = k8s[type];
  if (typeof model?.getAttributeTypeMap !== 'function') return [`${where}: no model ${type} in @kubernetes/client-node`];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${where || '/'} must be an object (${type})`];
  const fields = new Map(model.getAttributeTypeMap().map((attribute) => [attribute.baseName, attribute.type]));
  return Object.entries(value).flatMap(([key, item]) =>
    fields.has(key) ? strictErrors(item, fields.get(key), `${where}/${key}`) : [`${where}/${key} is not a field of ${type}`],
  );
}

const validate = (object) => [...schemaErrors(object), ...strictErrors(object, 'V1Pod')];

const results = { passed: 0, failed: 0 };
function check(name, ok, detail = '') {
  if (ok) results.passed += 1;
  else results.failed += 1;
  console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? ` (${detail})` : ''}`);
}

const documents = parseAllDocuments(readFileSync(file, 'utf8'));
const parseErrors = documents.flatMap((document) => document.errors.map((error) => error.message));
check(`${path.relative(ROOT, file)} parses as one YAML document`, documents.length === 1 && parseErrors.length === 0, parseErrors.join('; '));
const pod = documents[0].toJS();
check('it is a v1 Pod', pod.apiVersion === 'v1' && pod.kind === 'Pod', `${pod.apiVersion} ${pod.kind}`);
const errors = validate(pod);
check('it is valid against the Pod schema (types, required fields) with no unknown field', errors.length === 0, errors.join('; '));

// Controls: each copy is broken in one place, and must be refused for that place.
const broken = [
  ['a misspelt field (readOnlyRootFileSystem)', (copy) => { copy.spec.containers[0].securityContext.readOnlyRootFileSystem = true; }, /readOnlyRootFileSystem is not a field/],
  ['a string where an integer goes (runAsUser: "1000")', (copy) => { copy.spec.securityContext.runAsUser = '1000'; }, /runAsUser must be (integer|a number)/],
  ['a missing required field (a volumeMount without mountPath)', (copy) => { delete copy.spec.containers[1].volumeMounts[0].mountPath; }, /required property mountPath/],
  ['an unknown field in the emptyDir (medium spelt mediun)', (copy) => { copy.spec.volumes[0].emptyDir.mediun = copy.spec.volumes[0].emptyDir.medium; }, /mediun is not a field/],
];
for (const [what, breakIt, expected] of broken) {
  const copy = structuredClone(pod);
  breakIt(copy);
  const found = validate(copy);
  check(`control: ${what} is refused`, found.some((message) => expected.test(message)), found.join('; ') || 'accepted');
}
console.log(`pod.yaml: ${results.passed} passed, ${results.failed} failed`);
process.exit(results.failed > 0 ? 1 : 0);
