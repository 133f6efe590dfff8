"""Imports every domain's tables so that Base.metadata knows them all (Alembic, tests)."""
from modelyard.auth.models import ApiKey, LoginEvent, User  # noqa: F401
from modelyard.data.models import Dataset  # noqa: F401
from modelyard.features.models import FeatureRow, FeatureTable, FeatureTableVersion  # noqa: F401
from modelyard.jobs.models import Job  # noqa: F401
from modelyard.jobs.workers import WorkerBeat  # noqa: F401
from modelyard.labeling.models import ImageLabel, LabelingImage, LabelingRequest, LabelingTask, QcResult  # noqa: F401
from modelyard.ops.models import Activity, AppSetting  # noqa: F401
from modelyard.ops.alerts import Alert  # noqa: F401
from modelyard.ops.drift import DriftCounts  # noqa: F401
from modelyard.ops.predlog import PredictionRecord  # noqa: F401
from modelyard.registry.models import ModelVersion, RegisteredModel  # noqa: F401
from modelyard.scoring.models import ScoringUpload  # noqa: F401
from modelyard.webhooks.models import Webhook, WebhookDelivery  # noqa: F401
