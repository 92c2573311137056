"""Benchmark the prediction service under granian against baselines, in one run.

    .venv/bin/python bench/bench_service.py [--duration 3] [--connections 8] [--rounds 5]
                                            [--skip-mlflow] [--before REF | --no-before]
                                            [--proxy] [--server-threads N]

Load comes from `wrk` (C, one thread) on loopback, so the client costs the server little CPU.
Scenarios: `/predict` with 1 row, with 64 rows as JSON, as packed float32 (`.npy`) with the JSON
answer, and as `.npy` with the `.npy` answer (`Accept: application/x-npy`; the service only), and
`/score` with 1 PNG image. The service runs as the image runs it, `python -m app.server`
(granian, `WEB_CONCURRENCY=2` workers, `SERVER_THREADS` at its default of 1). Compared with:
  (a) onnxruntime called in-process on the same model (the floor: no HTTP, no JSON);
  (b) a bare Flask handler under the same server and settings (`python -m app.server
      bench_service:bare_app`) that only parses JSON, runs the session and returns JSON: what
      Flask itself costs;
  (c) `before`: the `app` package as of a git ref (default cd8e786, the last one served by
      gunicorn) under that ref's own server: gunicorn with the ref's app/gunicorn_conf.py when
      the ref has one (gunicorn 27.0.1, installed for this benchmark only under
      build/bench/gunicorn-lib and put on that server's PYTHONPATH alone), else
      `python -m app.server`; with gunicorn also `bare-before`, the bare handler under that
      same gunicorn config, so the goals can be read before and after, each against its own
      server's bare handler;
  (d) MLflow's `mlflow models serve` on the same ONNX model (installed only for this benchmark,
      into its own venv under build/bench/), with 1 and with 2 workers, for the JSON /predict
      scenarios;
  (e) with --server-threads N, the service with `SERVER_THREADS=N` (`service-tN`; `proxied-tN`
      behind its own nginx with --proxy).
Every server is up for the whole run and the rounds interleave them, so load from elsewhere on
the shared machine hits them alike. Per run: req/s, p50/p99 latency and the serving processes'
CPU time (user + system, every process in the server's process group) per request; the CPU
figures are the steady ones on a shared machine. Figures are ratios against the bare handler
measured in the same rounds; nothing is asserted. The busiest worker's share of the workers'
CPU (the workers: the server's main process's children) shows how connections spread. With
--proxy, also the service behind the pod's shipped nginx (bench_proxy.py) in the same rounds.
Servers and wrk run on 127.0.0.1 only, bounded in time, stopped by their process groups' ids.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench_proxy import nginx_command, proxy_rows, stat_cpu_seconds
from bench_runs import Load, best, median_cpu_ms, runs

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "bench"
MLFLOW_VENV = WORK / "mlflow-venv"
MLFLOW_VERSION = "3.17.2"  # 3.18.0 needs mlflow-skinny 3.18.0, not yet on the index here
DIGIT_PNG = ROOT / "tests" / "data" / "digits" / "digit-7.png"
# The last commit whose app was served by gunicorn (app.server existed, the image did not use it).
DEFAULT_BEFORE = "cd8e786"
# gunicorn for `before` refs that still ship app/gunicorn_conf.py: the version the project pinned
# then, installed under build/bench/ only (the project's venv no longer has it).
GUNICORN_LIB = WORK / "gunicorn-lib"
GUNICORN_VERSION = "27.0.1"


# --- the bare baseline: `python -m app.server bench_service:bare_app` -------------------------


def bare_app() -> Any:
    """Flask, `request.get_json()`, one session per worker, `jsonify`: nothing else."""
    import numpy as np
    import onnxruntime as ort
    from flask import Flask, jsonify, request
    from PIL import Image

    model_dir = Path(os.environ["MODEL_DIR"])
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        (model_dir / "model.onnx").read_bytes(), options, providers=["CPUExecutionProvider"]
    )
    labels = json.loads((model_dir / "labels.json").read_text())
    app = Flask("bare")

    @app.post("/predict")
    def predict() -> Any:
        rows = np.asarray(request.get_json()["instances"], dtype=np.float32)
        if rows.ndim == 1:
            rows = rows[None, :]
        predicted, probabilities = session.run(None, {"input": rows})
        return jsonify(predictions=predicted.tolist(), probabilities=probabilities.tolist())

    @app.post("/score")
    def score() -> Any:
        started = time.perf_counter()
        rows = []
        for item in request.get_json()["input"]:
            image = Image.open(io.BytesIO(base64.b64decode(item))).convert("L")
            pixels = np.asarray(image.resize((8, 8), Image.Resampling.BOX), dtype=np.float32)
            rows.append(pixels.reshape(64) * (16.0 / 255.0))
        _, probabilities = session.run(None, {"input": np.stack(rows)})
        order = np.argsort(-probabilities, axis=1)[:, :3]
        result = [
            [[str(labels[c]), float(p[c])] for c in idx]
            for p, idx in zip(probabilities, order, strict=True)
        ]
        return jsonify(result=result, time=time.perf_counter() - started)

    @app.get("/readyz")
    def ready() -> Any:
        return "ok"

    return app


# --- measurement --------------------------------------------------------------------------------


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(output: str) -> tuple[float, float, float, int, int]:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"\s50%\s+([\d.]+)(us|ms|s|m)\b", output)
    p99 = re.search(r"\s99%\s+([\d.]+)(us|ms|s|m)\b", output)
    assert p50 is not None
    assert p99 is not None
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non2xx:
        errors += int(non2xx.group(1))
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if sock:
        errors += sum(int(g) for g in sock.groups())
    return rps, _ms(*p50.groups()), _ms(*p99.groups()), errors, total


def wrk(
    url: str, body: Path, duration: int, connections: int, accept: str | None = None
) -> tuple[float, float, float, int, int]:
    script = body.with_name(f"{body.stem}{'-accept-npy' if accept else ''}.lua")
    media = "application/x-npy" if body.suffix == ".npy" else "application/json"
    script.write_text(
        'wrk.method = "POST"\n'
        f'wrk.headers["Content-Type"] = "{media}"\n'
        + (f'wrk.headers["Accept"] = "{accept}"\n' if accept else "")
        + f'local f = io.open("{body}", "rb")\nwrk.body = f:read("*a")\nf:close()\n'
    )
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), url]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60, check=True)
    return parse_wrk(result.stdout)


def post(url: str, body: bytes, media: str = "application/json") -> Any:
    request = urllib.request.Request(  # noqa: S310 (loopback only)
        url, data=body, headers={"Content-Type": media}
    )
    with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310
        return json.loads(resp.read())


def post_npy_out(url: str, body: bytes) -> tuple[str, bytes]:
    """An `.npy` body asking for the `.npy` answer: (the answer's Content-Type, its bytes)."""
    request = urllib.request.Request(  # noqa: S310 (loopback only)
        url, data=body, headers={"Content-Type": "application/x-npy", "Accept": NPY_OUT}
    )
    with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310
        return resp.headers.get("Content-Type", ""), resp.read()


def free_port() -> int:
    from localworld.process import free_port as _free_port

    return _free_port()


class Server:
    """A server process started here, in its own process group, stopped by that group's id."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], ready_url: str, cwd: Path = ROOT
    ) -> None:
        self.name = name
        self.log = (WORK / f"{name}.log").open("wb")
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 180
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited early; see {self.log.name}")
            try:
                with urllib.request.urlopen(ready_url, timeout=2) as resp:  # noqa: S310
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{name} not ready after 180s; see {self.log.name}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()


def _pythonpath(*entries: Path) -> str:
    return os.pathsep.join([*map(str, entries), *filter(None, [os.environ.get("PYTHONPATH")])])


def granian_server(
    name: str, target: str, env: dict[str, str], port: int, cwd: Path = ROOT
) -> Server:
    """`python -m app.server TARGET` (granian), as the image runs it; bench/ importable for the
    bare handler. From cwd, so a `before` tree's `app` package is the one imported."""
    argv = [sys.executable, "-m", "app.server", target]
    env = {**env, "BIND": f"127.0.0.1:{port}", "PYTHONPATH": _pythonpath(ROOT / "bench")}
    return Server(name, argv, env, f"http://127.0.0.1:{port}/readyz", cwd)


def gunicorn_server(name: str, app_spec: str, env: dict[str, str], port: int, cwd: Path) -> Server:
    """gunicorn under the app/gunicorn_conf.py found in cwd (a `before` tree), from the
    bench-only install: GUNICORN_LIB is on this server's PYTHONPATH and nobody else's."""
    argv = [sys.executable, "-m", "gunicorn", "--config", "python:app.gunicorn_conf"]
    argv += ["--pythonpath", str(ROOT / "bench"), app_spec]
    env = {**env, "BIND": f"127.0.0.1:{port}", "PYTHONPATH": _pythonpath(GUNICORN_LIB)}
    env["GUNICORN_THREADS"] = "2"  # app.gunicorn_conf's default, stated: 2 workers x 2 threads
    return Server(name, argv, env, f"http://127.0.0.1:{port}/readyz", cwd)


def ensure_gunicorn() -> None:
    """gunicorn GUNICORN_VERSION under GUNICORN_LIB (pip --target), only for `before` refs."""
    probe = subprocess.run(
        [sys.executable, "-c", "import gunicorn; print(gunicorn.__version__, gunicorn.__file__)"],
        env={**os.environ, "PYTHONPATH": _pythonpath(GUNICORN_LIB)},
        capture_output=True,
        text=True,
        check=False,
    )
    version, _, where = probe.stdout.strip().partition(" ")
    if version == GUNICORN_VERSION and Path(where).is_relative_to(GUNICORN_LIB):
        return
    shutil.rmtree(GUNICORN_LIB, ignore_errors=True)
    pin = f"gunicorn=={GUNICORN_VERSION}"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(GUNICORN_LIB), pin],
        check=True,
        timeout=600,
    )


