"""Notices: a durable outbox written in the use case's own transaction, a dispatcher that
delivers it at least once by e-mail (SMTP) and webhook, and acknowledgement links.

- `message`: the notice a writer hands to `uow.outbox.add`, Message-IDs, ack links, the
  retry schedule (pure).
- `channels`: SMTP and webhook delivery.
- `dispatcher`: claims due messages, delivers them, records each outcome.
- `acknowledgements`: the use cases behind the acknowledgement page.
"""
