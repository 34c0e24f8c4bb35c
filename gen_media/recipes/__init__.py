"""Command-line recipes: ``python -m gen_media.recipes.speech`` (and later ``.video``)."""
