"""Promotion bot: discovers images and model versions, plans promotions, opens PRs."""
