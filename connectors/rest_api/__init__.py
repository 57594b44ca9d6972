"""The CRM REST API (``/api/v1/``), its OpenAPI document, ``/health`` and the problem+json error boundary.

    app = web.Application(middlewares=[problem_middleware], client_max_size=settings.max_body_bytes)
    RestApi(db).install(app)
    install_health(app, db)

``assistant.server.build_app`` does exactly this; nothing else should.
"""

from connectors.rest_api.health import install_health
from connectors.rest_api.middleware import problem_middleware
from connectors.rest_api.routes import RestApi

__all__ = ["RestApi", "install_health", "problem_middleware"]
