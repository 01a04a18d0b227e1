"""Messaging: the one way out for every outbound message (SMS, alerts; in-app next), and the
WeCom adapter every module uses (`messaging.wecom`: client, sandbox, callbacks; docs/scrm.md).

Rows are queued in `core.outbox` in the writer's transaction; this module owns the channels'
senders and providers, and the policy every marketing message passes (`marketing_send`:
consent, frequency caps, quiet hours, WeCom's 企业群发 limit, dedupe, a decision per message).
Transactional messages (login codes, payment notices) bypass that policy. Modules below
messaging (identity) queue through `core.outbox` directly.
"""
