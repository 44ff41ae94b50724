// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {RegistryCore} from "./RegistryCore.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title CheckpointRegistry
/// @notice One record per pipeline stage of a dataset run: the Merkle root over the stage's
/// shard leaves, the hash of the manifest that lists them, the validation result hash and
/// verdict, and the checkpoints it derives from. A checkpoint is written once and never changed.
contract CheckpointRegistry is RegistryCore {

    struct CommitInput {
        bytes32 datasetId;
        bytes32 runId;
        string stage;
        bytes32 shardsRoot;
        uint64 shardCount;
        bytes32 manifestHash;
        string manifestUri;
        bytes32 resultHash;
        bool passed;
        bytes32[] parents;
    }

    /// What a gate reads on chain; the URI and stage name live in the event only.
    struct Checkpoint {
        bytes32 datasetId;
        bytes32 runId;
        bytes32 stageHash;
        bytes32 shardsRoot;
        bytes32 manifestHash;
        bytes32 resultHash;
        uint64 shardCount;
        uint64 blockNumber;
        bool passed;
        address committer;
    }

    mapping(bytes32 => Checkpoint) private _checkpoints;
    mapping(bytes32 => bytes32[]) private _parents;

    event CheckpointCommitted(
        bytes32 indexed checkpointId,
        bytes32 indexed datasetId,
        bytes32 indexed runId,
        string stage,
        bytes32 shardsRoot,
        uint64 shardCount,
        bytes32 manifestHash,
        string manifestUri,
        bytes32 resultHash,
        bool passed,
        bytes32[] parents,
        address committer
    );

    error CheckpointExists(bytes32 checkpointId);

    constructor(address admin) RegistryCore(admin) {}

    function commit(CommitInput calldata c) external onlyRole(COMMITTER_ROLE) returns (bytes32 id) {
        if (c.shardsRoot == bytes32(0)) revert EmptyRoot();
        id = checkpointId(c.datasetId, c.runId, c.stage);
        if (_checkpoints[id].blockNumber != 0) revert CheckpointExists(id);
        for (uint256 i = 0; i < c.parents.length; i++) {
            if (_checkpoints[c.parents[i]].blockNumber == 0) revert UnknownCheckpoint(c.parents[i]);
        }
        _checkpoints[id] = Checkpoint({
            datasetId: c.datasetId,
            runId: c.runId,
            stageHash: keccak256(bytes(c.stage)),
            shardsRoot: c.shardsRoot,
            manifestHash: c.manifestHash,
            resultHash: c.resultHash,
            shardCount: c.shardCount,
            blockNumber: uint64(block.number),
            passed: c.passed,
            committer: msg.sender
        });
        _parents[id] = c.parents;
        emit CheckpointCommitted(
            id,
            c.datasetId,
            c.runId,
            c.stage,
            c.shardsRoot,
            c.shardCount,
            c.manifestHash,
            c.manifestUri,
            c.resultHash,
            c.passed,
            c.parents,
            msg.sender
        );
    }

    function exists(bytes32 id) external view returns (bool) {
        return _checkpoints[id].blockNumber != 0;
    }

    function getCheckpoint(bytes32 id)
        external
        view
        returns (Checkpoint memory checkpoint, bytes32[] memory parents)
    {
        checkpoint = _checkpoints[id];
        if (checkpoint.blockNumber == 0) revert UnknownCheckpoint(id);
        parents = _parents[id];
    }

    /// @notice True when `leaf` is included under the stored root of checkpoint `id`.
    function verifyLeaf(bytes32 id, bytes32[] calldata proof, bytes32 leaf)
        public
        view
        returns (bool)
    {
        bytes32 root = _checkpoints[id].shardsRoot;
        if (root == bytes32(0)) revert UnknownCheckpoint(id);
        return MerkleProof.verifyCalldata(proof, root, leaf);
    }

    function verifyShard(
        bytes32 id,
        bytes32[] calldata proof,
        string calldata key,
        bytes32 contentHash,
        uint256 byteSize,
        uint256 rows
    ) external view returns (bool) {
        return verifyLeaf(id, proof, shardLeaf(key, contentHash, byteSize, rows));
    }
}
