"""Credits: what a call costs is taken in one atomic statement, so concurrent calls never overspend.

A charge is ``UPDATE user SET credits = credits - n WHERE id = ? AND credits >= n RETURNING credits``:
the database serialises the row (PostgreSQL's row lock, SQLite's single writer), so with one credit
left and fifty concurrent calls exactly one succeeds, in either runtime shape and across any number
of API processes. The same transaction writes the ledger row (``credit_event``). A refused charge
changes nothing and raises 402 INSUFFICIENT_CREDITS.
"""
from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from modelyard.auth.models import CreditEvent, User
from modelyard.errors import AppError, BadRequest, NotFound


class InsufficientCredits(AppError):
    status, code, title = 402, "INSUFFICIENT_CREDITS", "Insufficient credits"


class CreditService:
    def __init__(self, session: Session):
        self._session = session

    def balance(self, user_id: int) -> int:
        credits = self._session.scalar(select(User.credits).where(User.id == user_id))
        if credits is None:
            raise NotFound("user", user_id)
        return credits

    def charge(self, user_id: int, amount: int, *, reason: str = "prediction", detail: str | None = None,
               once: bool = False) -> int:
        """Take `amount` credits (all or nothing); the balance after. 0 costs nothing and writes nothing.

        `once`: `detail` names this piece of work uniquely (a job's chunk), and a charge already in the
        ledger under it is not taken again, so a job retried after a crash pays for each chunk once."""
        if amount < 0:
            raise BadRequest("a charge cannot be negative")
        if amount == 0:
            return self.balance(user_id)
        if once and self._session.scalar(select(CreditEvent.id).where(
                CreditEvent.user_id == user_id, CreditEvent.reason == reason,
                CreditEvent.detail == (detail or "")[:200]).limit(1)) is not None:
            return self.balance(user_id)
        balance = self._session.scalar(
            update(User).where(User.id == user_id, User.credits >= amount)
            .values(credits=User.credits - amount).returning(User.credits))
        if balance is None:
            self._session.rollback()
            remaining = self.balance(user_id)
            raise InsufficientCredits(f"this call costs {amount} credit(s) and {remaining} remain; "
                                      "ask an admin to allocate more",
                                      details={"required": amount, "remaining": remaining})
        self._session.add(CreditEvent(user_id=user_id, delta=-amount, balance=balance, reason=reason,
                                      detail=(detail or "")[:200] or None))
        self._session.commit()
        return balance

    def allocate(self, user_id: int, amount: int, *, actor: User | None = None, reason: str = "allocation",
                 detail: str | None = None) -> int:
        """Add `amount` credits (negative takes some back, never below zero); the balance after."""
        if self._session.get(User, user_id) is None:
            raise NotFound("user", user_id)
        balance = self._session.scalar(
            update(User).where(User.id == user_id, User.credits + amount >= 0)
            .values(credits=User.credits + amount).returning(User.credits))
        if balance is None:
            self._session.rollback()
            raise BadRequest(f"taking back {-amount} credit(s) would leave a negative balance "
                             f"({self.balance(user_id)} remain)")
        self._session.add(CreditEvent(user_id=user_id, delta=amount, balance=balance, reason=reason,
                                      detail=(detail or "")[:200] or None, actor_id=actor.id if actor else None))
        self._session.commit()
        return balance

    def history(self, user_id: int, *, limit: int = 50, offset: int = 0) -> list[CreditEvent]:
        """The user's ledger, newest first."""
        return list(self._session.scalars(select(CreditEvent).where(CreditEvent.user_id == user_id)
                                          .order_by(CreditEvent.id.desc()).limit(limit).offset(offset)))

    def history_count(self, user_id: int) -> int:
        return self._session.scalar(select(func.count()).select_from(CreditEvent)
                                    .where(CreditEvent.user_id == user_id)) or 0
