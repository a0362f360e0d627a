"""Delivery channels: each sends one claimed message and says what came of it.

A channel never raises for a delivery problem: it returns an `Outcome` (delivered, retry
later, or dead), so the dispatcher records every attempt the same way.
"""

from __future__ import annotations

from typing import Protocol

from medsafe.config import Settings
from medsafe.notify.message import Outcome, Outgoing, ack_url


class Channel(Protocol):
    def send(self, message: Outgoing) -> Outcome:
        """Deliver one message; never raises for a delivery problem."""
        ...

    def close(self) -> None:
        """Let go of any connection held between messages."""
        ...


def link_for(message: Outgoing, public_base_url: str) -> str | None:
    """The message's acknowledgement link, if it asks for acknowledgement."""
    return None if message.ack_token is None else ack_url(public_base_url, message.ack_token)


def channels_from(settings: Settings) -> dict[str, Channel]:
    """The channels the settings configure: e-mail always, webhooks with a secret."""
    from medsafe.notify.channels.smtp import SmtpChannel, SmtpConfig
    from medsafe.notify.channels.webhook import WebhookChannel, WebhookConfig

    found: dict[str, Channel] = {"email": SmtpChannel(SmtpConfig.from_settings(settings))}
    if settings.webhook_secret:
        found["webhook"] = WebhookChannel(WebhookConfig(
            secret=settings.webhook_secret, public_base_url=settings.public_base_url))
    return found
