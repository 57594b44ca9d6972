"""The app-wide error boundary: every failure leaves as a problem+json response, never as a traceback.

ProblemError            -> its problem
aiohttp HTTPException   -> 4xx/5xx problem (404 no route, 405, 413 body too large), headers kept
CrmError                -> 422 / 404 / 409 / 403 (crm_store.services.errors)
StoreUnavailable, OperationalError, InterfaceError   -> 503, nothing written
DataError               -> 422 (a value the database refuses), IntegrityError -> 409
anything else           -> 500 with a reference id; the traceback goes to the log only
"""

from __future__ import annotations

import logging
import secrets

from aiohttp import web
from aiohttp.typedefs import Handler
from sqlalchemy.exc import DataError, IntegrityError, InterfaceError, OperationalError

from connectors.rest_api import problems
from connectors.rest_api.problems import Problem, ProblemError
from crm_store.db import StoreUnavailable
from crm_store.services.errors import CrmError

log = logging.getLogger(__name__)


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ProblemError as exc:
        return exc.problem.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problems.from_http_exception(exc, method=request.method, path=request.path).response()
    except CrmError as exc:
        return problems.from_crm_error(exc).response()
    except (StoreUnavailable, OperationalError, InterfaceError) as exc:
        log.warning("store unavailable on %s %s: %s", request.method, request.path, type(exc).__name__)
        return problems.store_unavailable().response()
    except DataError:
        log.info("the database refused a value on %s %s", request.method, request.path, exc_info=True)
        return Problem(
            422,
            "Validation failed",
            "a value is out of the range the store accepts",
            problems.TYPE_PREFIX + "validation-failed",
        ).response()
    except IntegrityError:
        log.info("integrity conflict on %s %s", request.method, request.path, exc_info=True)
        return Problem(
            409,
            "Conflict",
            "the record conflicts with an existing one; please retry",
            problems.TYPE_PREFIX + "conflict",
        ).response()
    except Exception:
        reference = secrets.token_hex(4)
        log.exception("unhandled error (ref %s) on %s %s", reference, request.method, request.path)
        return problems.internal_error(reference).response()