def extract_app(ref: str, into: Path) -> None:
    """Write the `app` package as of a git ref to `into/app` (`git archive`)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref, "app"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")


def checkout_app(ref: str) -> tuple[Path, str]:
    """The `app` package (code and server config) as of a git ref, under build/bench/; and the
    server that ref's image ran: gunicorn while app/gunicorn_conf.py existed, else granian."""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--verify", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    tree = WORK / f"app-{commit[:12]}"
    if not (tree / "app").is_dir():
        extract_app(commit, tree)
    return tree, "gunicorn" if (tree / "app" / "gunicorn_conf.py").exists() else "granian"


def listening_sockets(port: int) -> int:
    """How many listening TCP sockets are bound to this loopback port (one shared socket, or one
    per worker with SO_REUSEPORT)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


# --- the floor ------------------------------------------------------------------------------------


def floor(model_dir: Path, rows1: Any, rows64: Any, png: bytes) -> dict[str, dict[str, float]]:
    import numpy as np
    import onnxruntime as ort

    from app.imaging import image_to_row

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        (model_dir / "model.onnx").read_bytes(), options, providers=["CPUExecutionProvider"]
    )
    x1 = np.asarray(rows1, dtype=np.float32)
    x64 = np.asarray(rows64, dtype=np.float32)

    def per_call(fn: Any, seconds: float = 2.0) -> float:
        for _ in range(50):
            fn()
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            for _ in range(100):
                fn()
            count += 100
        return (time.perf_counter() - started) / count

    cases = {
        "predict-1": lambda: session.run(None, {"input": x1}),
        "predict-64": lambda: session.run(None, {"input": x64}),
        # The score floor includes the image decode + resize the service must do too.
        "score-1": lambda: session.run(
            None, {"input": image_to_row(png, 0, 8, 4_000_000)[None, :]}
        ),
    }
    out = {}
    for name, fn in cases.items():
        seconds = per_call(fn)
        out[name] = {"per_call_ms": seconds * 1000.0, "calls_per_s_one_core": 1.0 / seconds}
    return out


# --- MLflow ---------------------------------------------------------------------------------------


def ensure_mlflow() -> Path:
    """An isolated venv with MLflow, only for this benchmark (never in the project's venv)."""
    python = MLFLOW_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(MLFLOW_VENV)], check=True)
    probe = subprocess.run(
        [str(python), "-c", "import mlflow, onnx, onnxruntime; print(mlflow.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0 or probe.stdout.strip() != MLFLOW_VERSION:
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                f"mlflow=={MLFLOW_VERSION}",
                "onnx",
                "onnxruntime",
            ],
            check=True,
            timeout=1800,
        )
    return python


