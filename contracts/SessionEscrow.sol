// SPDX-License-Identifier: MIT
// Tollgate's pay-per-token session escrow: the mandatory core of the ERC-20 one-way payment channel
// in the MPP EVM session method (tempoxyz/mpp-specs, specs/methods/evm/draft-evm-session-00.md,
// "Channel Escrow Contract"): open, topUp, settle, close, requestClose, withdraw. The optional
// relayed profile (EIP-3009 / Permit2 opens, payee-authorized relayed settle and close) is left out,
// so a server using this escrow must not advertise `feePayer: true`.
//
// Vouchers are EIP-712 `Voucher(bytes32 channelId,uint128 cumulativeAmount)` under the domain
// ("EVM Payment Channel", "1", chainid, this contract), signed by the channel's authorized signer
// (the payer when none was named). Signers are EOAs only: ERC-1271 contract-wallet signers, which
// the spec allows, are not supported here.
//
// Only for well-behaved ERC-20 tokens (USDC): a fee-on-transfer or rebasing token would make
// `deposit` record more than the escrow holds.
pragma solidity ^0.8.20;

interface IERC20Minimal {
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

contract SessionEscrow {
    struct Channel {
        address payer;
        address payee;
        address token;
        // address(0) means the payer signs its own vouchers.
        address authorizedSigner;
        uint128 deposit;
        // Cumulative amount already paid out to the payee.
        uint128 settled;
        // 0 while no forced close is pending.
        uint64 closeRequestedAt;
        // Sticky: a finalized record is never deleted, so the same inputs can never re-open the
        // same channel id and make old vouchers spendable again (the spec's "Channel Re-Use").
        bool finalized;
    }

    /// The spec's reference grace period; it forbids anything under 10 minutes.
    uint64 public constant CLOSE_GRACE_PERIOD = 15 minutes;

    bytes32 public constant VOUCHER_TYPEHASH = keccak256("Voucher(bytes32 channelId,uint128 cumulativeAmount)");
    bytes32 private constant EIP712_DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant NAME_HASH = keccak256("EVM Payment Channel");
    bytes32 private constant VERSION_HASH = keccak256("1");
    // secp256k1n / 2: signatures with a larger s are the malleable twin of a canonical one.
    uint256 private constant HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    mapping(bytes32 => Channel) private _channels;

    event ChannelOpened(
        bytes32 indexed channelId,
        address indexed payer,
        address indexed payee,
        address token,
        address authorizedSigner,
        bytes32 salt,
        uint128 deposit
    );
    event ChannelToppedUp(bytes32 indexed channelId, uint128 additionalDeposit, uint128 newDeposit);
    event Settled(bytes32 indexed channelId, uint128 cumulativeAmount, uint128 paidToPayee);
    event CloseRequested(bytes32 indexed channelId, uint64 closeRequestedAt);
    event ChannelClosed(bytes32 indexed channelId, uint128 settled, uint128 paidToPayee, uint128 refundedToPayer);
    event Withdrawn(bytes32 indexed channelId, uint128 refundedToPayer);

    error ChannelAlreadyExists();
    error ChannelNotFound();
    error ChannelFinalized();
    error NotPayee();
    error NotPayer();
    error InvalidPayee();
    error InvalidToken();
    error AmountNotIncreasing();
    error AmountExceedsDeposit();
    error InvalidSignature();
    error CloseNotReady();
    error ZeroDeposit();
    error DepositOverflow();
    error TransferFailed();

    // ---- views ----

    function getChannel(bytes32 channelId) external view returns (Channel memory) {
        return _channels[channelId];
    }

    /// The spec's channel id: binds payer, payee, token, salt and signer to this deployment and chain.
    function computeChannelId(address payer, address payee, address token, bytes32 salt, address authorizedSigner)
        public
        view
        returns (bytes32)
    {
        return keccak256(abi.encode(payer, payee, token, salt, authorizedSigner, address(this), block.chainid));
    }

    // Computed on each call rather than cached so a chain fork with a new chain id gets a new domain.
    function domainSeparator() public view returns (bytes32) {
        return keccak256(abi.encode(EIP712_DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)));
    }

    function voucherDigest(bytes32 channelId, uint128 cumulativeAmount) public view returns (bytes32) {
        bytes32 structHash = keccak256(abi.encode(VOUCHER_TYPEHASH, channelId, cumulativeAmount));
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
    }

    // ---- payer ----

    function open(address payee, address token, uint128 deposit, bytes32 salt, address authorizedSigner)
        external
        returns (bytes32 channelId)
    {
        if (payee == address(0)) revert InvalidPayee();
        // A call to an address without code "succeeds" with no data, which _pull would take as paid.
        if (token.code.length == 0) revert InvalidToken();
        if (deposit == 0) revert ZeroDeposit();
        channelId = computeChannelId(msg.sender, payee, token, salt, authorizedSigner);
        // payer is never zero for a live record (msg.sender), so it marks existence, finalized or not.
        if (_channels[channelId].payer != address(0)) revert ChannelAlreadyExists();
        _channels[channelId] = Channel({
            payer: msg.sender,
            payee: payee,
            token: token,
            authorizedSigner: authorizedSigner,
            deposit: deposit,
            settled: 0,
            closeRequestedAt: 0,
            finalized: false
        });
        emit ChannelOpened(channelId, msg.sender, payee, token, authorizedSigner, salt, deposit);
        _pull(token, msg.sender, deposit);
    }

