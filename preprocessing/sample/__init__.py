"""Tiny sample datasets in the official DFDC and FaceForensics++ layouts.

What this is: a **pipeline check**. It writes a handful of short videos laid out exactly like the
real datasets (DESIGN §4), so that indexing, face preprocessing, training and the cross-manipulation
protocol can be exercised end to end without downloading anything. What this is not: a benchmark.
The "fakes" are four procedural manipulations loosely in the spirit of FF++'s methods, applied to
footage animated from one photograph; accuracy on them says nothing about accuracy on real
deepfakes.

Real footage: by default the portrait photo that scikit-image ships (``skimage.data.astronaut()``),
animated into clips with a virtual camera (smooth pan, zoom and small rotation), a lighting change,
sensor noise and JPEG-like degradation, then encoded as H.264. With ``source=DIR`` the frames of the
user's own images/videos are used instead (faces located with facenet-pytorch MTCNN).

Fakes, applied per frame in the coordinates of the moving camera so they follow the face:

- ``Deepfakes``: the face is replaced by a donor face (another video's identity; a mirrored copy
  when both come from the same photo), colour-matched only partly, rendered at low resolution like
  an autoencoder output, pasted with a soft but visible elliptical blending boundary.
- ``Face2Face``: the mouth region is warped into a changing expression (mouth opening, smile
  widening, darker mouth interior) and the lower face slightly re-rendered (smoothed).
- ``FaceSwap``: the donor face's texture is pasted inside a hard-edged landmark-hull polygon with a
  deliberate colour mismatch.
- ``NeuralTextures``: the mouth region is re-synthesised (detail lost, a low-frequency texture
  added) with a strength and colour that flicker from frame to frame.

Layouts (DESIGN §4):

- DFDC: ``OUT/dfdc_train_part_{k}/{name}.mp4`` + ``metadata.json`` (``label`` REAL/FAKE,
  ``split``, ``original``); a fake always sits in the same part as its original. Plus
  ``OUT/test/*.mp4`` with ``labels.csv`` (``filename,label``; 1 = fake), like the public test set.
  Balanced by default (one fake per real), unlike real DFDC (~82 % fake).
- FF++: ``OUT/original_sequences/youtube/{comp}/videos/NNN.mp4``,
  ``OUT/manipulated_sequences/{method}/{comp}/videos/TTT_SSS.mp4`` and
  ``OUT/splits/{train,val,test}.json`` (lists of pairs [a, b]; pair [a, b] puts reals a, b and
  fakes a_b, b_a in that split). ``c23``/``c40`` set the H.264 CRF to 23/40, ``raw`` is lossless.

Both layouts also get ``OUT/sample_faces.json`` (not part of the official layouts): generator
settings, each video's label/method/original/donor, and the ground-truth face box and 5 landmarks
of every frame of every real video (a fake shares its original's geometry).

Deterministic: the same arguments and seed give the same frames (``frames_sha1`` of each video in
``sample_faces.json``) and, with the same PyAV/x264 build, the same bytes (the encoder settings
that make x264 repeatable are in ``preprocessing.video.write_video``).
"""

from __future__ import annotations

from ..lazy import lazy_attributes
from .cli import add_arguments, run_from_args
from .options import LAYOUTS

_LAZY = {"write_sample_dataset": "layouts", "ASTRONAUT_LANDMARKS": "sources"}  # numpy/OpenCV: on first use
__all__ = ["ASTRONAUT_LANDMARKS", "LAYOUTS", "add_arguments", "run_from_args", "write_sample_dataset"]

__getattr__ = lazy_attributes(__name__, _LAZY, globals())