def mlflow_model(python: Path, model_dir: Path) -> Path:
    out = WORK / "mlflow-model"
    shutil.rmtree(out, ignore_errors=True)
    script = f"""
import numpy as np, onnx, mlflow.onnx
from mlflow.models import infer_signature
x = np.zeros((2, 64), dtype=np.float32)
signature = infer_signature(x, {{"label": np.zeros(2, dtype=np.int64),
                                 "probabilities": np.zeros((2, 10), dtype=np.float32)}})
mlflow.onnx.save_model(onnx.load({str(model_dir / "model.onnx")!r}), {str(out)!r},
                       signature=signature)
"""
    subprocess.run([str(python), "-c", script], check=True, timeout=300, cwd=WORK)
    return out


def mlflow_server(python: Path, model: Path, port: int, workers: int, name: str) -> Server:
    mlflow = python.parent / "mlflow"
    argv = [str(mlflow), "models", "serve", "-m", str(model), "--env-manager", "local"]
    argv += ["-h", "127.0.0.1", "-p", str(port), "-w", str(workers)]
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"file://{WORK / 'mlruns'}",
        # mlflow execs `uvicorn` by name: its venv's bin must come first on PATH.
        "PATH": f"{python.parent}:{os.environ.get('PATH', '')}",
    }
    return Server(name, argv, env, f"http://127.0.0.1:{port}/ping")


# --- the run --------------------------------------------------------------------------------------

