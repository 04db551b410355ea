"""Messages rendered from their templates, in Jinja2's sandbox, over the recipient's profile.

A template sees `traits` (the profile's surviving traits: identity.profile), `customer_id`
and `entry` (the properties of what made the customer enter). It renders in an
`ImmutableSandboxedEnvironment` (a template cannot reach Python's internals or change what it
is given) with strict undefined values: a template that names a trait the customer does not
have raises `Missing("missing trait first_name")` and the send is held with that reason — it
never goes out as "Hello ,". `{{ traits.first_name | default("there") }}` is how a template
says it can do without.

Templates are files named `<name>.email.j2`, `<name>.sms.j2` or `<name>.push.j2`, looked up
in the folders given (the project's own first, then the shipped ones in
`automations/templates/messages/`). An email template has blocks `subject` and `text`, and may
have `html`; the HTML is rendered with autoescaping on, so what customers wrote (a name, a
comment) is escaped. Without an `html` block the HTML part is the text, escaped, with its
links made clickable. An SMS or push template is its body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape, unescape
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, Template, TemplateError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

SHIPPED = Path(__file__).parent / "templates" / "messages"
"""The templates parcours ships (welcome, inactivity reminders, renewal...)."""
URL = re.compile(r"https?://[^\s<>\"']+")
HREF = re.compile(r'href="(https?://[^"]+)"')


class Missing(Exception):
    """The reason a message cannot be rendered (a missing trait, a template in error)."""


class Traits(dict[str, Any]):
    """The profile's traits, as a template sees them."""


class EntryData(dict[str, Any]):
    """The entry's properties, as a template sees them."""


class _Strict(StrictUndefined):
    """Strict, and saying in the customer's words what is missing."""

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint:  # the sandbox's refusals say what they refused
            return str(self._undefined_hint)
        if isinstance(self._undefined_obj, Traits):
            return f"missing trait {self._undefined_name}"
        if isinstance(self._undefined_obj, EntryData):
            return f"missing entry property {self._undefined_name}"
        return str(super()._undefined_message)


@dataclass(frozen=True)
class Rendered:
    body: str
    subject: str | None = None
    html: str | None = None


def _environment(folders: list[Path], autoescape: bool) -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        loader=FileSystemLoader([str(f) for f in folders]),
        undefined=_Strict,
        autoescape=autoescape,
        keep_trailing_newline=False,
    )


class Renderer:
    """Renders sends' content; templates are read once and kept."""

    def __init__(self, folders: list[Path] | None = None) -> None:
        self.folders = [*(folders or []), SHIPPED]
        self.text = _environment(self.folders, autoescape=False)
        self.markup = _environment(self.folders, autoescape=True)
        self._kept: dict[tuple[bool, str], Template] = {}
        self._compiled: dict[str, Template] = {}

    def fresh(self) -> None:
        """Forget the templates read so far: the next render reads a changed file again.
        Delivery calls it once per batch, so a batch asks the disk once per template."""
        self._kept.clear()

    def _inline(self, source: str) -> Template:
        """A step's own text, compiled once (compiling costs a millisecond; rendering, tens
        of microseconds)."""
        compiled = self._compiled.get(source)
        if compiled is None:
            if len(self._compiled) >= 1000:
                self._compiled.clear()
            compiled = self._compiled[source] = self.text.from_string(source)
        return compiled

    def _template(self, name: str, *, markup: bool = False) -> Template:
        kept = self._kept.get((markup, name))
        if kept is None:
            kept = (self.markup if markup else self.text).get_template(name)
            self._kept[(markup, name)] = kept
        return kept

    def render(
        self,
        channel: str,
        *,
        template: str | None,
        subject: str | None,
        body: str | None,
        context: dict[str, Any],
    ) -> Rendered:
        """The message for `channel`, or Missing with the reason it cannot be written."""
        context = {
            **context,
            "traits": Traits(context.get("traits") or {}),
            "entry": EntryData(context.get("entry") or {}),
        }
        try:
            if template is None:
                text = self._inline(body or "").render(context)
                title = self._inline(subject).render(context) if subject else None
                return Rendered(text.strip(), " ".join(title.split()) if title else None)
            if channel == "email":
                return self._email(template, context)
            name = f"{template}.{channel}.j2"
            if channel == "push" and not self._exists(name):
                name = f"{template}.sms.j2"
            return Rendered(self._template(name).render(context).strip())
        except UndefinedError as error:
            raise Missing(str(error)) from None
        except TemplateError as error:
            where = f"template {template}" if template else "the step's text"
            raise Missing(f"{where}: {type(error).__name__}: {error}") from None

    def _exists(self, name: str) -> bool:
        if (False, name) in self._kept:
            return True
        return any((folder / name).is_file() for folder in self.folders)

    def _email(self, template: str, context: dict[str, Any]) -> Rendered:
        name = f"{template}.email.j2"
        plain = self._template(name)
        if "subject" not in plain.blocks or "text" not in plain.blocks:
            raise Missing(f"template {name} needs a subject block and a text block")
        subject = "".join(plain.blocks["subject"](plain.new_context(context))).strip()
        text = "".join(plain.blocks["text"](plain.new_context(context))).strip()
        html = None
        if "html" in plain.blocks:
            marked = self._template(name, markup=True)
            html = "".join(marked.blocks["html"](marked.new_context(context))).strip()
        return Rendered(text, " ".join(subject.split()), html)


def html_of(text: str) -> str:
    """Plain text as HTML: escaped, paragraphs kept, links clickable."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    out = []
    for paragraph in paragraphs:
        escaped = escape(paragraph)
        linked = URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
        out.append("<p>" + linked.replace("\n", "<br>\n") + "</p>")
    return "\n".join(out)


def track_links(html: str, tracked: Any, *, skip: str) -> str:
    """`html` with each link's URL replaced by `tracked(url)` (a signed redirect), except
    links to `skip` (parcours' own: the unsubscribe link)."""

    def replace(match: re.Match[str]) -> str:
        url = unescape(match.group(1))
        if url.startswith(skip):
            return match.group(0)
        return f'href="{escape(tracked(url))}"'

    return HREF.sub(replace, html)
