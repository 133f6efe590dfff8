"""Pluggable pixel-based AI-image detectors. None is built in: a model must be supplied.

A detector maps decoded pixels to a probability that the image was generated. Set
`MODELYARD_AI_DETECTOR_ONNX=/path/model.onnx` to score every image with an ONNX classifier:

- one image input, NCHW (`[1, 3, H, W]`) or NHWC (`[1, H, W, 3]`), float32 RGB scaled to 0..1
  (H and W are read from the model; dynamic sizes get 224);
- one output: `[1, 2]` (real, generated — logits or probabilities; softmax is applied unless the
  row already sums to 1) or `[1]`/`[1, 1]` (a probability, or a logit when outside 0..1).

Models trained with other normalisations can wrap it into the graph. The runtime is imported
only when a model is configured.
"""
from __future__ import annotations

import math
import threading
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
from PIL import Image

DEFAULT_SIDE = 224


class Detector(ABC):
    """Scores decoded pixels; `name` appears in the evidence it produces."""

    name: str = "detector"

    @abstractmethod
    def score(self, image: Image.Image) -> float:
        """Probability in 0..1 that `image` was generated."""


class OnnxDetector(Detector):
    def __init__(self, path: str | Path):
        import onnxruntime  # heavy, optional: only when a model is configured

        self.path = Path(path)
        self.name = f"onnx:{self.path.name}"
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # the serving path's share of the cores; QC runs in workers
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        model_input = self._session.get_inputs()[0]
        self._input_name = model_input.name
        shape = list(model_input.shape)
        if len(shape) != 4:
            raise ValueError(f"{self.path.name}: expected a 4-d image input, got shape {shape}")
        self._channels_last = shape[3] == 3 and shape[1] != 3
        h, w = (shape[1], shape[2]) if self._channels_last else (shape[2], shape[3])
        self._size = (w if isinstance(w, int) and w > 0 else DEFAULT_SIDE,
                      h if isinstance(h, int) and h > 0 else DEFAULT_SIDE)
        self._lock = threading.Lock()

    def score(self, image: Image.Image) -> float:
        pixels = np.asarray(image.convert("RGB").resize(self._size, Image.Resampling.BILINEAR), dtype=np.float32)
        pixels = pixels / 255.0
        batch = pixels[None] if self._channels_last else pixels.transpose(2, 0, 1)[None]
        with self._lock:
            output = self._session.run(None, {self._input_name: batch})[0]
        return _probability(np.asarray(output, dtype=np.float64).reshape(-1))


def _probability(values: np.ndarray) -> float:
    if values.size >= 2:
        row = values[:2]
        if not (np.all(row >= 0) and abs(row.sum() - 1.0) < 1e-3):
            row = np.exp(row - row.max())
            row = row / row.sum()
        return float(row[1])
    value = float(values[0])
    if 0.0 <= value <= 1.0:
        return value
    return 1.0 / (1.0 + math.exp(-value))


_CACHE: dict[str, Detector] = {}
_CACHE_LOCK = threading.Lock()


def load_detector(path: str) -> Detector | None:
    """The configured detector (one per model path per process), or None when none is configured."""
    if not path:
        return None
    with _CACHE_LOCK:
        if path not in _CACHE:
            _CACHE[path] = OnnxDetector(path)
        return _CACHE[path]
