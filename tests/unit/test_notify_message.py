"""The pure rules of notices: what a writer may hand to the outbox, Message-IDs,
acknowledgement links, and the retry schedule (exponential, jittered, capped, then dead)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from random import Random

import pytest

from medsafe.errors import Invalid
from medsafe.notify.message import (
    Notice,
    Outcome,
    Outgoing,
    RetryPolicy,
    ack_url,
    failure,
    message_id_host,
    new_ack_token,
    new_message_id,
    with_ack_link,
)

# RFC 5322 msg-id: "<" id-left "@" id-right ">", both dot-atom-text here.
ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
MSG_ID = re.compile(rf"<{ATEXT}(\.{ATEXT})*@{ATEXT}(\.{ATEXT})*>")


def notice(**changes: object) -> Notice:
    values: dict[str, object] = {
        "channel": "email", "recipient": "pharmacy@example.org",
        "subject": "Recall of baclofen 10 mg lots", "body_text": "Please quarantine lot A1.",
        "topic": "recall:D-0123-2021", "audience": "pharmacy"}
    values.update(changes)
    return Notice(**values)  # type: ignore[arg-type]


def outgoing(attempts: int = 0) -> Outgoing:
    return Outgoing(id=1, message_id="<a@b>", channel="email", recipient="x@example.org",
                    subject="s", body_text="t", body_html=None, headers={}, ack_token=None,
                    topic="t", audience="patient", created_at=datetime(2026, 1, 1, tzinfo=UTC),
                    attempts=attempts)


def test_message_ids_are_rfc_5322_msg_ids_and_never_repeat() -> None:
    ids = {new_message_id("pharmacy-host.example.org") for _ in range(2000)}
    assert len(ids) == 2000
    for value in ids:
        assert MSG_ID.fullmatch(value), value
        assert value.endswith("@pharmacy-host.example.org>")


@pytest.mark.parametrize(("hostname", "expected"), [
    ("web-1.internal", "web-1.internal"),
    ("weird host_name!", "weirdhostname"),
    ("..dots..", "dots"),
    ("", "medsafe.localhost"),
    ("[::1]", "1"),
])
def test_the_host_part_of_a_message_id_keeps_only_dot_atom_characters(hostname: str,
                                                                       expected: str) -> None:
    assert message_id_host(hostname) == expected
    assert MSG_ID.fullmatch(f"<x@{message_id_host(hostname)}>")


def test_ack_tokens_are_long_random_and_url_safe() -> None:
    tokens = {new_ack_token() for _ in range(1000)}
    assert len(tokens) == 1000
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", token) for token in tokens)


def test_an_ack_link_joins_the_base_url_and_the_token_once() -> None:
    token = new_ack_token()
    assert ack_url("https://medsafe.example.org/", token) == (
        f"https://medsafe.example.org/notices/ack/{token}")
    assert ack_url("https://medsafe.example.org/app", token) == (
        f"https://medsafe.example.org/app/notices/ack/{token}")


def test_an_ack_link_refuses_a_token_that_is_not_one() -> None:
    with pytest.raises(Invalid):
        ack_url("https://x.example", "../../admin")


def test_the_ack_link_is_added_to_the_text_and_inside_the_html_body() -> None:
    url = "https://m.example/notices/ack/" + "a" * 43
    text, html = with_ack_link("Keep taking baclofen.\n", "<html><body><p>Keep taking "
                               "baclofen.</p></body></html>", url)
    assert text.startswith("Keep taking baclofen.")
    assert text.rstrip().endswith(url)
    assert html is not None
    assert f'<a href="{url}">' in html
    assert html.index(url) < html.index("</body>")


def test_without_an_ack_link_the_bodies_are_sent_as_written() -> None:
    assert with_ack_link("plain", "<p>html</p>", None) == ("plain", "<p>html</p>")


def test_the_ack_link_in_html_is_escaped() -> None:
    _, html = with_ack_link("t", "<p>x</p>", 'https://m.example/?a=1&b="2"')
    assert html is not None
    assert "&amp;b=&quot;2&quot;" in html


@pytest.mark.parametrize(("changes", "where"), [
    ({"channel": "sms"}, "notice.channel"),
    ({"recipient": "not an address"}, "notice.recipient"),
    ({"recipient": "a@b.example\r\nBcc: victim@example.org"}, "notice.recipient"),
    ({"channel": "webhook", "recipient": "file:///etc/passwd"}, "notice.recipient"),
    ({"channel": "webhook", "recipient": "ftp://example.org/hook"}, "notice.recipient"),
    ({"subject": "Recall\r\nBcc: victim@example.org"}, "notice.subject"),
    ({"subject": ""}, "notice.subject"),
    ({"topic": "x" * 101}, "notice.topic"),
    ({"audience": "Pharmacy Staff"}, "notice.audience"),
    ({"body_text": "  "}, "notice.body_text"),
    ({"body_html": "<p>\x00</p>"}, "notice.body_html"),
    ({"headers": {"Bcc": "victim@example.org"}}, "notice.headers"),
    ({"headers": {"X-Ref": "a\nBcc: victim@example.org"}}, "notice.headers.X-Ref"),
])
def test_a_notice_that_could_not_be_sent_safely_is_refused_naming_the_field(
        changes: dict[str, object], where: str) -> None:
    with pytest.raises(Invalid) as raised:
        notice(**changes)
    assert raised.value.where == where


def test_a_webhook_notice_goes_to_an_http_or_https_url() -> None:
    hook = notice(channel="webhook", recipient="https://pharmacy.example.org/hooks/recall")
    assert hook.recipient.startswith("https://")
    assert notice(headers={"X-Recall-Number": "D-0123-2021"}).headers == {
        "X-Recall-Number": "D-0123-2021"}


def test_backoff_doubles_from_the_base_between_half_and_all_of_each_step() -> None:
    policy = RetryPolicy(base_seconds=10, cap_seconds=10_000, max_attempts=20)
    rng = Random(7)
    for failures in range(1, 9):
        step = 10 * 2 ** (failures - 1)
        waits = [policy.delay(failures, rng) for _ in range(200)]
        assert all(step / 2 <= wait <= step for wait in waits)
        # jittered: messages that failed together spread out
        assert max(waits) - min(waits) > step / 4


def test_backoff_is_capped() -> None:
    policy = RetryPolicy(base_seconds=15, cap_seconds=1800, max_attempts=100)
    rng = Random(1)
    assert all(900 <= policy.delay(failures, rng) <= 1800 for failures in (8, 12, 50, 10_000))


def test_a_message_is_dead_after_the_last_attempt_allowed() -> None:
    policy = RetryPolicy(base_seconds=1, cap_seconds=60, max_attempts=3)
    rng = Random(3)
    error = Outcome.retry("451 try later")
    assert policy.after_failure(1, error, rng) is not None
    assert policy.after_failure(2, error, rng) is not None
    assert policy.after_failure(3, error, rng) is None


def test_a_permanent_refusal_is_dead_at_once() -> None:
    assert RetryPolicy().after_failure(1, Outcome.dead("550 no such user"), Random()) is None


def test_a_server_asking_for_a_pause_gets_it_up_to_the_cap() -> None:
    policy = RetryPolicy(base_seconds=1, cap_seconds=600, max_attempts=5)
    rng = Random(5)
    assert policy.after_failure(1, Outcome.retry("HTTP 429", retry_after=120), rng) == 120
    assert policy.after_failure(1, Outcome.retry("HTTP 429", retry_after=86_400), rng) == 600


def test_a_failure_counts_the_attempt_and_says_when_to_try_next() -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    policy = RetryPolicy(base_seconds=60, cap_seconds=3600, max_attempts=4)
    later = failure(outgoing(attempts=2), Outcome.retry("timeout"), now=now, policy=policy,
                    rng=Random(0))
    assert later.attempts == 3
    assert later.next_attempt is not None
    assert now + timedelta(seconds=120) <= later.next_attempt <= now + timedelta(seconds=240)
    last = failure(outgoing(attempts=3), Outcome.retry("timeout"), now=now, policy=policy,
                   rng=Random(0))
    assert (last.attempts, last.next_attempt, last.error) == (4, None, "timeout")


def test_a_retry_policy_must_make_sense() -> None:
    with pytest.raises(Invalid):
        RetryPolicy(base_seconds=0)
    with pytest.raises(Invalid):
        RetryPolicy(base_seconds=100, cap_seconds=10)
    with pytest.raises(Invalid):
        RetryPolicy(max_attempts=0)
