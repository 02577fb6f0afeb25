"""The console's pure rules (issue #12): the reply clock's states and what an agent may do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aibroker.domain.console import Action, SlaState, actions_for, normalize_email, sla_countdown
from aibroker.domain.conversation import ConversationStatus, Owner

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("elapsed_ms", "state"), [(0, SlaState.OK), (3999, SlaState.OK), (4000, SlaState.WARNING),
                                                   (4999, SlaState.WARNING), (5000, SlaState.VIOLATION)])
def test_the_reply_clock_warns_at_four_seconds_and_is_violated_at_five(elapsed_ms: int, state: SlaState) -> None:
    clock = sla_countdown(T0, T0 + timedelta(milliseconds=elapsed_ms), 5000)
    assert clock.state == state and clock.elapsed_ms == elapsed_ms and clock.remaining_ms == 5000 - elapsed_ms


def test_actions_follow_owner_and_status_and_none_with_chatwoot() -> None:
    assert actions_for(Owner.BOT, ConversationStatus.PENDING, console_acts=True) == [
        Action.TAKE_OVER, Action.REPLY, Action.RESOLVE]
    assert actions_for(Owner.HUMAN, ConversationStatus.OPEN, console_acts=True) == [
        Action.REPLY, Action.HAND_BACK, Action.RESOLVE]
    assert actions_for(Owner.HUMAN, ConversationStatus.RESOLVED, console_acts=True) == []
    assert actions_for(Owner.HUMAN, ConversationStatus.OPEN, console_acts=False) == []
    assert normalize_email("  Ann.Lee@Example.COM ") == "ann.lee@example.com"
    with pytest.raises(ValueError):
        normalize_email("ann")