SCENARIOS = (
    "predict-1",
    "predict-64",
    "predict-64-npy",
    "predict-64-npy-out",
    "score-1",
    "predict-1-paired",
)
# Scenarios measured in the same rounds, so that their ratios pair runs under the same load:
# .npy (JSON answer, .npy answer) against JSON at 64 rows, /score against the service's own
# /predict at 1 row.
BLOCKS = (
    ("predict-1",),
    ("predict-64", "predict-64-npy", "predict-64-npy-out"),
    ("score-1", "predict-1-paired"),
)
ROUTES = {"predict-1": "/predict", "predict-64": "/predict", "predict-64-npy": "/predict"}
ROUTES["score-1"] = "/score"
NPY_OUT = "application/x-npy"
# The Accept header a scenario sends (none: the server's default answer, JSON).
ACCEPT = {"predict-64-npy-out": NPY_OUT}
# The JSON scenario each is compared with for cpu/bare (the bare handler takes JSON only).
BARE_BASELINE = {"predict-64-npy": "predict-64", "predict-64-npy-out": "predict-64"}


@dataclass
class Inputs:
    model_dir: Path
    sha: str
    rows1: list[float]
    rows64: list[list[float]]
    png: bytes
    bodies: dict[str, str]
    mlflow_bodies: dict[str, str]
    paths: dict[str, Path]


def prepare() -> Inputs:
    import numpy as np
    from sklearn.datasets import load_digits

    from examples.train import train, write_artifacts

    WORK.mkdir(parents=True, exist_ok=True)
    model_dir = WORK / "model"
    write_artifacts(train(), model_dir)
    digits = load_digits()
    rows1 = digits.data[173].tolist()
    rows64 = digits.data[:64].tolist()
    png = DIGIT_PNG.read_bytes()
    bodies = {
        "predict-1": json.dumps({"instances": [rows1]}),
        "predict-64": json.dumps({"instances": rows64}),
        "score-1": json.dumps({"input": [base64.b64encode(png).decode()]}),
    }
    mlflow_bodies = {
        "predict-1": json.dumps({"inputs": [rows1]}),
        "predict-64": json.dumps({"inputs": rows64}),
    }
    paths = {}
    for name, text in {**bodies, **{f"mlflow-{k}": v for k, v in mlflow_bodies.items()}}.items():
        paths[name] = WORK / f"{name}.json"
        paths[name].write_text(text)
    paths["predict-64-npy"] = WORK / "predict-64-npy.npy"
    np.save(paths["predict-64-npy"], np.asarray(rows64, dtype="<f4"))
    return Inputs(
        model_dir=model_dir,
        sha=hashlib.sha256((model_dir / "model.onnx").read_bytes()).hexdigest(),
        rows1=rows1,
        rows64=rows64,
        png=png,
        bodies=bodies,
        mlflow_bodies=mlflow_bodies,
        paths=paths,
    )


@dataclass
class Target:
    """A server under test: where it listens, the process groups serving it (the app's
    first), and the (url path, body file) it gets per scenario. `workers`: its group leader's
    children are worker processes whose CPU shares show how connections spread."""

    name: str
    server: Server
    base: str
    groups: list[int]
    scenarios: dict[str, tuple[str, Path]]
    workers: bool = True


def _line(label: str, r: Load, share: float | None = None) -> str:
    return (
        f"{label:24} {r.scenario:18} {r.requests_per_s:7.0f} req/s"
        f"  p50 {r.p50_ms:7.2f} ms  p99 {r.p99_ms:7.2f} ms  errors {r.errors}"
        + (f"  cpu {r.cpu_ms_per_request * 1000:5.0f} us/req" if r.cpu_ms_per_request else "")
        + (
            f" (app server {r.app_cpu_ms_per_request:.2f} ms)"
            if r.server.startswith("proxied")
            else ""
        )
        + (f"  busiest worker {share:4.0%}" if share is not None else "")
    )


def _stat(pid: str) -> tuple[int, int, float] | None:
    """(parent pid, process group, CPU seconds) of a live process, None if it has exited."""
    try:
        stat = (Path("/proc") / pid / "stat").read_text()
        pgrp, seconds = stat_cpu_seconds(stat)
        return int(stat.rpartition(")")[2].split()[1]), pgrp, seconds
    except (OSError, ValueError, IndexError):
        return None  # exited while being read


def process_cpu_seconds(groups: list[int]) -> dict[int, float]:
    """CPU seconds per live process of these process groups (pid -> user + system)."""
    wanted, out = set(groups), {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(entry.name)) and stat[1] in wanted:
            out[int(entry.name)] = stat[2]
    return out


def worker_pids(leader: int) -> set[int]:
    """The server's workers: children of its main process (gunicorn's master, granian's main)
    in its process group."""
    return {
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit()
        and (stat := _stat(entry.name))
        and stat[0] == leader
        and stat[1] == leader
    }


def busiest_share(target: Target, before: dict[int, float], after: dict[int, float]) -> float:
    """The busiest worker's share of all workers' CPU time over a run (0.5: even for 2)."""
    workers = worker_pids(target.groups[0])
    used = [after[pid] - before.get(pid, 0.0) for pid in after if pid in workers]
    return max(used) / sum(used) if used and sum(used) > 0 else float("nan")


