"""Email through an SMTP server (the standard library's smtplib: STARTTLS, AUTH).

Each message carries its send key as `Message-ID: <key@parcours>`, so a server (or the
mailbox behind it) that dedupes on Message-ID keeps one copy of a message sent again after a
crash. One connection serves a whole batch.

A refusal is read by its code, as RFC 5321 means it: 5xx for a recipient is a bounce (the
address does not exist: retrying cannot help), any other 5xx a permanent failure, 4xx and a
lost connection a retry.
"""

from __future__ import annotations

import smtplib
import socket
from email.message import EmailMessage
from email.utils import formatdate

from parcours.automations.channels import Outcome, Outgoing
from parcours.automations.settings import Smtp


def message_id(key: str) -> str:
    return f"<{key}@parcours>"


def email_message(message: Outgoing, sender: str) -> EmailMessage:
    """The MIME message: plain text, and HTML as the alternative when there is one."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.to
    email["Subject"] = message.subject or ""
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = message_id(message.key)
    for name, value in message.headers.items():
        email[name] = value
    email.set_content(message.body)
    if message.html is not None:
        email.add_alternative(message.html, subtype="html")
    return email


class SmtpChannel:
    def __init__(self, settings: Smtp) -> None:
        self.settings = settings

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        client = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
        if s.starttls:
            client.starttls()
        if s.username:
            password = s.password.get_secret_value() if s.password else ""
            client.login(s.username, password)
        return client

    def send(self, messages: list[Outgoing]) -> list[Outcome]:
        if not messages:
            return []
        try:
            client = self._connect()
        except (OSError, smtplib.SMTPException) as error:
            reason = f"SMTP server {self.settings.host}:{self.settings.port}: {_words(error)}"
            return [Outcome(m.key, "retry", reason) for m in messages]
        outcomes: list[Outcome] = []
        try:
            for message in messages:
                try:
                    client.send_message(email_message(message, self.settings.sender))
                except smtplib.SMTPRecipientsRefused as error:
                    code, text = next(iter(error.recipients.values()))
                    outcomes.append(_refused(message.key, code, text))
                except smtplib.SMTPResponseException as error:
                    outcomes.append(_refused(message.key, error.smtp_code, error.smtp_error))
                    if error.smtp_code == 421:  # the server is closing: the rest later
                        raise
                except (OSError, smtplib.SMTPServerDisconnected):
                    raise
                else:
                    outcomes.append(Outcome(message.key, "sent", None, message_id(message.key)))
        except (OSError, smtplib.SMTPException) as error:
            done = {o.key for o in outcomes}
            reason = f"SMTP connection lost: {_words(error)}"
            rest = messages
            outcomes += [Outcome(m.key, "retry", reason) for m in rest if m.key not in done]
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()
        return outcomes


def _refused(key: str, code: int, text: bytes | str) -> Outcome:
    words = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    reason = f"SMTP {code}: {words}"
    if code in (550, 551, 553):
        return Outcome(key, "bounced", reason)
    return Outcome(key, "failed" if 500 <= code < 600 else "retry", reason)


def _words(error: BaseException) -> str:
    if isinstance(error, socket.timeout):
        return "timed out"
    return str(error) or type(error).__name__
