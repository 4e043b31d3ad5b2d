"""The default RAG corpus (CIA World Factbook documents and question sets), shipped as package data.

It is a package so that an installed wheel carries the corpus and finds it from any working directory:
``ROOT`` is where the documents (``docs/``) and question sets (``questions/``) live, in a checkout or in
site-packages alike. ``build.py`` regenerates them deterministically (``tierlab corpus build``).
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent
