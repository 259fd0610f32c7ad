"""Webhook endpoints of the ingest API: register, list, show, delete, and list deliveries.

A key manages its owner's endpoints only (`upload` scope to register and delete, `read` to list);
another owner's endpoint answers 404 like a missing one. The secret is shown once, at registration.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload
from starlette.concurrency import run_in_threadpool

from egress.errors import TargetRefused
from egress.targets import resolve_target
from ingest.auth import Principal
from ingest.deps import Ingest, IngestDep, bearer_scheme
from webhooks import events
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.signing import new_secret

router = APIRouter(dependencies=[Depends(bearer_scheme)], tags=["webhooks"])


class ErrorOut(BaseModel):
    error: str
    message: str


class EndpointIn(BaseModel):
    url: str = Field(max_length=2048, examples=["https://example.com/hooks/vodstack"])
    # Empty or absent: every event type.
    event_types: list[str] = Field(default_factory=list, examples=[["asset.ready", "asset.failed"]])
    description: str | None = Field(default=None, max_length=512)


class EndpointOut(BaseModel):
    id: str
    url: str
    event_types: list[str]
    description: str | None
    created_at: datetime


class EndpointCreated(EndpointOut):
    # Standard Webhooks secret (whsec_ + base64): verify signatures with it. Shown only here.
    secret: str


class AttemptOut(BaseModel):
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryOut(BaseModel):
    id: str
    message_id: str  # the webhook-id header
    event_type: str
    state: str  # pending, delivered or failed
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None  # None once delivered or failed
    delivered_at: datetime | None
    last_status: int | None
    last_error: str | None
    attempt_log: list[AttemptOut]


AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "no valid key"},
    403: {"model": ErrorOut, "description": "the key lacks the scope"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "no such endpoint of the key's owner"}
}


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers={"Cache-Control": "no-store"})


def _not_found(endpoint_id: str) -> JSONResponse:
    return _error(404, "not_found", f"no webhook endpoint {endpoint_id[:80]!r}")


def _out(endpoint: WebhookEndpoint) -> EndpointOut:
    return EndpointOut(
        id=endpoint.id,
        url=endpoint.url,
        event_types=list(endpoint.event_types),
        description=endpoint.description,
        created_at=_utc(endpoint.created_at) or datetime.now(UTC),
    )


def _visible(principal: Principal, endpoint: WebhookEndpoint | None) -> bool:
    # Endpoints always have an owner; admins see every owner's.
    return endpoint is not None and principal.owns(endpoint.owner)


def _create(ingest: Ingest, principal: Principal, body: EndpointIn, types: list[str]) -> EndpointCreated | JSONResponse:
    limit = ingest.settings.webhooks.max_endpoints_per_owner
    with ingest.catalog.session() as session:
        count = session.scalar(select(func.count()).where(WebhookEndpoint.owner == principal.owner)) or 0
        if count >= limit:
            return _error(409, "too_many_endpoints", f"an owner may register {limit} endpoints")
        endpoint = WebhookEndpoint(
            owner=principal.owner, url=body.url, secret=new_secret(), event_types=types, description=body.description
        )
        session.add(endpoint)
        session.flush()
        return EndpointCreated(**_out(endpoint).model_dump(), secret=endpoint.secret)


@router.post(
    "/webhooks",
    status_code=201,
    response_model=EndpointCreated,
    responses={
        **AUTH_ERRORS,
        409: {"model": ErrorOut, "description": "the owner has registered the most endpoints allowed"},
        # (422 stays FastAPI's: a body that does not match the schema)
        400: {"model": ErrorOut, "description": "unknown event type, or a URL that may not be called"},
    },
)
async def create_endpoint(body: EndpointIn, request: Request, ingest: IngestDep) -> Any:
    principal = await ingest.authenticate(request, "upload")
    unknown = sorted(set(body.event_types) - set(events.EVENT_TYPES))
    if unknown:
        return _error(400, "unknown_event_type", f"unknown event types {unknown}; known: {list(events.EVENT_TYPES)}")
    types = [t for t in events.EVENT_TYPES if t in body.event_types] if body.event_types else list(events.EVENT_TYPES)
    try:
        # Resolves the host: off the event loop.
        await run_in_threadpool(resolve_target, body.url, allow_private=ingest.settings.webhooks.allow_private_targets)
    except TargetRefused as exc:
        return _error(400, "target_refused", str(exc))
    created = await run_in_threadpool(_create, ingest, principal, body, types)
    return created


def _list(ingest: Ingest, principal: Principal) -> list[EndpointOut]:
    query = select(WebhookEndpoint).order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    if not principal.admin:
        query = query.where(WebhookEndpoint.owner == principal.owner)
    with ingest.catalog.session() as session:
        return [_out(endpoint) for endpoint in session.scalars(query).all()]


@router.get("/webhooks", response_model=list[EndpointOut], responses=AUTH_ERRORS)
async def list_endpoints(request: Request, ingest: IngestDep) -> Any:
    principal = await ingest.authenticate(request, "read")
    return await run_in_threadpool(_list, ingest, principal)


def _get(ingest: Ingest, principal: Principal, endpoint_id: str) -> EndpointOut | None:
    with ingest.catalog.session() as session:
        endpoint = session.get(WebhookEndpoint, endpoint_id)
        return _out(endpoint) if endpoint is not None and _visible(principal, endpoint) else None


@router.get("/webhooks/{endpoint_id}", response_model=EndpointOut, responses={**AUTH_ERRORS, **NOT_FOUND})
async def get_endpoint(endpoint_id: str, request: Request, ingest: IngestDep) -> Any:
    principal = await ingest.authenticate(request, "read")
    found = await run_in_threadpool(_get, ingest, principal, endpoint_id)
    return _not_found(endpoint_id) if found is None else found


def _delete(ingest: Ingest, principal: Principal, endpoint_id: str) -> bool:
    with ingest.catalog.session() as session:
        endpoint = session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None or not _visible(principal, endpoint):
            return False
        session.delete(endpoint)  # its pending deliveries go with it
        return True


@router.delete("/webhooks/{endpoint_id}", status_code=204, responses={**AUTH_ERRORS, **NOT_FOUND})
async def delete_endpoint(endpoint_id: str, request: Request, ingest: IngestDep) -> Response:
    principal = await ingest.authenticate(request, "upload")
    if not await run_in_threadpool(_delete, ingest, principal, endpoint_id):
        return _not_found(endpoint_id)
    return Response(status_code=204)


def _deliveries(ingest: Ingest, principal: Principal, endpoint_id: str, limit: int) -> list[DeliveryOut] | None:
    with ingest.catalog.session() as session:
        endpoint = session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None or not _visible(principal, endpoint):
            return None
        rows = session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint_id)
            .options(selectinload(WebhookDelivery.attempt_log))
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)
            .limit(limit)
        ).all()
        return [
            DeliveryOut(
                id=d.id,
                message_id=d.message_id,
                event_type=d.event_type,
                state=d.state,
                attempts=d.attempts,
                created_at=_utc(d.created_at) or datetime.now(UTC),
                next_attempt_at=_utc(d.next_attempt_at) if d.state == "pending" else None,
                delivered_at=_utc(d.delivered_at),
                last_status=d.last_status,
                last_error=d.last_error,
                attempt_log=[
                    AttemptOut(
                        attempted_at=_utc(a.attempted_at) or datetime.now(UTC),
                        status_code=a.status_code,
                        error=a.error,
                        duration_ms=a.duration_ms,
                    )
                    for a in d.attempt_log
                ],
            )
            for d in rows
        ]


@router.get(
    "/webhooks/{endpoint_id}/deliveries", response_model=list[DeliveryOut], responses={**AUTH_ERRORS, **NOT_FOUND}
)
async def list_deliveries(
    endpoint_id: str, request: Request, ingest: IngestDep, limit: int = Query(50, ge=1, le=500)
) -> Any:
    principal = await ingest.authenticate(request, "read")
    found = await run_in_threadpool(_deliveries, ingest, principal, endpoint_id, limit)
    return _not_found(endpoint_id) if found is None else found
