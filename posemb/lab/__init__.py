"""The book's laboratory: small models, toy tasks, training and the Applications experiments.

Apart from the scheme library on purpose: ``import posemb`` does not load it. Modules:
:mod:`posemb.lab.model` (encoder, decoder and encoder-decoder whose scheme is one
argument), :mod:`posemb.lab.tasks`, :mod:`posemb.lab.training` (deterministic training;
``seed_everything`` changes torch's global determinism flag on purpose, see its
docstring) and :mod:`posemb.lab.experiments` (``python -m posemb.lab.experiments``).
"""