    function topUp(bytes32 channelId, uint128 additionalDeposit) external {
        Channel storage channel = _live(channelId);
        if (msg.sender != channel.payer) revert NotPayer();
        if (additionalDeposit == 0) revert ZeroDeposit();
        uint256 newDeposit = uint256(channel.deposit) + additionalDeposit;
        if (newDeposit > type(uint128).max) revert DepositOverflow();
        channel.deposit = uint128(newDeposit);
        // Adding funds says the payer wants to keep going: a pending forced close is cancelled (spec, topUp).
        if (channel.closeRequestedAt != 0) channel.closeRequestedAt = 0;
        emit ChannelToppedUp(channelId, additionalDeposit, uint128(newDeposit));
        _pull(channel.token, msg.sender, additionalDeposit);
    }

    /// Starts the grace period. Asking again keeps the first timestamp, so repeating it cannot stall the payer.
    function requestClose(bytes32 channelId) external {
        Channel storage channel = _live(channelId);
        if (msg.sender != channel.payer) revert NotPayer();
        if (channel.closeRequestedAt != 0) return;
        channel.closeRequestedAt = uint64(block.timestamp);
        emit CloseRequested(channelId, uint64(block.timestamp));
    }

    /// After the grace period the payer takes back everything not yet settled to the payee.
    function withdraw(bytes32 channelId) external {
        Channel storage channel = _live(channelId);
        if (msg.sender != channel.payer) revert NotPayer();
        // Without the != 0 check a payer could skip requestClose: 0 + grace is always in the past.
        if (channel.closeRequestedAt == 0 || block.timestamp < uint256(channel.closeRequestedAt) + CLOSE_GRACE_PERIOD) {
            revert CloseNotReady();
        }
        uint128 refund = channel.deposit - channel.settled;
        channel.finalized = true;
        emit Withdrawn(channelId, refund);
        if (refund > 0) _push(channel.token, channel.payer, refund);
    }

    // ---- payee ----

    /// Collects what the voucher adds over what was already settled; the channel stays open.
    function settle(bytes32 channelId, uint128 cumulativeAmount, bytes calldata signature) external {
        Channel storage channel = _live(channelId);
        if (msg.sender != channel.payee) revert NotPayee();
        if (cumulativeAmount <= channel.settled) revert AmountNotIncreasing();
        if (cumulativeAmount > channel.deposit) revert AmountExceedsDeposit();
        _checkVoucher(channel, channelId, cumulativeAmount, signature);
        uint128 delta = cumulativeAmount - channel.settled;
        channel.settled = cumulativeAmount;
        emit Settled(channelId, cumulativeAmount, delta);
        _push(channel.token, channel.payee, delta);
    }

    /// Final settlement: pays the payee up to the voucher and refunds the rest of the deposit to the payer.
    /// Allowed during a pending forced close, which is how the payee answers requestClose in time.
    /// A cumulativeAmount at or below `settled` forfeits nothing more and needs no signature.
    function close(bytes32 channelId, uint128 cumulativeAmount, bytes calldata signature) external {
        Channel storage channel = _live(channelId);
        if (msg.sender != channel.payee) revert NotPayee();
        uint128 delta = 0;
        if (cumulativeAmount > channel.settled) {
            if (cumulativeAmount > channel.deposit) revert AmountExceedsDeposit();
            _checkVoucher(channel, channelId, cumulativeAmount, signature);
            delta = cumulativeAmount - channel.settled;
            channel.settled = cumulativeAmount;
        }
        uint128 refund = channel.deposit - channel.settled;
        channel.finalized = true;
        emit ChannelClosed(channelId, channel.settled, delta, refund);
        if (delta > 0) _push(channel.token, channel.payee, delta);
        if (refund > 0) _push(channel.token, channel.payer, refund);
    }

    // ---- internals ----

    function _live(bytes32 channelId) private view returns (Channel storage channel) {
        channel = _channels[channelId];
        if (channel.payer == address(0)) revert ChannelNotFound();
        if (channel.finalized) revert ChannelFinalized();
    }

    function _checkVoucher(Channel storage channel, bytes32 channelId, uint128 cumulativeAmount, bytes calldata signature)
        private
        view
    {
        // 65 bytes r || s || v only; the spec lets clients never produce EIP-2098 compact signatures.
        if (signature.length != 65) revert InvalidSignature();
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (uint256(s) > HALF_ORDER || (v != 27 && v != 28)) revert InvalidSignature();
        address recovered = ecrecover(voucherDigest(channelId, cumulativeAmount), v, r, s);
        address expected = channel.authorizedSigner == address(0) ? channel.payer : channel.authorizedSigner;
        if (recovered == address(0) || recovered != expected) revert InvalidSignature();
    }

    // Tokens that return nothing (USDT-style) count as success; a `false` or a revert does not.
    function _pull(address token, address from, uint128 amount) private {
        (bool ok, bytes memory data) =
            token.call(abi.encodeCall(IERC20Minimal.transferFrom, (from, address(this), uint256(amount))));
        if (!ok || (data.length != 0 && !abi.decode(data, (bool)))) revert TransferFailed();
    }

    function _push(address token, address to, uint128 amount) private {
        (bool ok, bytes memory data) = token.call(abi.encodeCall(IERC20Minimal.transfer, (to, uint256(amount))));
        if (!ok || (data.length != 0 && !abi.decode(data, (bool)))) revert TransferFailed();
    }
}
