"""The service's trained example model, for tests that run the app behind the pod's proxy."""

from tests.app.conftest import digits_data, trained_model_dir  # noqa: F401 (fixtures re-used)
