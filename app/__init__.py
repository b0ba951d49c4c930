"""The Gradio demo (``deepfake-ssat demo``): a thin layer over ``deepfake_ssat.inference``.

Layering: app imports deepfake_ssat and preprocessing, never the reverse.
"""
