"""Test configuration: a modest hypothesis profile so the suite stays fast on 2 cores."""

from hypothesis import settings

settings.register_profile("posemb", deadline=None, max_examples=25)
settings.load_profile("posemb")
