"""Intelligence part of the demo brand: train every model on the demo's own history (the 18
months of orders and 12 weeks of behaviour the data hub part wrote), so the model pages, the
profiles' predictions and the prediction conditions of segments have real scores to show. A
kind the demo's few hundred customers cannot support says why on /console/intelligence/."""

from __future__ import annotations

from freshloop.core.audit import Actor
from freshloop.intelligence.services import KindOutcome, models_retrain

SEED_ACTOR = Actor.system("demo_seed")


def seed_intelligence() -> list[KindOutcome]:
    return models_retrain(actor=SEED_ACTOR)
