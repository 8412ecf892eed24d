"""The email channel: a support mailbox in (webhook or IMAP), threaded replies out by SMTP.

See the README's "Connect email" section.
"""
