"""Sending e-mail over kb's SMTP settings (KB_SMTP_HOST, KB_SMTP_PORT, KB_SMTP_SENDER).

Best effort everywhere: what is mailed is already in the person's inbox, so an
unreachable mail server is logged and never fails the write that caused it.
"""

import logging
import smtplib
from email.message import EmailMessage

from kb.settings import Settings

log = logging.getLogger(__name__)


def new_message(settings: Settings, to: str, subject: str, lines: list[str]) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.smtp_sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content("\n".join(lines))
    return message


def send_all(settings: Settings, messages: list[EmailMessage], what: str = "message") -> bool:
    """Send them over one connection; False (and a warning) if the server failed us."""
    if not settings.smtp_host or not messages:
        return False
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
            for message in messages:
                smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        log.warning(
            "could not e-mail %d %s(s) via %s: %s", len(messages), what, settings.smtp_host, error
        )
        return False
    return True
