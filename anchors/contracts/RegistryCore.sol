// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title RegistryCore
/// @notice What every registry format shares and must keep identical, so that ids and shard
/// leaves mean the same on any of them: the committer role, the checkpoint id of a
/// (dataset, run, stage), and the leaf of one shard.
abstract contract RegistryCore is AccessControl {
    bytes32 public constant COMMITTER_ROLE = keccak256("COMMITTER_ROLE");

    error UnknownCheckpoint(bytes32 checkpointId);
    error EmptyRoot();

    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(COMMITTER_ROLE, admin);
    }

    /// @notice The id is derived, not chosen, so a (dataset, run, stage) can be committed once.
    function checkpointId(bytes32 datasetId, bytes32 runId, string calldata stage)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(datasetId, runId, keccak256(bytes(stage))));
    }

    /// @notice The leaf of one shard, as OpenZeppelin's StandardMerkleTree encodes
    /// ["string", "bytes32", "uint256", "uint256"]: (key, contentHash, byteSize, rows).
    function shardLeaf(string calldata key, bytes32 contentHash, uint256 byteSize, uint256 rows)
        public
        pure
        returns (bytes32)
    {
        return keccak256(bytes.concat(keccak256(abi.encode(key, contentHash, byteSize, rows))));
    }
}
