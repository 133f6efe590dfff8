"""modelyard's Python client: typed calls to the public HTTP API; the web UI, the CLI and scripts use it.

    from modelyard.client import Client
    client = Client.from_credentials()            # MODELYARD_URL / MODELYARD_API_KEY or `modelyard login`'s file
    dataset = client.upload_dataset_file("buyers.csv")
    trained = client.train_and_wait(dataset["file_id"], target="will_buy", on_progress=print)
    client.deploy(trained["model_id"])
    predictions = client.predict_frame(trained["model_id"], frame)

Every refusal raises ModelyardError with the server's `status`, `code` and `message` (see docs/client.md).
"""
from modelyard.client.api import DEFAULT_BACKEND, TERMINAL, ApiClient, ApiError, backend_url
from modelyard.client.errors import JobFailed, ModelyardError, Unreachable
from modelyard.client.jobs import JobState
from modelyard.client.workflows import Client

__all__ = ["DEFAULT_BACKEND", "TERMINAL", "ApiClient", "ApiError", "Client", "JobFailed", "JobState",
           "ModelyardError", "Unreachable", "backend_url"]
