"""Where the run lock lives: the Blob container next to the model store, from the settings.

Few, short retries: an unreachable lock store fails in seconds, not after a minute. A bad
connection string or URL is a `SettingsError` naming the variable, never quoting its value
(it may hold a key).
"""

from __future__ import annotations

from azure.core.exceptions import AzureError
from azure.storage.blob import BlobServiceClient, ContainerClient, ExponentialRetry

from bot.settings import Settings, SettingsError


def lock_container(settings: Settings) -> ContainerClient:
    env = settings.environ
    retry = ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=2)
    if env.get("AZURE_STORAGE_CONNECTION_STRING"):
        try:
            service = BlobServiceClient.from_connection_string(
                env["AZURE_STORAGE_CONNECTION_STRING"], retry_policy=retry
            )
        except (ValueError, AzureError) as exc:  # the message may quote the string: not shown
            raise SettingsError(
                "AZURE_STORAGE_CONNECTION_STRING is not a valid storage connection string"
            ) from exc
    elif env.get("MODELSTORE_ACCOUNT_URL"):
        from azure.identity import DefaultAzureCredential

        try:
            service = BlobServiceClient(
                env["MODELSTORE_ACCOUNT_URL"], DefaultAzureCredential(), retry_policy=retry
            )
        except (ValueError, AzureError) as exc:
            raise SettingsError(f"MODELSTORE_ACCOUNT_URL is not a valid URL: {exc}") from exc
    else:
        raise SettingsError(
            "set AZURE_STORAGE_CONNECTION_STRING or MODELSTORE_ACCOUNT_URL (the run lock lives "
            "in Blob storage next to the model store)"
        )
    return service.get_container_client(settings.lock_container)
