// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {RegistryCore} from "./RegistryCore.sol";
import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title CheckpointRegistryV2 (format version 2)
/// @notice A run's stage checkpoints are committed together, in one transaction. The chain
/// keeps one storage slot per run (its block number and the Merkle root of its checkpoint
/// commitments) and one per dataset (its latest validated run); the records themselves travel
/// in calldata only (the RunCommitted event names the run, the reader decodes the records from
/// the transaction's input), and a reader checks what it decodes against the stored root. Many runs can also be anchored at once as one root (anchorBatch), each
/// checkpoint then proven by a Merkle path to that root.
/// @dev Why one slot per run and not per checkpoint: a fresh slot costs 22,100 gas, so three
/// per run plus the dataset pointer alone would pass the 100k budget of a run. The slot packs
/// the block (64 bits) with the low 192 bits of the root. The records are not repeated in the
/// event for the same reason: at 8 gas a byte (plus copying) that alone cost ~17k per run.
contract CheckpointRegistryV2 is RegistryCore {
    uint256 public constant VERSION = 2;
    bytes32 private constant VALIDATED = keccak256("validated");
    uint256 private constant LOW192 = (uint256(1) << 192) - 1;

    /// One stage of a run as the committer sends it.
    struct Record {
        string stage;
        bytes32 shardsRoot;
        uint64 shardCount;
        bytes32 manifestHash;
        string manifestUri;
        bytes32 resultHash;
        bool passed;
        bytes32[] parents; // checkpoint ids
        bytes32[] parentRuns; // the anchor key of each parent's run; 0 = this run
    }

    /// What a checkpoint commitment binds, as a reader passes it back to verify a shard.
    struct Committed {
        bytes32 datasetId;
        bytes32 runId;
        string stage;
        bytes32 shardsRoot;
        uint64 shardCount;
        bytes32 manifestHash;
        bytes32 resultHash;
        bool passed;
        bytes32 parentsHash; // keccak256(abi.encodePacked(parents))
        address committer;
    }

    mapping(bytes32 => uint256) private _anchors; // run key or batch root -> block | root
    mapping(bytes32 => bytes32) private _latest; // dataset id -> run id of its latest validated

    event RunCommitted(
        bytes32 indexed anchorKey, bytes32 indexed datasetId, bytes32 indexed runId, address committer
    );
    event BatchAnchored(bytes32 indexed root, address committer, bytes32[] leaves);

    error RunExists(bytes32 anchorKey);
    error BatchExists(bytes32 root);
    error EmptyRun();
    error BadParents();

    constructor(address admin) RegistryCore(admin) {}

    /// @notice Where a run is anchored: every checkpoint of the run shares this key.
    function runKey(bytes32 datasetId, bytes32 runId) public pure returns (bytes32) {
        return keccak256(abi.encode(datasetId, runId));
    }

    /// @notice The commitment (Merkle leaf) of one checkpoint, double-hashed like
    /// OpenZeppelin's StandardMerkleTree leaves so no inner node can pass for a leaf.
    function leafOf(Committed memory c) public pure returns (bytes32) {
        bytes32 id = keccak256(abi.encode(c.datasetId, c.runId, keccak256(bytes(c.stage))));
        return keccak256(bytes.concat(keccak256(abi.encode(
            id, c.datasetId, c.runId, c.shardsRoot, c.shardCount, c.manifestHash,
            c.resultHash, c.passed, c.parentsHash, c.committer
        ))));
    }

    /// @notice Commit a run's stages (raw, normalized, validated) at once. A run commits once:
    /// a resend reverts with RunExists, which the client reads as "already done".
    function commitRun(bytes32 datasetId, bytes32 runId, Record[] calldata records)
        external
        onlyRole(COMMITTER_ROLE)
        returns (bytes32 key)
    {
        if (records.length == 0) revert EmptyRun();
        key = runKey(datasetId, runId);
        if (_anchors[key] != 0) revert RunExists(key);
        bytes32[] memory leaves = new bytes32[](records.length);
        bool validated = false;
        for (uint256 i = 0; i < records.length; i++) {
            Record calldata r = records[i];
            if (r.shardsRoot == bytes32(0)) revert EmptyRoot();
            if (r.parents.length != r.parentRuns.length) revert BadParents();
            for (uint256 j = 0; j < r.parentRuns.length; j++) {
                if (r.parentRuns[j] != bytes32(0) && _anchors[r.parentRuns[j]] == 0) {
                    revert UnknownCheckpoint(r.parents[j]);
                }
            }
            leaves[i] = leafOf(Committed({
                datasetId: datasetId,
                runId: runId,
                stage: r.stage,
                shardsRoot: r.shardsRoot,
                shardCount: r.shardCount,
                manifestHash: r.manifestHash,
                resultHash: r.resultHash,
                passed: r.passed,
                parentsHash: keccak256(abi.encodePacked(r.parents)),
                committer: msg.sender
            }));
            validated = validated || keccak256(bytes(r.stage)) == VALIDATED;
        }
        _anchors[key] = _pack(_root(leaves));
        if (validated) _latest[datasetId] = runId;
        emit RunCommitted(key, datasetId, runId, msg.sender);
    }

    /// @notice Anchor many checkpoints (of many runs and datasets) as one root; each is later
    /// proven by a Merkle path to it. The leaves are `leafOf` their records, which stay off
    /// chain (in the artifact store); the leaves go in the event so anyone can rebuild a proof.
    function anchorBatch(bytes32[] calldata leaves)
        external
        onlyRole(COMMITTER_ROLE)
        returns (bytes32 root)
    {
        if (leaves.length == 0) revert EmptyRun();
        root = _root(leaves);
        if (_anchors[root] != 0) revert BatchExists(root);
        _anchors[root] = _pack(root);
        emit BatchAnchored(root, msg.sender, leaves);
    }

    /// @notice The block an anchor (run key or batch root) landed in and the low 192 bits of
    /// its root; (0, 0) if there is none.
    function anchorOf(bytes32 key) public view returns (uint64 blockNumber, bytes32 root) {
        uint256 v = _anchors[key];
        return (uint64(v >> 192), bytes32(v & LOW192));
    }

    /// @notice A dataset's latest run with a validated stage: its id, block and root, in one
    /// read. (0, 0, 0) if it has none.
    function latest(bytes32 datasetId)
        external
        view
        returns (bytes32 runId, uint64 blockNumber, bytes32 root)
    {
        runId = _latest[datasetId];
        if (runId == bytes32(0)) return (runId, 0, bytes32(0));
        (blockNumber, root) = anchorOf(runKey(datasetId, runId));
    }

    /// @notice True when `c` is anchored under `key` by `anchorProof` and `leaf` (a shard's)
    /// is included under c.shardsRoot by `proof`.
    function verifyLeaf(
        bytes32 key,
        bytes32[] calldata anchorProof,
        Committed calldata c,
        bytes32[] calldata proof,
        bytes32 leaf
    ) public view returns (bool) {
        (uint64 blockNumber, bytes32 root) = anchorOf(key);
        if (blockNumber == 0) revert UnknownCheckpoint(key);
        bytes32 got = MerkleProof.processProofCalldata(anchorProof, leafOf(c));
        if (bytes32(uint256(got) & LOW192) != root) return false;
        return MerkleProof.verifyCalldata(proof, c.shardsRoot, leaf);
    }

    function verifyShard(
        bytes32 key,
        bytes32[] calldata anchorProof,
        Committed calldata c,
        bytes32[] calldata proof,
        string calldata shardKey,
        bytes32 contentHash,
        uint256 byteSize,
        uint256 rows
    ) external view returns (bool) {
        return verifyLeaf(key, anchorProof, c, proof, shardLeaf(shardKey, contentHash, byteSize, rows));
    }

    function _pack(bytes32 root) private view returns (uint256) {
        return (uint256(block.number) << 192) | (uint256(root) & LOW192);
    }

    /// Pairs hashed in order (commutatively, as MerkleProof checks them), an odd last node
    /// carried up unchanged; one leaf is its own root.
    function _root(bytes32[] memory nodes) private pure returns (bytes32) {
        uint256 n = nodes.length;
        while (n > 1) {
            uint256 half = n / 2;
            for (uint256 i = 0; i < half; i++) {
                nodes[i] = Hashes.commutativeKeccak256(nodes[2 * i], nodes[2 * i + 1]);
            }
            if (n % 2 == 1) nodes[half] = nodes[n - 1];
            n = half + n % 2;
        }
        return nodes[0];
    }
}
