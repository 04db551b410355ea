"""HTTP: automations, `/v1/automations/...`, as JSON (the same as `parcours automations ...
--format json`; docs/automations.md).

The answers name customers, so every route needs the admin token. Reads run on a read
session; what writes (publish, pause, resume, retire, an entry) runs through the server's one
writer. A definition is sent as JSON, the same structure as the YAML file: data, checked and
linted as at the command line, never code.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel, Field

from parcours.automations.service import Automations
from parcours.serving.deps import ReaderDep, WriterDep, require_admin

router = APIRouter(tags=["automations"], dependencies=[Depends(require_admin)])


def _automations(store: ReaderDep) -> Automations:
    return Automations(store)


AutomationsDep = Annotated[Automations, Depends(_automations)]
Limit = Annotated[int, Query(ge=0, le=100_000)]
DefinitionBody = Annotated[
    dict[str, Any],
    Body(description="An automation definition: name, trigger, steps... (docs/automations.md)."),
]


class Identifier(BaseModel):
    type: str = Field(description="email, phone, user_id... or customer_id.")
    value: str


class EntryBody(BaseModel):
    """A customer to enter, by one identifier, with the properties its steps read (`entry`)."""

    identifier: Identifier
    properties: dict[str, Any] = Field(default_factory=dict)


@router.get("/v1/automations", summary="Every automation, its instances counted")
def list_automations(automations: AutomationsDep, retired: bool = False) -> list[dict[str, Any]]:
    return [a.to_dict() for a in automations.list(retired=retired)]


@router.post("/v1/automations", summary="Publish an automation (a new version if it changed)")
async def publish_automation(
    definition: DefinitionBody,
    writer: WriterDep,
    on_publish: Literal["finish", "move", "exit"] = "finish",
    status: Literal["live", "paused"] = "live",
) -> dict[str, Any]:
    """Checked against the store and linted: an error refuses it (400, with the place and the
    fix); the warnings come back with the version."""
    done: Any = await writer.call(
        lambda s: Automations(s).publish(definition, on_publish=on_publish, status=status)
    )
    return dict(done.to_dict())


@router.get("/v1/automations/sends", summary="The send ledger, filtered")
def automation_sends(
    automations: AutomationsDep,
    automation: str | None = None,
    state: str | None = None,
    channel: str | None = None,
    customer: str | None = None,
    limit: Limit = 100,
) -> list[dict[str, Any]]:
    return automations.sends(
        automation=automation, state=state, channel=channel, customer_id=customer, limit=limit
    )


@router.get("/v1/automations/tasks", summary="Agents' tasks the automations created")
def automation_tasks(
    automations: AutomationsDep,
    automation: str | None = None,
    state: str | None = "open",
    limit: Limit = 100,
) -> list[dict[str, Any]]:
    return automations.tasks(automation=automation, state=state, limit=limit)


@router.get("/v1/automations/{name}", summary="An automation: definition, counts, versions")
def show_automation(name: str, automations: AutomationsDep) -> dict[str, Any]:
    return automations.show(name).to_dict()


@router.post("/v1/automations/{name}/pause", summary="Pause: no entry, no step, no send")
async def pause_automation(name: str, writer: WriterDep) -> dict[str, Any]:
    done: Any = await writer.call(lambda s: Automations(s).pause(name))
    return dict(done.to_dict())


@router.post("/v1/automations/{name}/resume", summary="Resume a paused automation")
async def resume_automation(name: str, writer: WriterDep) -> dict[str, Any]:
    done: Any = await writer.call(lambda s: Automations(s).resume(name))
    return dict(done.to_dict())


@router.post("/v1/automations/{name}/retire", summary="Retire: running instances exit")
async def retire_automation(name: str, writer: WriterDep) -> dict[str, Any]:
    done: dict[str, Any] = await writer.call(lambda s: Automations(s).retire(name))
    return done


@router.post("/v1/automations/{name}/entries", summary="Enter a customer (the HTTP trigger)")
async def enter_automation(name: str, body: EntryBody, writer: WriterDep) -> dict[str, Any]:
    """For an automation whose trigger is `http`: the customer the identifier names enters,
    unless its re-entry rule or audience refuses (`entered: 0`)."""
    done: Any = await writer.call(
        lambda s: Automations(s).enter(
            name,
            identifier=body.identifier.type,
            value=body.identifier.value,
            properties=body.properties,
        )
    )
    return dict(done.to_dict())


@router.get("/v1/automations/{name}/instances", summary="Who is where")
def automation_instances(
    name: str,
    automations: AutomationsDep,
    step: str | None = None,
    state: str | None = None,
    customer: str | None = None,
    limit: Limit = 100,
) -> list[dict[str, Any]]:
    return automations.instances(name, step=step, state=state, customer_id=customer, limit=limit)


@router.get(
    "/v1/automations/{name}/uplift",
    summary="The goal's conversion, treated against held out, and each step's funnel",
)
def automation_uplift(
    name: str, automations: AutomationsDep, version: int | None = None
) -> dict[str, Any]:
    return dict(automations.uplift(name, version=version).to_dict())
