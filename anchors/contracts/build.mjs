// Compiles CheckpointRegistry.sol (format 1) and CheckpointRegistryV2.sol (format 2), both over RegistryCore.sol, and the example ContributorRewards.sol, with solcjs (npm `solc`) against node_modules' OpenZeppelin.
// `node anchors/contracts/build.mjs` writes the artifact; `--check` exits 1 if it is stale.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const solc = require(path.join(root, 'node_modules', 'solc'));

const NAMES = ['CheckpointRegistry', 'CheckpointRegistryV2', 'ContributorRewards'];
function findImports(p) {
  // This folder's own sources (RegistryCore.sol), then node_modules' (OpenZeppelin).
  const file = [path.join(here, p), path.join(root, 'node_modules', p)].find((f) => fs.existsSync(f));
  return file ? { contents: fs.readFileSync(file, 'utf8') } : { error: `not found: ${p}` };
}
let stale = false;
for (const NAME of NAMES) {
  const source = fs.readFileSync(path.join(here, `${NAME}.sol`), 'utf8');
  const input = {
    language: 'Solidity',
    sources: { [`${NAME}.sol`]: { content: source } },
    settings: {
      optimizer: { enabled: true, runs: 200 },
      viaIR: true,
      evmVersion: 'cancun',
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
    },
  };
  const out = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const errors = (out.errors || []).filter((e) => e.severity === 'error');
  if (errors.length) {
    for (const e of errors) console.error(e.formattedMessage);
    process.exit(2);
  }
  const c = out.contracts[`${NAME}.sol`][NAME];
  const artifact = {
    contractName: NAME,
    compiler: `solc-js ${solc.version()}`,
    settings: input.settings,
    abi: c.abi,
    bytecode: '0x' + c.evm.bytecode.object,
  };
  const text = JSON.stringify(artifact, null, 2) + '\n';
  const target = path.join(here, `${NAME}.json`);
  if (process.argv.includes('--check')) {
    const current = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : '';
    if (current !== text) {
      console.error(`${target} is stale: run \`npm run build-contracts\` and commit it`);
      stale = true;
    }
  } else {
    fs.writeFileSync(target, text);
    console.log(`wrote ${path.relative(root, target)} (${c.evm.bytecode.object.length / 2} bytes)`);
  }
}
if (process.argv.includes('--check')) {
  if (stale) process.exit(1);
  console.log('artifacts are fresh');
}
