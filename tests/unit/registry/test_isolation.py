"""Upload checks run in a child process: a loader that crashes or hangs cannot take the server down."""
import os

import pytest

from modelyard.errors import AppError
from modelyard.registry import formats, isolation
from tests.support.registry_models import lightgbm_text, regressor, skops_bytes, untrusted_skops


def test_a_good_model_comes_back_as_plain_facts():
    facts = isolation.inspect("skops", skops_bytes(regressor()))
    assert facts["task"] == "regression" and [f["name"] for f in facts["signature"]] == ["spend", "visits", "tenure"]


def test_a_file_that_crashes_the_native_loader_is_refused_and_this_process_lives_on():
    pid = os.getpid()
    with pytest.raises(formats.UnsupportedModelFile) as error:
        isolation.inspect("lightgbm", lightgbm_text()[:600])
    assert "crashed" in error.value.message
    assert os.getpid() == pid


def test_errors_raised_in_the_child_keep_their_class_status_and_details():
    with pytest.raises(formats.UntrustedModelFile) as error:
        isolation.inspect("skops", untrusted_skops())
    assert error.value.status == 400 and error.value.details["untrusted_types"] == \
        ["sklearn.neighbors.KNeighborsRegressor"]
    assert error.value.message.startswith("this model contains KNeighborsRegressor (from scikit-learn)")


def test_a_check_that_takes_too_long_is_refused():
    with pytest.raises(AppError) as error:
        isolation.inspect("skops", skops_bytes(regressor()), timeout=0.001)
    assert error.value.status == 422 and "longer than" in error.value.message