def start_targets(inputs: Inputs, args: Any) -> list[Target]:
    env = {
        **os.environ,
        "MODEL_DIR": str(inputs.model_dir),
        "MODEL_SHA256": inputs.sha,
        "MODEL_NAME": "digits",
        "MODEL_VERSION": "1",
        "MODEL_INPUT_SIGNATURE": "input:float32[?,64]",
        "PROMETHEUS_MULTIPROC_DIR": str(WORK / "prometheus"),
        "WEB_CONCURRENCY": "2",
    }
    # app.server's defaults unless --server-threads; and no GUNICORN_* (it refuses to start on
    # one: gunicorn_server() sets what a `before` ref's gunicorn config reads).
    for name in [k for k in env if k == "SERVER_THREADS" or k.startswith("GUNICORN_")]:
        del env[name]
    json_scenarios = {k: (ROUTES[k], inputs.paths[k]) for k in inputs.bodies}
    service_scenarios = {
        **json_scenarios,
        "predict-64-npy": ("/predict", inputs.paths["predict-64-npy"]),
        "predict-64-npy-out": ("/predict", inputs.paths["predict-64-npy"]),
        "predict-1-paired": json_scenarios["predict-1"],
    }
    targets: list[Target] = []

    def add(name: str, server: Server, port: int, scenarios: dict[str, tuple[str, Path]]) -> Target:
        base = f"http://127.0.0.1:{port}"
        targets.append(Target(name, server, base, [server.proc.pid], scenarios))
        return targets[-1]

    try:
        port = free_port()
        add(
            "service",
            granian_server("service", "app:create_app", env, port),
            port,
            service_scenarios,
        )
        port = free_port()
        # Each server its own metrics directory: app.server (and gunicorn) empties it at start.
        bare_env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(WORK / "prom-bare")}
        bare = granian_server("bare", "bench_service:bare_app", bare_env, port)
        add("bare", bare, port, json_scenarios)
        if args.before:
            try:
                _before_targets(
                    args.before,
                    env,
                    inputs,
                    service_scenarios=service_scenarios,
                    json_scenarios=json_scenarios,
                    add=add,
                )
            except (subprocess.CalledProcessError, RuntimeError, OSError) as exc:
                print(f"before baseline failed: {exc}", file=sys.stderr)
        if args.proxy:
            service = targets[0]
            service_port = int(service.base.rsplit(":", 1)[1])
            port = free_port()
            nginx = Server(
                "nginx",
                nginx_command(port, service_port, WORK / "nginx"),
                dict(os.environ),
                f"http://127.0.0.1:{port}/proxy-healthz",
            )
            groups = [*service.groups, nginx.proc.pid]  # the app server's first
            base = f"http://127.0.0.1:{port}"
            targets.append(Target("proxied", nginx, base, groups, json_scenarios, workers=False))
        for threads in args.server_threads:
            targets += _threads_targets(threads, env, service_scenarios, args.proxy)
        if not args.skip_mlflow:
            try:
                python = ensure_mlflow()
                model = mlflow_model(python, inputs.model_dir)
                for workers in (1, 2):
                    name = f"mlflow-w{workers}"
                    port = free_port()
                    server = mlflow_server(python, model, port, workers, name)
                    scenarios = {
                        k: ("/invocations", inputs.paths[f"mlflow-{k}"])
                        for k in inputs.mlflow_bodies
                    }
                    base = f"http://127.0.0.1:{port}"
                    targets.append(
                        Target(name, server, base, [server.proc.pid], scenarios, workers=False)
                    )
            except (subprocess.CalledProcessError, RuntimeError, OSError) as exc:
                print(f"MLflow baseline failed: {exc}", file=sys.stderr)
    except BaseException:
        for target in reversed(targets):
            target.server.stop()
        raise
    return targets


