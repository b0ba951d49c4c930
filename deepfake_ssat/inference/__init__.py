"""Single-video inference: a video file → face tracks → 16-frame segments → fake probabilities → verdict.

``Predictor.from_checkpoint(path)`` rebuilds the classifier of a checkpoint (the decoder is not
loaded) and everything around it from the checkpoint's data config, so the demo and the command
line score a video exactly as evaluation scored the test set:

- faces: ``preprocessing.extract_tracks`` with the face-crop settings that made the training data
  (detector, tracker, margin, crop size), recorded in the checkpoint;
- crops: through the clip store's JPEG settings (``preprocessing.clips.as_stored``), as the training
  faces were read back from disk;
- segments: every track becomes a row of an in-memory ``SegmentDataset``, the evaluation dataset
  (same ``clip_stride``, ``segment_step``, resize and normalisation);
- scores: ``evaluation.score_segments`` (the evaluation loop, on a ``runtime.Runtime``: the same
  device and precision rules), softmax per segment, mean per track, max over tracks, verdict at the
  checkpoint's validation threshold.

A video without a usable face gets the verdict ``inconclusive`` and no score (never a made-up 0.5).
Long videos: at most ``max_segments_per_track`` segments per track are scored, spread uniformly
over the whole track, and the result says so in ``notes``.

``Predictor.reconstruction(result)`` is the one place the decoder runs: it masks one scored clip
the way training did and shows what the SSAT decoder makes of it (checkpoints trained with
``mode=ssat`` or ``pretrain`` only).
"""


from .predictor import Predictor
from .results import Prediction, PredictOptions, Progress, Reconstruction, SegmentScore, TrackScore, format_table

__all__ = ["PredictOptions", "Prediction", "Predictor", "Progress", "Reconstruction", "SegmentScore", "TrackScore",
           "format_table"]
