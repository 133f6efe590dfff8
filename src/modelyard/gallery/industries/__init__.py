"""The 15 industry models behind ``/api/industry/{industry}/{name}`` (paths as the contract spells them).

The contract gives inputs for risk-assessment and credit-scoring only; the other models' inputs are
plausible ones chosen here (docs/gallery.md lists them). Each recipe's docstring states its ground truth.
Response fields follow the contract's core models: probability, level, confidence, 0/1 prediction and
key factors for yes/no models; label, probabilities and alternatives for choices; value with a 95%
interval for forecasts.
"""

from modelyard.gallery.industries import finance, healthcare, manufacturing, retail, saas

INDUSTRY = (*healthcare.MODELS, *finance.MODELS, *retail.MODELS, *manufacturing.MODELS, *saas.MODELS)
