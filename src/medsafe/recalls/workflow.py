"""The recall life cycle after 21 CFR Part 7 (pure). Work in progress: the states and
kinds first, so that the recall record can import them; the transitions follow."""

from __future__ import annotations

from enum import StrEnum


class RecallState(StrEnum):
    DETECTED = "detected"
    TRIAGED = "triaged"
    INITIATED = "initiated"
    CLASSIFIED = "classified"
    STRATEGY_SET = "strategy_set"
    PUBLISHED = "published"
    NOTIFYING = "notifying"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    TERMINATION_REQUESTED = "termination_requested"
    TERMINATED = "terminated"


class RecallKind(StrEnum):
    """What the action is (§7.3): a recall, a market withdrawal (a minor violation or
    none, not subject to legal action), a correction (repair, relabelling, adjustment
    in place), or a stock recovery (product never left the firm's direct control)."""

    RECALL = "recall"
    MARKET_WITHDRAWAL = "market_withdrawal"
    CORRECTION = "correction"
    STOCK_RECOVERY = "stock_recovery"
