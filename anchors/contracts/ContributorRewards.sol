// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {CheckpointRegistry} from "./CheckpointRegistry.sol";
import {CheckpointRegistryV2} from "./CheckpointRegistryV2.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title ContributorRewards (an example; no token moves)
/// @notice A contributor proves, against a training record laas committed to the registry,
/// the rows and bytes of theirs the training read, and claims once per record. Nothing the
/// caller passes is trusted: the record must be on chain (format 2, `claim`: its commitment
/// `leafOf` reaches the run's stored root; format 1, `claimStored`: the registry's stored
/// checkpoint), committed by the committer this contract pays against, and its resultHash
/// must commit the shares root the proof uses (format laas-training-shares-v1,
/// laas.anchors.core.record_shares).
/// @dev Why the root is read through the record's resultHash: the registry already anchors
/// it, so no registry contract had to change and a record costs no extra storage.
contract ContributorRewards {
    bytes32 public constant SHARES_FORMAT = keccak256("laas-training-shares-v1");
    bytes32 private constant TRAINING = keccak256("training");
    bytes32 private constant COMMITTER_ROLE = keccak256("COMMITTER_ROLE"); // RegistryCore's
    uint256 private constant LOW192 = (uint256(1) << 192) - 1;

    /// What a training record's resultHash commits to.
    struct Shares {
        bytes32 root; // StandardMerkleTree of [address, uint256 rows, uint256 bytes]
        uint256 contributors;
        uint256 totalRows; // of the whole record, attributed or not
        uint256 totalBytes;
    }

    /// A CheckpointRegistryV2 (`claim`) or a format-1 CheckpointRegistry (`claimStored`).
    address public immutable registry;
    /// Whose training records this pays against; address(0): any account holding the
    /// registry's committer role when the claim is made.
    address public immutable committer;
    mapping(bytes32 => mapping(address => bool)) public claimed; // record id -> contributor

    event Claimed(
        bytes32 indexed record,
        address indexed contributor,
        uint256 rows,
        uint256 size,
        uint256 totalRows,
        uint256 totalBytes
    );

    error NotATrainingRecord();
    error UntrustedCommitter(address committer);
    error NotAnchored();
    error SharesNotCommitted();
    error BadShareProof();
    error AlreadyClaimed(bytes32 record, address contributor);

    constructor(address registry_, address committer_) {
        registry = registry_;
        committer = committer_;
    }

    function sharesCommitment(Shares calldata s) public pure returns (bytes32) {
        return keccak256(abi.encode(SHARES_FORMAT, s.root, s.contributors, s.totalRows, s.totalBytes));
    }

    /// @notice A share's leaf, as laas.anchors.core.shares and StandardMerkleTree make it.
    function shareLeaf(address contributor, uint256 rows, uint256 size) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(contributor, rows, size))));
    }

    /// @notice The record's checkpoint id once `record` is proven anchored in the registry,
    /// by a trusted committer, as a training record whose resultHash commits `shares`;
    /// reverts otherwise.
    function proveRecord(
        CheckpointRegistryV2.Committed calldata record,
        bytes32[] calldata anchorProof,
        Shares calldata shares
    ) public view returns (bytes32) {
        if (keccak256(bytes(record.stage)) != TRAINING || !record.passed) revert NotATrainingRecord();
        _trust(record.committer);
        // Only a run key: commitRun puts msg.sender in each commitment, while a batch's
        // leaves are the committer's word, its own address included.
        CheckpointRegistryV2 v2 = CheckpointRegistryV2(registry);
        (uint64 blockNumber, bytes32 root) = v2.anchorOf(v2.runKey(record.datasetId, record.runId));
        if (blockNumber == 0) revert NotAnchored();
        bytes32 got = MerkleProof.processProofCalldata(anchorProof, v2.leafOf(record));
        if (bytes32(uint256(got) & LOW192) != root) revert NotAnchored();
        if (sharesCommitment(shares) != record.resultHash) revert SharesNotCommitted();
        return keccak256(abi.encode(record.datasetId, record.runId, TRAINING));
    }

    /// @notice Whether `contributor` gave `rows` rows and `size` bytes to the record.
    function verifyShare(
        CheckpointRegistryV2.Committed calldata record,
        bytes32[] calldata anchorProof,
        Shares calldata shares,
        address contributor,
        uint256 rows,
        uint256 size,
        bytes32[] calldata proof
    ) external view returns (bool) {
        proveRecord(record, anchorProof, shares);
        return MerkleProof.verifyCalldata(proof, shares.root, shareLeaf(contributor, rows, size));
    }

    /// @notice Format 1: `id` once the registry's stored checkpoint `id` is a training record
    /// by a trusted committer whose resultHash commits `shares`; reverts otherwise.
    function proveStoredRecord(bytes32 id, Shares calldata shares) public view returns (bytes32) {
        (CheckpointRegistry.Checkpoint memory c,) = CheckpointRegistry(registry).getCheckpoint(id);
        if (c.stageHash != TRAINING || !c.passed) revert NotATrainingRecord();
        _trust(c.committer);
        if (sharesCommitment(shares) != c.resultHash) revert SharesNotCommitted();
        return id;
    }

    /// @notice The sender claims their share of a training record (format 2), once.
    function claim(
        CheckpointRegistryV2.Committed calldata record,
        bytes32[] calldata anchorProof,
        Shares calldata shares,
        uint256 rows,
        uint256 size,
        bytes32[] calldata proof
    ) external returns (bytes32 id) {
        id = proveRecord(record, anchorProof, shares);
        _pay(id, shares, rows, size, proof);
    }

    /// @notice The same on a format-1 registry: the record named by its checkpoint id.
    function claimStored(
        bytes32 id,
        Shares calldata shares,
        uint256 rows,
        uint256 size,
        bytes32[] calldata proof
    ) external returns (bytes32) {
        _pay(proveStoredRecord(id, shares), shares, rows, size, proof);
        return id;
    }

    function _trust(address who) private view {
        bool trusted = committer == address(0)
            ? IAccessControl(registry).hasRole(COMMITTER_ROLE, who)
            : who == committer;
        if (!trusted) revert UntrustedCommitter(who);
    }

    /// The share must be the sender's own: a copied proof (front-run, replayed) names
    /// another leaf.
    function _pay(bytes32 id, Shares calldata shares, uint256 rows, uint256 size, bytes32[] calldata proof)
        private
    {
        if (!MerkleProof.verifyCalldata(proof, shares.root, shareLeaf(msg.sender, rows, size))) {
            revert BadShareProof();
        }
        if (claimed[id][msg.sender]) revert AlreadyClaimed(id, msg.sender);
        claimed[id][msg.sender] = true;
        emit Claimed(id, msg.sender, rows, size, shares.totalRows, shares.totalBytes);
    }
}
