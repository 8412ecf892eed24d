"""The email channel: a support mailbox in (webhook or IMAP), threaded replies out by SMTP.

``connectors.email.connector:EmailConnector`` is the registry entry, enabled by
HELPDESK_EMAIL_ADDRESS. The parts: ``parsing`` (MIME → ``ParsedEmail``), ``threads`` (which
conversation), ``loops`` (no automatic replies to auto-replies, lists, bounces), ``inbound``
(webhook and IMAP, one path), ``channel`` (SMTP delivery from the outbox), ``imap``, ``smtp``,
``forward`` (email for widget conversations). See the README's "Connect email" section.
"""
