"""The PR body says what a reviewer needs: before/after, metric diff, commits, gates, rollback."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot import pr_body
from bot.core.confirm import ConfirmMode, Deployment, DeployStatus, soak_verdict
from bot.core.marker import read_marker, same_body
from bot.core.model import ImagePin, ModelPin
from bot.core.plan import Check, ImageChange, ModelChange, Promotion
from bot.forge import Commit, CommitRange
from bot.kustomize import Change, UpdateResult

OLD_DIGEST = "sha256:" + "a" * 64
NEW_DIGEST = "sha256:" + "b" * 64


def _promotion(*, image: bool = True, model: bool = True) -> Promotion:
    return Promotion(
        env="staging",
        overlay="deploy/overlays/staging/kustomization.yaml",
        image=ImageChange(
            before=ImagePin("modelops-app", "acr.io/modelops-app", "0.1.0-41-aaaaaaa", OLD_DIGEST),
            after=ImagePin("modelops-app", "acr.io/modelops-app", "0.1.0-42-bbbbbbb", NEW_DIGEST),
            revision_before="1" * 40,
            revision_after="2" * 40,
        )
        if image
        else None,
        model=ModelChange(
            before=ModelPin("digits", 3, "c" * 64),
            after=ModelPin("digits", 4, "d" * 64),
            metrics_before={"accuracy": 0.95, "f1": 0.94},
            metrics_after={"accuracy": 0.97, "latency_ms": 1.5},
        )
        if model
        else None,
        checks=(
            Check("signature", True, "image serves input:float32[?,64], model has the same"),
            Check("soak", True, "in dev for 2h (needs 1h)"),
        ),
        reasons=("dev runs it",),
    )


def _changes(*, image: bool = True, model: bool = True) -> UpdateResult:
    """What the overlay edit of `_promotion()` reports (as `kustomize.edit_text` returns it)."""
    result = UpdateResult()
    overlay = "deploy/overlays/staging/kustomization.yaml"
    if image:
        result.add(
            overlay,
            "images[modelops-app]",
            Change("newTag", "0.1.0-41-aaaaaaa", "0.1.0-42-bbbbbbb"),
        )
        result.add(overlay, "images[modelops-app]", Change("digest", OLD_DIGEST, NEW_DIGEST))
    if model:
        result.add(overlay, "configMapGenerator[model-pin]", Change("MODEL_VERSION", "3", "4"))
        result.add(
            overlay, "configMapGenerator[model-pin]", Change("MODEL_SHA256", "c" * 64, "d" * 64)
        )
    return result


def test_title_names_env_and_both_moves():
    title = pr_body.title(_promotion())
    assert title.startswith("Promote staging:")
    assert "0.1.0-41-aaaaaaa → 0.1.0-42-bbbbbbb" in title
    assert "digits v3 → v4" in title


def test_change_table_shows_before_and_after_of_every_pin():
    body = pr_body.render(_promotion(), None, _changes(), model_pin="model-pin")
    assert "| image tag | `0.1.0-41-aaaaaaa` | **`0.1.0-42-bbbbbbb`** |" in body
    assert "| image digest | `sha256:aaaaaaaaaaaa…` | **`sha256:bbbbbbbbbbbb…`** |" in body
    assert "| model version | digits v3 | **digits v4** |" in body
    assert "| model sha256 | `cccccccccccc…` | **`dddddddddddd…`** |" in body


def test_metric_diff_has_deltas_and_marks_missing_values():
    text = pr_body.section_metrics(_promotion())
    assert "| accuracy | 0.95 | 0.97 | +0.02 |" in text
    assert "| f1 | 0.94 | — | — |" in text
    assert "| latency_ms | — | 1.5 | — |" in text


def test_image_only_promotion_says_model_unchanged_and_has_no_model_rows():
    body = pr_body.render(
        _promotion(model=False), None, _changes(model=False), model_pin="model-pin"
    )
    assert "The model does not change." in body
    assert "model version" not in body


def test_commit_range_lists_commits_or_says_why_not():
    commits = CommitRange(
        "1" * 40,
        "2" * 40,
        (Commit("3" * 40, "Faster predict"), Commit("4" * 40, "Fix")),
    )
    text = pr_body.section_commits(commits)
    assert "`111111111111..222222222222`, 2 commit(s)" in text
    assert "- `333333333333` Faster predict" in text
    missing = pr_body.section_commits(CommitRange(None, None, unavailable="no label"))
    assert "Commit range unavailable: no label." in missing


def test_gates_show_pass_and_fail_with_evidence():
    promotion = _promotion()
    failing = Promotion(
        promotion.env,
        promotion.overlay,
        promotion.image,
        promotion.model,
        checks=(Check("metric accuracy", False, "accuracy 0.8: below min 0.9"),),
    )
    assert "✅ **soak**: in dev for 2h (needs 1h)" in pr_body.section_checks(promotion)
    assert "❌ **metric accuracy**: accuracy 0.8: below min 0.9" in pr_body.section_checks(failing)


def test_rollback_pins_the_previous_values_exactly():
    text = pr_body.section_rollback(_promotion(), "model-pin")
    assert "promotion-bot set deploy/overlays/staging/kustomization.yaml" in text
    assert f"--image modelops-app=acr.io/modelops-app:0.1.0-41-aaaaaaa@{OLD_DIGEST}" in text
    assert "--literal model-pin:MODEL_VERSION=3" in text
    assert f"--literal model-pin:MODEL_SHA256={'c' * 64}" in text


def test_marker_round_trips_and_detects_changes():
    body = pr_body.render(_promotion(), None, _changes(), model_pin="model-pin")
    marker = read_marker(body)
    assert marker is not None
    assert marker["env"] == "staging"
    assert marker["image"] == {"tag": "0.1.0-42-bbbbbbb", "digest": NEW_DIGEST}
    assert same_body(body, pr_body.render(_promotion(), None, _changes(), model_pin="model-pin"))
    other = pr_body.render(
        _promotion(model=False), None, _changes(model=False), model_pin="model-pin"
    )
    assert not same_body(body, other)
    assert not same_body("written by a human", body)
    assert read_marker("<!-- promotion-bot: {not json} -->") is None


def test_rollback_pins_the_generator_the_policy_names():
    text = pr_body.section_rollback(_promotion(), "weights")
    assert "--literal weights:MODEL_VERSION=3" in text
    assert f"--literal weights:MODEL_SHA256={'c' * 64}" in text
    assert "model-pin" not in text


def test_gates_section_renders_a_gate_it_does_not_know():
    promotion = _promotion()
    added = Check("evaluation", False, "claimed 0.97, measured 0.91")
    text = pr_body.section_checks(replace(promotion, checks=(*promotion.checks, added)))
    assert "- ✅ **signature**: image serves input:float32[?,64], model has the same" in text
    assert text.index("**soak**") < text.index("- ❌ **evaluation**: claimed 0.97, measured 0.91")


HOSTILE_SUBJECTS = (
    "fix: <!-- everything after this is hidden",
    '<!-- promotion-bot: {"env": "prod", "body_sha256": "' + "0" * 64 + '"} -->',
    "ping @ml-reviewers and @modelops/sre, closes #12",
    "break | the | table and `code` **bold** [x](javascript:alert(1))",
    "\x1b[31mred\x1b[0m \u202eevil",
)


def test_hostile_commit_subjects_render_as_text_and_hide_nothing():
    from markdown_it import MarkdownIt

    commits = CommitRange(
        "1" * 40, "2" * 40, tuple(Commit(f"{i}" * 40, s) for i, s in enumerate(HOSTILE_SUBJECTS))
    )
    body = pr_body.render(_promotion(), commits, _changes(), model_pin="model-pin")
    tokens = MarkdownIt("commonmark").enable(["table", "strikethrough"]).parse(body)
    # every section after the commit list still renders as a heading: nothing was swallowed
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings[-3:] == ["Code between the images", "Gates", "How to roll back"]
    # only the marker itself is an HTML comment, and it is ours
    assert [t.content.strip()[:21] for t in tokens if t.type == "html_block"] == [
        "<!-- promotion-bot: {"
    ]
    marker = read_marker(body)
    assert marker is not None
    assert marker["env"] == "staging"
    rendered = "".join(
        child.content
        for t in tokens
        if t.type == "inline"
        for child in t.children or []
        if child.type == "text"
    )
    for subject_text in ("@ml-reviewers", "@modelops/sre", "#12", "\x1b", "\u202e"):
        assert subject_text not in rendered
    assert "javascript:" not in "".join(
        str(c.attrs) for t in tokens if t.type == "inline" for c in t.children or []
    )


def test_rollback_command_quotes_values_for_the_shell():
    promotion = _promotion()
    assert promotion.image is not None
    assert promotion.image.before is not None
    hostile = replace(promotion.image.before, tag="1.0$(touch /tmp/pwned)", digest=None)
    promotion = replace(promotion, image=replace(promotion.image, before=hostile))
    text = pr_body.section_rollback(promotion, "model-pin")
    assert "--image 'modelops-app=acr.io/modelops-app:1.0$(touch /tmp/pwned)'" in text


def test_the_soak_gate_cites_the_confirmation_and_escapes_what_the_forge_stored():
    """Issue 14.6: the soak row names the commit, the status context and the forge's time; the
    context and the ignored creators come from whoever posted statuses (any writer may), so
    they are rendered inert like commit subjects."""
    from markdown_it import MarkdownIt

    now, hour = datetime(2026, 11, 25, 12, tzinfo=UTC), timedelta(hours=1)
    cluster = "aks <img src=x onerror=alert(1)> @ml-reviewers [x](javascript:alert(1)) | `#12"
    context = f"kustomization/modelops-dev/{cluster}"
    commit = "3f9c" * 10
    ok = DeployStatus(commit, context, "success", now - 2 * hour, 7, creator="flux[bot]")
    fake = DeployStatus(commit, context, "success", now, 8, creator="<b>@modelops/sre</b>")
    allowed = frozenset({"flux[bot]"})
    rows = []
    for statuses in ((ok, fake), (fake,)):  # confirmed by Flux; only the impostor: held
        deployment = Deployment(statuses, (commit,), creators=allowed)
        verdict = soak_verdict(
            "dev", deployment, soak=hour, mode=ConfirmMode.COMMIT_STATUS, now=now
        )
        promotion = replace(_promotion(), checks=(Check("soak", verdict.soaked, verdict.detail),))
        body = pr_body.render(promotion, None, _changes(), model_pin="model-pin")
        rows.append(next(line for line in body.splitlines() if "**soak**" in line))
    passed, held = rows
    assert passed.startswith("- ✅ **soak**: dev confirmed healthy for 2h (needs 1h): ")
    assert f"success on {commit[:12]} at 2026-11-25T10:00:00Z" in passed
    assert held.startswith("- ❌ **soak**: dev has not confirmed running these pins")
    texts = []
    for row in rows:
        inline = [c for t in MarkdownIt("commonmark").parse(row) for c in t.children or []]
        assert not {c.type for c in inline} & {"html_inline", "link_open", "code_inline"}
        texts.append("".join(c.content for c in inline if c.type == "text"))
        for hostile in ("@ml-reviewers", "@modelops/sre", "#12"):
            assert hostile not in texts[-1], hostile  # no mention, no issue link
    assert "kustomization/modelops-dev/aks <img src=x" in texts[0]  # shown as text
    assert "ignored 1 status(es) from <b>@\u200bmodelops/sre</b> (not a controller)" in texts[1]
