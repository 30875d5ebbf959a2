"""The Idempotency-Key register on SQLite and PostgreSQL: first use binds, first answer stays,
expired keys go (and free the key)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.command_keys import KEYS_KEPT_FOR, CommandKeys


@pytest.fixture
def keys(store: async_sessionmaker[AsyncSession]) -> CommandKeys:
    return CommandKeys(store)


def fresh() -> tuple[str, str]:
    return f"caller-{uuid.uuid4().hex[:8]}", f"key-{uuid.uuid4().hex}"


async def test_the_first_claim_binds_the_key_and_later_claims_get_it(keys: CommandKeys) -> None:
    caller, key = fresh()
    first = await keys.claim(caller, key, "digest-1", "case-1")
    later = await keys.claim(caller, key, "digest-2", "case-2")

    assert (first.request_sha256, first.consultation_id) == ("digest-1", "case-1")
    assert (later.request_sha256, later.consultation_id) == ("digest-1", "case-1")
    assert not later.answered
    assert await keys.find("someone-else", key) is None


async def test_the_first_answer_is_kept(keys: CommandKeys) -> None:
    caller, key = fresh()
    await keys.claim(caller, key, "digest", "case")
    kept = await keys.answer(caller, key, 200, '{"n": 1}')
    again = await keys.answer(caller, key, 409, '{"n": 2}')
    found = await keys.find(caller, key)

    assert kept is not None and again is not None
    assert (kept.status_code, kept.answer) == (200, '{"n": 1}')
    assert (again.status_code, again.answer) == (200, '{"n": 1}')
    assert found is not None and found.answered and found.answer == '{"n": 1}'


async def test_keys_are_kept_at_least_a_day_then_forgotten_and_free_again(
    store: async_sessionmaker[AsyncSession],
) -> None:
    assert timedelta(hours=24) <= KEYS_KEPT_FOR
    caller, key = fresh()
    expired = CommandKeys(store, kept_for=timedelta(seconds=-1))
    await expired.claim(caller, key, "old-digest", "old-case")
    keys = CommandKeys(store)
    assert await keys.find(caller, key) is None
    reused = await keys.claim(caller, key, "new-digest", "new-case")
    assert reused.request_sha256 == "new-digest"

    other_caller, other_key = fresh()
    await expired.claim(other_caller, other_key, "digest", "case")
    forgotten = await keys.forget_expired(datetime.now(UTC))
    assert forgotten >= 1
    assert await keys.find(caller, key) is not None
    assert await keys.find(other_caller, other_key) is None


async def test_a_claim_returns_the_earlier_one_and_only_its_own_claim_is_released(
    keys: CommandKeys,
) -> None:
    caller, key = fresh()
    mine = await keys.claim(caller, key, "digest", "case")
    earlier = await keys.claim(caller, key, "other digest", "other case")
    assert mine.new and not earlier.new
    assert (earlier.request_sha256, earlier.consultation_id) == ("digest", "case")

    await keys.release(caller, key, earlier.model_copy(update={"created_at": datetime.now(UTC)}))
    assert await keys.find(caller, key) is not None
    await keys.release(caller, key, mine)
    assert await keys.find(caller, key) is None
