"""One APIRouter per resource: scoring, themes, roadmap, health, admin."""
