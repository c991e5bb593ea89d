// Generates hashing.json: reference values for app/src/domain/hashing.rs, computed in JavaScript so that string
// handling is exactly the JavaScript SDK's (`charCodeAt`, UTF-16 code units).
// The inputs are those of GrowthBook's SDK spec cases (growthbook/growthbook, packages/sdk-js/test/cases.json,
// specVersion 0.8.0: sections hash, getBucketRange, chooseVariation, inNamespace, getEqualWeights), whose expected
// values this script reproduces; non-ASCII ids are added because the spec has none.
// Run: node app/tests/vectors/hashing.mjs > app/tests/vectors/hashing.json
function fnv1a32(str) {
  let h = 0x811c9dc5;
  for (let i = 0; i < str.length; i++) {
    h ^= str.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function hash(seed, value, version) {
  if (version === 2) return (fnv1a32(fnv1a32(seed + value) + '') % 10000) / 10000;
  if (version === 1) return (fnv1a32(value + seed) % 1000) / 1000;
  return null;
}

function equalWeights(n) {
  return n <= 0 ? [] : new Array(n).fill(1 / n);
}

function bucketRanges(n, coverage, weights) {
  coverage = Math.min(1, Math.max(0, coverage));
  const equal = equalWeights(n);
  weights = weights || equal;
  if (weights.length !== n) weights = equal;
  const total = weights.reduce((a, b) => a + b, 0);
  if (total < 0.99 || total > 1.01) weights = equal;
  let cumulative = 0;
  return weights.map((w) => {
    const start = cumulative;
    cumulative += w;
    return [start, start + coverage * w];
  });
}

function chooseVariation(n, ranges) {
  return ranges.findIndex(([start, end]) => n >= start && n < end);
}

function inNamespace(id, [name, start, end]) {
  const n = hash('__' + name, id, 1);
  return n >= start && n < end;
}

const hashInputs = [
  ['', 'a', 1], ['', 'b', 1], ['b', 'a', 1], ['ef', 'd', 1], ['asdf', '8952klfjas09ujk', 1], ['', '123', 1],
  ['', '___)((*":&', 1], ['seed', 'a', 2], ['seed', 'b', 2], ['foo', 'ab', 2], ['foo', 'def', 2],
  ['89123klj', '8952klfjas09ujkasdf', 2], ['90850943850283058242805', '123', 2], ['()**(%$##$%#$#', '___)((*":&', 2],
  ['abc', 'def', 99],
  // Non-ASCII: accented Latin (one UTF-16 unit, two UTF-8 bytes), CJK, and an emoji (a surrogate pair).
  ['exp', 'josé', 1], ['exp', 'josé', 2], ['checkout', 'ユーザー42', 2], ['checkout', '用户', 1],
  ['😀seed', 'user-😀', 2], ['seed', 'Zoë Ångström', 2], ['', 'ü', 1],
];
const rangeInputs = [
  ['normal 50/50', [2, 1, null]], ['reduced coverage', [2, 0.5, null]], ['zero coverage', [2, 0, null]],
  ['4 variations', [4, 1, null]], ['uneven weights', [2, 1, [0.4, 0.6]]],
  ['uneven weights, 3 variations', [3, 1, [0.2, 0.3, 0.5]]],
  ['uneven weights, reduced coverage, 3 variations', [3, 0.2, [0.2, 0.3, 0.5]]],
  ['negative coverage', [2, -0.2, null]], ['coverage above 1', [2, 1.5, null]],
  ['weights sum below 1', [2, 1, [0.4, 0.1]]], ['weights sum above 1', [2, 1, [0.7, 0.6]]],
  ['weights.length not equal to num variations', [4, 1, [0.4, 0.4, 0.2]]],
  ['weights sum almost equals 1', [2, 1, [0.4, 0.5999]]],
];
const even = [[0, 0.5], [0.5, 1]];
const reduced = [[0, 0.25], [0.5, 0.75]];
const chooseInputs = [
  ['even range, 0.2', 0.2, even], ['even range, 0.4', 0.4, even], ['even range, 0.6', 0.6, even],
  ['even range, 0.8', 0.8, even], ['even range, 0', 0, even], ['even range, 0.5', 0.5, even],
  ['reduced range, 0.2', 0.2, reduced], ['reduced range, 0.4', 0.4, reduced], ['reduced range, 0.6', 0.6, reduced],
  ['reduced range, 0.8', 0.8, reduced], ['reduced range, 0.25', 0.25, reduced], ['reduced range, 0.5', 0.5, reduced],
  ['zero range', 0.5, [[0, 0.5], [0.5, 0.5], [0.5, 1]]],
];
const namespaceInputs = [];
for (const user of ['1', '2', '3', '4', 'josé', '😀']) {
  for (const ns of ['namespace1', 'namespace2']) {
    namespaceInputs.push([`user ${user}, ${ns}, 1`, user, [ns, 0, 0.4]]);
    namespaceInputs.push([`user ${user}, ${ns}, 2`, user, [ns, 0.4, 1]]);
  }
}

const round = (x, digits) => Number(x.toFixed(digits));
console.log(JSON.stringify({
  generator: 'app/tests/vectors/hashing.mjs',
  hash: hashInputs.map(([s, v, ver]) => [s, v, ver, hash(s, v, ver)]),
  getBucketRange: rangeInputs.map(([name, [n, c, w]]) => [name, [n, c, w], bucketRanges(n, c, w).map(([a, b]) => [round(a, 6), round(b, 6)])]),
  chooseVariation: chooseInputs.map(([name, n, ranges]) => [name, n, ranges, chooseVariation(n, ranges)]),
  inNamespace: namespaceInputs.map(([name, id, ns]) => [name, id, ns, inNamespace(id, ns)]),
  getEqualWeights: [-1, 0, 1, 2, 3, 4].map((n) => [n, equalWeights(n)]),
}, null, 1));