def _before_targets(
    ref: str,
    env: dict[str, str],
    inputs: Inputs,
    *,
    service_scenarios: dict[str, tuple[str, Path]],
    json_scenarios: dict[str, tuple[str, Path]],
    add: Any,
) -> None:
    """`before`: the app as of REF under its own server; with gunicorn, `bare-before` too."""
    tree, kind = checkout_app(ref)
    env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(WORK / "prom-before")}
    port = free_port()
    if kind == "gunicorn":
        ensure_gunicorn()
        server = gunicorn_server("before", "app:create_app()", env, port, tree)
    else:
        server = granian_server("before", "app:create_app", env, port, tree)
    print(f"before: the app as of {ref} ({tree.name}) under {kind}", flush=True)
    target = add("before", server, port, service_scenarios)
    try:
        packed = inputs.paths["predict-64-npy"].read_bytes()
        post(f"{target.base}/predict", packed, "application/x-npy")
    except urllib.error.HTTPError:
        target.scenarios = {**json_scenarios, "predict-1-paired": json_scenarios["predict-1"]}
        print(f"before: the app as of {ref} takes no .npy body", flush=True)
    else:
        if post_npy_out(f"{target.base}/predict", packed)[0] != NPY_OUT:
            target.scenarios = {  # a new dict: the service's is the same object
                k: v for k, v in target.scenarios.items() if k != "predict-64-npy-out"
            }
            print(f"before: the app as of {ref} gives no .npy answer", flush=True)
    if kind == "gunicorn":
        port = free_port()
        env["PROMETHEUS_MULTIPROC_DIR"] = str(WORK / "prom-bare-before")
        bare = gunicorn_server("bare-before", "bench_service:bare_app()", env, port, tree)
        add("bare-before", bare, port, json_scenarios)


def _threads_targets(
    threads: int, env: dict[str, str], scenarios: dict[str, tuple[str, Path]], proxy: bool
) -> list[Target]:
    """The service with SERVER_THREADS=threads, and (with --proxy) behind its own nginx."""
    changes = {
        "PROMETHEUS_MULTIPROC_DIR": str(WORK / f"prom-t{threads}"),
        "SERVER_THREADS": str(threads),
    }
    name, port = f"service-t{threads}", free_port()
    server = granian_server(name, "app:create_app", {**env, **changes}, port)
    direct = Target(name, server, f"http://127.0.0.1:{port}", [server.proc.pid], scenarios)
    if not proxy:
        return [direct]
    listen = free_port()
    nginx = Server(
        f"nginx-t{threads}",
        nginx_command(listen, port, WORK / f"nginx-t{threads}"),
        dict(os.environ),
        f"http://127.0.0.1:{listen}/proxy-healthz",
    )
    groups = [server.proc.pid, nginx.proc.pid]  # the app server's first
    base = f"http://127.0.0.1:{listen}"
    return [direct, Target(f"proxied-t{threads}", nginx, base, groups, scenarios, workers=False)]


def check_answers(targets: list[Target], inputs: Inputs) -> None:
    """Correctness before speed: every server answers the known digit."""
    for target in targets:
        if target.name.startswith("mlflow"):
            answer = post(f"{target.base}/invocations", inputs.mlflow_bodies["predict-1"].encode())
            print(f"{target.name} answer: {json.dumps(answer)[:120]}", flush=True)
            continue
        one = inputs.bodies["predict-1"].encode()
        assert post(f"{target.base}/predict", one)["predictions"] == [7]
        image = inputs.bodies["score-1"].encode()
        assert post(f"{target.base}/score", image)["result"][0][0][0] == "7"
        if "predict-64-npy" in target.scenarios:
            packed = inputs.paths["predict-64-npy"].read_bytes()
            answer = post(f"{target.base}/predict", packed, "application/x-npy")
            want = post(f"{target.base}/predict", inputs.bodies["predict-64"].encode())
            assert answer == want
            if "predict-64-npy-out" in target.scenarios:
                import numpy as np

                media, data = post_npy_out(f"{target.base}/predict", packed)
                assert media == NPY_OUT, media
                out = np.load(io.BytesIO(data), allow_pickle=False)
                assert out["label"].tolist() == want["predictions"]
                assert (out["probabilities"] == np.float32(want["probabilities"])).all()


