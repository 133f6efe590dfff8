"""Admin user management: list (both contracts' shapes), create, change role, deactivate."""
from __future__ import annotations

from fastapi import APIRouter, Depends, status

from pydantic import BaseModel

from modelyard.api.deps import AdminUser, AuthDep, RuntimeDep, SessionDep, require_roles
from modelyard.api.params import Limit, Offset, UserId
from modelyard.auth.credits import CreditService
from modelyard.auth.schemas import (
    ROLE_INPUT, AdminUserOut, CreditHistoryOut, CreditsIn, CreditsOut, UserCreate, UserUpdate,
)
from modelyard.errors import BadRequest, Conflict

router = APIRouter(tags=["admin"], dependencies=[Depends(require_roles("admin"))])


@router.get("/admin/users", response_model=list[AdminUserOut])
def list_users(auth: AuthDep):
    return [AdminUserOut.of(u) for u in auth.list_users()]


@router.post("/admin/users", response_model=AdminUserOut, status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, auth: AuthDep):
    role = ROLE_INPUT.get(body.role, body.role)
    return AdminUserOut.of(auth.create_user(body.username, body.password, role=role, email=body.email))


@router.get("/admin/users/{user_id}", response_model=AdminUserOut)
def get_user(user_id: UserId, auth: AuthDep):
    return AdminUserOut.of(auth.get_user(user_id))


@router.patch("/admin/users/{user_id}", response_model=AdminUserOut)
def update_user(user_id: UserId, body: UserUpdate, admin: AdminUser, auth: AuthDep):
    user = auth.get_user(user_id)
    if user.id == admin.id and (body.is_active is False or (body.role and body.role not in ("admin", "universal"))):
        raise Conflict("an admin cannot deactivate or demote their own account")
    role = ROLE_INPUT.get(body.role, body.role) if body.role else None
    updated = auth.update_user(user, role=role, is_active=body.is_active, password=body.password, email=body.email,
                               plan=body.plan)
    return AdminUserOut.of(updated)


@router.post("/admin/users/{user_id}/credits", response_model=CreditsOut)
def allocate_credits(user_id: UserId, body: CreditsIn, admin: AdminUser, auth: AuthDep, session: SessionDep):
    """Allocate credits to a user (prediction-platform contract); recorded in the user's credit history."""
    user = auth.get_user(user_id)
    if body.credits == 0:
        raise BadRequest("credits must not be 0")
    balance = CreditService(session).allocate(user.id, body.credits, actor=admin, detail=body.reason)
    return CreditsOut(user_id=user.id, credits_added=body.credits, credits_remaining=balance, plan=user.plan)


@router.get("/admin/users/{user_id}/credits/history", response_model=CreditHistoryOut)
def credit_history(user_id: UserId, auth: AuthDep, session: SessionDep, limit: Limit = 50, offset: Offset = 0):
    """A user's credit ledger, newest first (admin only)."""
    user = auth.get_user(user_id)
    return CreditHistoryOut.of(CreditService(session), user.id, limit=limit, offset=offset)


@router.delete("/admin/users/{user_id}", response_model=AdminUserOut)
def deactivate_user(user_id: UserId, admin: AdminUser, auth: AuthDep):
    user = auth.get_user(user_id)
    if user.id == admin.id:
        raise Conflict("an admin cannot deactivate their own account")
    updated = auth.update_user(user, is_active=False)
    return AdminUserOut.of(updated)



class CleanupOut(BaseModel):
    removed: list[str]


@router.post("/admin/maintenance/cleanup", response_model=CleanupOut)
def run_cleanup(runtime: RuntimeDep, force: bool = False):
    """Apply the retention policy now (it also runs hourly in every worker); `force` ignores autoCleanup."""
    from modelyard.data.retention import cleanup

    return CleanupOut(removed=cleanup(runtime.db, runtime.blobs, force=force))
