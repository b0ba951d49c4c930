"""The top layer: the Gradio demo (``deepfake-ssat demo``), a thin layer over ``deepfake_ssat.inference``,
and the console script (``app.cli``) that adds ``demo`` to the library's commands.

Layering: app imports deepfake_ssat and preprocessing, never the reverse (tests/test_layering.py).
"""