def run(inputs: Inputs, args: Any) -> tuple[list[Load], dict[tuple[str, str], list[float]]]:
    """Interleaved rounds over every target, scenario by scenario."""
    results: list[Load] = []
    shares: dict[tuple[str, str], list[float]] = {}
    targets = start_targets(inputs, args)
    try:
        check_answers(targets, inputs)
        for block in BLOCKS:
            serving = [(t, k) for k in block for t in targets if k in t.scenarios]
            for target, scenario in serving:  # warm-up
                path, body = target.scenarios[scenario]
                wrk(f"{target.base}{path}", body, 2, args.connections, ACCEPT.get(scenario))
            if block == BLOCKS[0]:  # every worker is up by now
                for target in targets:
                    if target.workers:
                        port = int(target.base.rsplit(":", 1)[1])
                        print(
                            f"{target.name}: {len(worker_pids(target.groups[0]))} workers,"
                            f" {listening_sockets(port)} listening socket(s) on port {port}"
                        )
            for round_no in range(args.rounds):
                print(f"round {round_no + 1} {' + '.join(block)}: load average {os.getloadavg()}")
                for target, scenario in serving:
                    path, body = target.scenarios[scenario]
                    before = process_cpu_seconds(target.groups)
                    rps, p50, p99, errors, total = wrk(
                        f"{target.base}{path}",
                        body,
                        args.duration,
                        args.connections,
                        ACCEPT.get(scenario),
                    )
                    after = process_cpu_seconds(target.groups)
                    load = Load(target.name, scenario, rps, p50, p99, errors, total)
                    if total:
                        app_group = set(process_cpu_seconds(target.groups[:1]))
                        spent = sum(after.values()) - sum(before.get(p, 0.0) for p in after)
                        app = sum(after[p] - before.get(p, 0.0) for p in after if p in app_group)
                        load.cpu_ms_per_request = spent * 1000.0 / total
                        load.app_cpu_ms_per_request = app * 1000.0 / total
                    share = busiest_share(target, before, after) if target.workers else None
                    if share is not None:
                        shares.setdefault((target.name, scenario), []).append(share)
                    results.append(load)
                    print("  " + _line(target.name, load, share), flush=True)
    finally:
        for target in reversed(targets):
            target.server.stop()
    return results, shares


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--rounds", type=int, default=5, help="interleaved runs per scenario; medians are kept"
    )
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument(
        "--before",
        metavar="REF",
        default=DEFAULT_BEFORE,
        help="also serve the app as of this git ref under its own server (gunicorn and its"
        f" app/gunicorn_conf.py while it had one) in the same rounds (default {DEFAULT_BEFORE},"
        " the last app served by gunicorn), for before -> after figures",
    )
    parser.add_argument(
        "--no-before", dest="before", action="store_const", const="", help="no `before` server"
    )
    parser.add_argument(
        "--proxy",
        action="store_true",
        help="also run the service behind the pod's nginx (deploy/base/nginx.conf)",
    )
    parser.add_argument(
        "--server-threads",
        action="append",
        default=[],
        type=int,
        metavar="N",
        help="also serve the service with SERVER_THREADS=N (Python threads per granian worker) in"
        " the same rounds, and behind its own nginx with --proxy; repeatable",
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (make setup-debian)", file=sys.stderr)
        return 1
    sys.path.insert(0, str(ROOT))
    inputs = prepare()
    print("floor: onnxruntime in-process, one thread ...", flush=True)
    floors = floor(inputs.model_dir, [inputs.rows1], inputs.rows64, inputs.png)
    floors["predict-64-npy"] = floors["predict-64"]
    floors["predict-64-npy-out"] = floors["predict-64"]
    floors["predict-1-paired"] = floors["predict-1"]
    results, shares = run(inputs, args)
    report(results, shares, floors, args)
    return 0


def paired_cpu(
    results: list[Load], scenario: str, num: str, den: str, den_scenario: str = ""
) -> float:
    """Median over rounds of num/den CPU time per request, each pair from the same round."""
    pairs = zip(
        runs(results, num, scenario), runs(results, den, den_scenario or scenario), strict=True
    )
    return statistics.median(
        a.cpu_ms_per_request / b.cpu_ms_per_request
        for a, b in pairs
        if a.cpu_ms_per_request and b.cpu_ms_per_request
    )


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report_goals(
    results: list[Load], shares: dict[tuple[str, str], list[float]], summary: dict[str, Any]
) -> None:
    """Issue 20's goals for the service now and (with a `before` server) before."""

    def ratio(num: tuple[str, str], den: tuple[str, str]) -> float:
        try:
            return paired_cpu(results, num[1], num[0], den[0], den[1])
        except (ValueError, statistics.StatisticsError):
            return float("nan")

    def goals_of(service: str, bare: str) -> dict[str, float]:
        return {
            "1: /predict 1 row, service CPU/req / bare (<= 0.8)": ratio(
                (service, "predict-1"), (bare, "predict-1")
            ),
            "2: /predict 64 rows JSON, bare CPU/req / service (>= 1.5)": 1
            / ratio((service, "predict-64"), (bare, "predict-64")),
            "2: /predict 64 rows, JSON CPU/req / .npy (>= 3)": 1
            / ratio((service, "predict-64-npy"), (service, "predict-64")),
            "2: /predict 64 rows, JSON CPU/req / .npy in+out (>= 3)": 1
            / ratio((service, "predict-64-npy-out"), (service, "predict-64")),
            "3: /predict 1 row CPU/req / /score 1 image (>= 0.9)": 1
            / ratio((service, "score-1"), (service, "predict-1-paired")),
        }

    goals = goals_of("service", "bare")
    # The app before, against the bare handler under its own server (bare-before with gunicorn).
    before_bare = "bare-before" if runs(results, "bare-before", "predict-1") else "bare"
    then = goals_of("before", before_bare) if runs(results, "before", "predict-1") else {}
    print()
    print("issue 20's goals, as CPU-time ratios paired by round (the steady figure here):")
    if then:
        print(f"  {'':58} {'before':>6} {'now':>6}   (before: vs {before_bare})")
    for label, value in goals.items():
        print(f"  {label:58} " + (f"{then[label]:6.2f} " if then else "") + f"{value:6.2f}")
    spread = []
    for name in ("service", "before"):
        worker = shares.get((name, "predict-1"), [])
        if worker:
            spread.append(f"{name} median {_median(worker):.0%} max {max(worker):.0%}")
    if spread:
        print(
            "  4: busiest worker's share of worker CPU, predict-1 (50% = even): "
            + "; ".join(spread)
        )
    summary["_goals"] = goals
    summary["_goals_before"] = then
    if then:
        print("  before -> after, CPU/req (the same rounds):")
        pairs = [("before", "service", s) for s in ("predict-1", "predict-64", "predict-64-npy")]
        pairs += [("before", "service", "score-1")]
        pairs += [(before_bare, "bare", s) for s in ("predict-1", "predict-64", "score-1")]
        for old_name, new_name, scenario in pairs:
            old_cpu = median_cpu_ms(results, old_name, scenario)
            new_cpu = median_cpu_ms(results, new_name, scenario)
            if old_cpu and new_cpu and old_name != new_name:
                change = ratio((new_name, scenario), (old_name, scenario))
                label = f"{new_name} {scenario}"
                print(
                    f"    {label:24} {old_cpu * 1000:6.0f} -> {new_cpu * 1000:5.0f} us"
                    f"  (x{change:.2f} paired)"
                )


def report(
    results: list[Load],
    shares: dict[tuple[str, str], list[float]],
    floors: dict[str, dict[str, float]],
    args: Any,
) -> None:
    print()
    print(f"load average at the end: {os.getloadavg()} (the machine is shared)")
    print(
        f"wrk -t1 -c{args.connections} -d{args.duration}s, {args.rounds} interleaved rounds;"
        " python -m app.server (granian) 2 workers x 1 Python thread (before: its own server;"
        " gunicorn: gthread 2 workers x 2 threads); figures: the median run (req/s, latency),"
        " medians over rounds (CPU time per request: all the server's processes' user+system"
        " CPU / requests served; ratios: per-round pairs); floor: onnxruntime per call"
        " in-process"
    )
    header = (
        f"{'scenario':18} {'server':22} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7}"
        f" {'cpu us/req':>10} {'cpu/bare':>8} {'req/s/bare':>10} {'busiest worker':>15}"
    )
    print(header)
    summary: dict[str, Any] = {}
    for scenario in SCENARIOS:
        baseline = BARE_BASELINE.get(scenario, scenario)
        for name in dict.fromkeys(r.server for r in results if r.scenario == scenario):
            chosen = best(results, name, scenario)
            if chosen is None:
                continue
            cpu = median_cpu_ms(results, name, scenario)
            same_rounds = len(runs(results, name, scenario)) == len(runs(results, "bare", baseline))
            has_bare = bool(runs(results, "bare", baseline)) and same_rounds
            cpu_ratio = paired_cpu(results, scenario, name, "bare", baseline) if has_bare else None
            rps_ratio = None
            if has_bare:
                rps_ratio = statistics.median(
                    a.requests_per_s / b.requests_per_s
                    for a, b in zip(
                        runs(results, name, scenario), runs(results, "bare", baseline), strict=True
                    )
                )
            worker = shares.get((name, scenario), [])
            spread = f"{_median(worker):4.0%} (max {max(worker):4.0%})" if worker else ""
            print(
                f"{scenario:18} {name:22} {chosen.requests_per_s:7.0f} {chosen.p50_ms:7.2f}"
                f" {chosen.p99_ms:7.2f} {cpu * 1000 if cpu else float('nan'):10.0f}"
                f" {cpu_ratio if cpu_ratio else float('nan'):8.2f}"
                f" {rps_ratio if rps_ratio else float('nan'):10.2f} {spread:>15}"
            )
            summary.setdefault(scenario, {})[name] = {
                "median_run": asdict(chosen),
                "cpu_ms_per_request": cpu,
                "cpu_over_bare": cpu_ratio,
                "rps_over_bare": rps_ratio,
                "busiest_worker_shares": worker,
            }
        summary.setdefault(scenario, {})["floor"] = floors[scenario]

    report_goals(results, shares, summary)
    if args.proxy:
        lines, summary["_proxy"] = proxy_rows(results)
        print()
        print(
            "behind the pod's nginx (deploy/base/nginx.conf) vs direct, same app server, same"
            " rounds;"
            " ratios: median of back-to-back pairs, (peak): best runs; cpu: serving processes'"
            " user+system CPU per request (direct: the app server; proxied: nginx + the app"
            " server; app: the app server alone when proxied, the app container's share), median"
        )
        print("\n".join(lines))
    summary["_all_runs"] = [asdict(r) for r in results]
    (WORK / "service.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"(all runs in {WORK / 'service.json'})")


if __name__ == "__main__":
    raise SystemExit(main())
