"""The policy dataclasses the planner receives (bot.core.policy): lookups and their errors."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.errors import PolicyError
from bot.core.policy import (
    EnvironmentPolicy,
    FreezeWindow,
    ImageSource,
    ModelSource,
    ModelStoreLocation,
    PromotionPolicy,
    Registry,
    Reviewer,
    Source,
)
from bot.core.tags import NumericalPolicy, SemverPolicy

DEV = EnvironmentPolicy(
    "dev",
    "deploy/overlays/dev/kustomization.yaml",
    Source(ImageSource("modelops-app"), ModelSource("digits")),
    tag_policy=NumericalPolicy(),
)
QA = EnvironmentPolicy("qa", "o/qa.yaml", Source(previous="dev"), tag_policy=SemverPolicy("*"))
PROD = EnvironmentPolicy("prod", "o/prod.yaml", Source(previous="qa"))
STORE = ModelStoreLocation("https://models.blob.core.windows.net", "models")


@pytest.mark.parametrize(
    ("account_url", "expected"),
    [
        ("https://models.blob.core.windows.net", "https://models.blob.core.windows.net/models"),
        ("https://models.blob.core.windows.net/", "https://models.blob.core.windows.net/models"),
    ],
)
def test_the_model_store_reads_as_account_and_container(account_url: str, expected: str) -> None:
    assert str(ModelStoreLocation(account_url, "models")) == expected


def test_lookups_follow_the_chain_and_the_nearest_tag_policy():
    policy = PromotionPolicy(Registry("acr.example.io"), (DEV, QA, PROD), STORE)
    assert policy.names == ["dev", "qa", "prod"]
    assert policy.previous("prod") is QA and policy.previous("dev") is None
    assert policy.tag_policy("dev") is DEV.tag_policy
    assert policy.tag_policy("prod") is QA.tag_policy
    assert policy.image_reference_name == "acr.example.io/modelops-app"
    assert policy.model_name == "digits"


def test_registry_host_override_is_checked_like_the_file():
    policy = PromotionPolicy(Registry("acr.example.io"), (DEV,), STORE)
    assert policy.with_registry_host("127.0.0.1:5000").registry == Registry("127.0.0.1:5000")
    for bad in ("https://acr", "acr.example.io\n", ""):
        with pytest.raises(PolicyError, match=r"settings: registry\.host: String should match"):
            policy.with_registry_host(bad)


def test_a_policy_without_a_first_tag_policy_is_refused():
    with pytest.raises(ValueError, match="the first environment needs a tag_policy"):
        PromotionPolicy(Registry("r"), (replace(DEV, tag_policy=None),), STORE)
    with pytest.raises(ValueError, match="the first environment needs a tag_policy"):
        PromotionPolicy(Registry("r"), (), STORE)


@pytest.mark.parametrize(
    ("source", "attribute", "message"),
    [
        (Source(model=ModelSource("digits")), "image_repository", "no image source"),
        (Source(image=ImageSource("app")), "model_name", "no model source"),
    ],
)
def test_a_first_environment_without_a_source_says_so(source, attribute, message):
    policy = PromotionPolicy(Registry("r"), (replace(DEV, source=source),), STORE)
    with pytest.raises(PolicyError, match=message):
        getattr(policy, attribute)


def test_frozen_until_names_the_first_open_window():
    closed = FreezeWindow("0 0 1 1 *", timedelta(minutes=1), name="new year")
    always = FreezeWindow("* * * * *", timedelta(minutes=5), name="always")
    env = replace(PROD, freeze_windows=(closed, always))

    now = datetime(2026, 3, 4, 12, 0, 30, tzinfo=UTC)
    frozen = env.frozen_until(now)
    assert frozen is not None and frozen[0] is always
    assert frozen[1] == datetime(2026, 3, 4, 12, 5, tzinfo=UTC)
    assert replace(PROD, freeze_windows=(closed,)).frozen_until(now) is None


def test_unknown_environment_lookups_name_the_known_ones():
    policy = PromotionPolicy(Registry("r"), (DEV, QA), STORE)
    for lookup in (policy.environment, policy.previous, policy.tag_policy):
        with pytest.raises(PolicyError, match=r"unknown environment 'x' \(known: dev, qa\)"):
            lookup("x")


@pytest.mark.parametrize(
    ("text", "org", "name"),
    [
        ("octocat", None, "octocat"),
        ("a-b-c", None, "a-b-c"),
        ("modelops/ml-reviewers", "modelops", "ml-reviewers"),
        ("Modelops/sre_team", "Modelops", "sre_team"),
    ],
)
def test_a_reviewer_is_a_user_or_an_organizations_team(text: str, org: str | None, name: str):
    reviewer = Reviewer.parse(text)
    assert (reviewer.org, reviewer.name, reviewer.is_team) == (org, name, org is not None)
    assert str(reviewer) == text and reviewer.key == text.lower()


@pytest.mark.parametrize(
    "text", ["", "@octocat", "a--b", "-a", "a-", "x" * 40, "org/", "/team", "o/t/x", "o/-t", "a b"]
)
def test_anything_else_is_not_a_reviewer(text: str):
    with pytest.raises(ValueError, match="is neither a user login"):
        Reviewer.parse(text)
