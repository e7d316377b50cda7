// SPDX-License-Identifier: MIT
// A stand-in escrow whose forced-close grace period is under the MPP session spec's ten-minute
// minimum: a server must refuse channels on it (test/sessions.test.ts).
pragma solidity ^0.8.20;

contract ShortGraceEscrow {
    uint64 public constant CLOSE_GRACE_PERIOD = 5 minutes;
}
