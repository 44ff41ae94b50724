// Generates the pinned Merkle vectors with OpenZeppelin's own @openzeppelin/merkle-tree.
// Run once (`npm run merkle-vectors`) and commit tests/vectors/merkle.json; the Python tests
// check that laas.anchors.core.merkle produces the same roots and proofs.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';

const here = path.dirname(fileURLToPath(import.meta.url));
const TYPES = ['string', 'bytes32', 'uint256', 'uint256'];

function shard(i) {
  // Deterministic, varied values: unicode keys, zero and large sizes.
  const key = i % 4 === 3 ? `données/shard-${i}.jsonl.gz` : `shard-${String(i).padStart(5, '0')}.jsonl`;
  const hash = '0x' + crypto.createHash('sha256').update(`laas-vector-${i}`).digest('hex');
  return [key, hash, String(i * 1031), String(i === 7 ? 2n ** 64n - 1n : BigInt(i * 17))];
}

const cases = [];
for (const n of [1, 2, 3, 4, 5, 8, 13, 33]) {
  const values = Array.from({ length: n }, (_, i) => shard(i));
  const tree = StandardMerkleTree.of(values, TYPES);
  cases.push({
    n,
    values,
    root: tree.root,
    leaves: values.map((v) => tree.leafHash(v)),
    proofs: values.map((v) => tree.getProof(v)),
  });
}
const out = { types: TYPES, generator: '@openzeppelin/merkle-tree StandardMerkleTree.of (sortLeaves)', cases };
fs.writeFileSync(path.join(here, 'merkle.json'), JSON.stringify(out, null, 1) + '\n');
console.log(`wrote ${cases.length} cases`);

// Contributor shares (laas.anchors.core.shares): StandardMerkleTree of [address, rows, bytes].
const SHARE_TYPES = ['address', 'uint256', 'uint256'];
const shareCases = [];
for (const n of [1, 2, 3, 7]) {
  const values = Array.from({ length: n }, (_, i) => [
    '0x' + crypto.createHash('sha256').update(`laas-contributor-${i}`).digest('hex').slice(0, 40),
    String(i === 2 ? 2n ** 64n : BigInt(i * 101)), String(i * 4099)]);
  const tree = StandardMerkleTree.of(values, SHARE_TYPES);
  shareCases.push({ n, values, root: tree.root, leaves: values.map((v) => tree.leafHash(v)),
    proofs: values.map((v) => tree.getProof(v)) });
}
fs.writeFileSync(path.join(here, 'shares.json'), JSON.stringify(
  { types: SHARE_TYPES, generator: out.generator, cases: shareCases }, null, 1) + '\n');
console.log(`wrote ${shareCases.length} share cases`);

// Shard leaves v2 (laas.anchors.core.merkle, a shard that names its contributor):
// StandardMerkleTree of [key, contentHash, byteSize, rows, contributor]; and a stage mixing
// v1 and v2 leaves, laid out by SimpleMerkleTree over the leaf hashes each type gives.
import { SimpleMerkleTree } from '@openzeppelin/merkle-tree';
const V2_TYPES = [...TYPES, 'address'];
const contributor = (i) =>
  '0x' + crypto.createHash('sha256').update(`laas-shard-contributor-${i % 3}`).digest('hex').slice(0, 40);
const v2Cases = [];
for (const n of [1, 2, 3, 6]) {
  const values = Array.from({ length: n }, (_, i) => [...shard(i), contributor(i)]);
  const tree = StandardMerkleTree.of(values, V2_TYPES);
  v2Cases.push({ n, values, root: tree.root, leaves: values.map((v) => tree.leafHash(v)),
    proofs: values.map((v) => tree.getProof(v)) });
}
const mixedValues = Array.from({ length: 5 }, (_, i) => i % 2 ? shard(i) : [...shard(i), contributor(i)]);
const mixedLeaves = mixedValues.map((v) =>
  StandardMerkleTree.of([v], v.length === 5 ? V2_TYPES : TYPES).leafHash(v));
const mixed = SimpleMerkleTree.of(mixedLeaves);
fs.writeFileSync(path.join(here, 'leaf_v2.json'), JSON.stringify({
  types: V2_TYPES, generator: out.generator, cases: v2Cases,
  mixed: { values: mixedValues, leaves: mixedLeaves, root: mixed.root,
    proofs: mixedLeaves.map((l) => mixed.getProof(l)) },
}, null, 1) + '\n');
console.log(`wrote ${v2Cases.length} leaf v2 cases and a mixed tree`);
