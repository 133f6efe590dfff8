"""The pluggable detector: an ONNX classifier supplied in settings scores the pixels."""
import numpy as np
import pytest
from PIL import Image

from modelyard.labeling.detectors import _probability, load_detector


def brightness_model(path, layout="NCHW"):
    """A tiny ONNX 'detector' whose P(generated) is the mean pixel value (white → 1, black → 0)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    shape = [1, 3, 16, 16] if layout == "NCHW" else [1, 16, 16, 3]
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["image"], ["score"], keepdims=0)],
        "brightness", [helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, [])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_an_onnx_classifier_from_settings_scores_images(tmp_path, layout):
    pytest.importorskip("onnxruntime")
    detector = load_detector(brightness_model(tmp_path / f"detector-{layout}.onnx", layout))
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
