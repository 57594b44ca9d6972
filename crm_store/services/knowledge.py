"""Knowledge-base articles per language (semantic search lives with the assistant's FAQ action)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crm_store.models import KnowledgeArticle
from crm_store.services.base import Service
from crm_store.services.errors import ValidationFailed


class KnowledgeService(Service):
    entity = "knowledge_article"

    def create(self, *, language: str, title: str, body: str, tags: list[str] | None = None) -> KnowledgeArticle:
        self.require("create")  # policy.yml: knowledge
        if not title.strip() or not body.strip():
            raise ValidationFailed("an article needs a title and a body", "title" if not title.strip() else "body")
        art = KnowledgeArticle(language=language, title=title.strip(), body=body.strip(), tags=tags or [])
        self.session.add(art)
        self.session.flush()
        self.audit("create", art.id, {"language": language, "title": art.title})
        return art

    def published(self, language: str | None = None) -> list[KnowledgeArticle]:
        stmt = select(KnowledgeArticle).where(KnowledgeArticle.published.is_(True)).order_by(KnowledgeArticle.id)
        if language:
            stmt = stmt.where(KnowledgeArticle.language == language)
        return list(self.session.execute(stmt).scalars())

    def update(self, article_id: int, **values: Any) -> KnowledgeArticle:
        self.require("update")
        art = self.get_or_404(KnowledgeArticle, article_id, "article")
        for k, v in values.items():
            setattr(art, k, v)
        self.audit("update", art.id, {"fields": sorted(values)})
        return art
