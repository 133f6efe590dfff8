"""The pluggable detector: an ONNX classifier supplied in settings scores the pixels."""
import numpy as np
import pytest
from PIL import Image

from modelyard.labeling.detectors import _probability, load_detector
from tests.support.labeling import brightness_onnx


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_an_onnx_classifier_from_settings_scores_images(tmp_path, layout):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    detector = load_detector(brightness_onnx(tmp_path / f"detector-{layout}.onnx", layout))
    assert detector.score(Image.new("RGB", (40, 30), (255, 255, 255))) == pytest.approx(1.0, abs=1e-3)
    assert detector.score(Image.new("RGB", (40, 30), (0, 0, 0))) == pytest.approx(0.0, abs=1e-3)
    assert detector.name.startswith("onnx:")


def test_no_model_configured_means_no_detector():
    assert load_detector("") is None


def test_outputs_become_probabilities():
    assert _probability(np.array([0.2, 0.8])) == pytest.approx(0.8)
    assert _probability(np.array([0.0, 0.0])) == pytest.approx(0.5)  # logits
    assert _probability(np.array([0.7])) == pytest.approx(0.7)
    assert _probability(np.array([10.0])) > 0.99  # a logit
