"""Every login dialect of the contracts, sign-up, the current user, and API keys."""
from __future__ import annotations

import json

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status

from modelyard.api.deps import AuthDep, CurrentUser, RuntimeDep, SessionDep, current_user
from modelyard.api.params import Limit, Offset
from modelyard.auth.credits import CreditService
from modelyard.auth.limits import count_or_refuse, limit_headers
from modelyard.auth.schemas import (
    CSV_SCORING_ROLES, LABELING_ROLES, CreditHistoryOut, CsvLoginOut, KeyCreate, KeyOut, LoginIn, LoginOut, NewKeyOut,
    RateLimitOut, RegisterIn, RegisterOut, UserOut, ValidateOut,
)
from modelyard.auth.service import Login
from modelyard.errors import InvalidJson, Unprocessable

public = APIRouter(tags=["auth"])
private = APIRouter(tags=["auth"], dependencies=[Depends(current_user)])


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _answer(login: Login, roles: dict[str, str]) -> dict:
    user = login.user
    return {"access_token": login.token, "token_type": "bearer", "role": roles.get(user.role, user.role),
            "expires_in": login.expires_in, "user_id": user.id, "username": user.username}


async def _credentials_any_dialect(
    request: Request,
    username: Annotated[str | None, Query(include_in_schema=False)] = None,
    password: Annotated[str | None, Query(include_in_schema=False)] = None,
) -> LoginIn:
    """`/login` takes JSON, a form, or query parameters (csv-scoring and model-registry clients)."""
    data: dict = {}
    content_type = request.headers.get("content-type", "")
    if "application/json" in content_type:
        body = await request.body()
        if body.strip():
            try:
                data = json.loads(body)
            except ValueError:
                raise InvalidJson("request body is not valid JSON") from None
            if not isinstance(data, dict):
                raise Unprocessable("login body must be a JSON object with username and password")
    elif "form" in content_type:
        form = await request.form()
        data = {k: v for k, v in form.items() if isinstance(v, str)}
    data.setdefault("username", username)
    data.setdefault("password", password)
    if not data.get("username") or not data.get("password"):
        raise Unprocessable("username and password are required (JSON body, form fields or query parameters)")
    try:
        return LoginIn.model_validate(data)
    except ValueError:
        raise Unprocessable("username and password must be non-empty strings") from None


@public.post("/login", response_model=CsvLoginOut, summary="Log in (csv-scoring and model-registry dialect)")
def login_any(request: Request, auth: AuthDep, creds: Annotated[LoginIn, Depends(_credentials_any_dialect)]):
    answer = _answer(auth.login(creds.username, creds.password, address=_address(request)), CSV_SCORING_ROLES)
    return {**answer, "token": answer["access_token"]}


@public.post("/auth/login", response_model=LoginOut, summary="Log in (labeling dialect)")
def login_labeling(request: Request, body: LoginIn, auth: AuthDep):
    return _answer(auth.login(body.username, body.password, address=_address(request)), LABELING_ROLES)


@public.post("/api/auth/login", response_model=LoginOut, summary="Log in (prediction-platform dialect)")
def login_platform(request: Request, body: LoginIn, auth: AuthDep):
    return _answer(auth.login(body.username, body.password, address=_address(request)), {})


@public.post("/api/auth/register", response_model=RegisterOut, status_code=status.HTTP_201_CREATED)
def register(request: Request, body: RegisterIn, auth: AuthDep, runtime: RuntimeDep):
    """A new account on the default plan with its first API key (shown once); sign-ups per client address
    are limited (MODELYARD_RATE_LIMIT_ADDRESS, the contract's per-IP row)."""
    stats = count_or_refuse(runtime.limiter, runtime.settings.rate_limit_address, "register", "address",
                            _address(request) or "unknown", what="the sign-up limit of this address")
    request.scope.setdefault("state", {})["extra_headers"] = limit_headers(stats)
    new = auth.register(body.username, body.password, email=body.email)
    return RegisterOut(message="User registered successfully", user_id=new.key.user_id,
                       username=body.username, api_key=new.full)


@private.get("/api/auth/user", response_model=UserOut)
def who_am_i(user: CurrentUser, auth: AuthDep, session: SessionDep):
    credits = CreditService(session)  # read now: the cached user's figure may be a moment old
    keys = auth.list_api_keys(user)
    return UserOut(user_id=user.id, username=user.username, email=user.email, role=user.role,
                   api_key=f"{keys[-1].prefix}…" if keys else None, credits_remaining=credits.balance(user.id),
                   plan=user.plan, created_at=user.created_at)


@private.get("/api/credits/history", response_model=CreditHistoryOut)
def credit_history(user: CurrentUser, session: SessionDep, limit: Limit = 50, offset: Offset = 0):
    """The caller's credit ledger, newest first: charges, allocations, starting credits; with the balance."""
    return CreditHistoryOut.of(CreditService(session), user.id, limit=limit, offset=offset)


@private.get("/api/auth/validate", response_model=ValidateOut)
def validate(request: Request, user: CurrentUser):
    stats = request.state.rate_limit
    return ValidateOut(valid=True, user_id=user.id, username=user.username, role=user.role,
                       rate_limit=RateLimitOut(limit=stats.limit, remaining=stats.remaining, reset=stats.reset))


@private.get("/api/auth/keys", response_model=list[KeyOut])
def list_keys(user: CurrentUser, auth: AuthDep):
    return [KeyOut.model_validate(k, from_attributes=True) for k in auth.list_api_keys(user)]


@private.post("/api/auth/keys", response_model=NewKeyOut, status_code=status.HTTP_201_CREATED)
def create_key(body: KeyCreate, user: CurrentUser, auth: AuthDep):
    new = auth.create_api_key(user, name=body.name)
    return NewKeyOut(**KeyOut.model_validate(new.key, from_attributes=True).model_dump(), api_key=new.full)


@private.post("/api/auth/keys/{key_id}/rotate", response_model=NewKeyOut, status_code=status.HTTP_201_CREATED)
def rotate_key(key_id: str, user: CurrentUser, auth: AuthDep):
    """Replace a key: the new one is shown once, the old one stops working in every process at once."""
    new = auth.rotate_api_key(user, key_id)
    return NewKeyOut(**KeyOut.model_validate(new.key, from_attributes=True).model_dump(), api_key=new.full)


@private.delete("/api/auth/keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_key(key_id: str, user: CurrentUser, auth: AuthDep):
    auth.revoke_api_key(user, key_id)
