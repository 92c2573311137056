"""Benchmark the prediction service under gunicorn against three baselines, in one run.

    .venv/bin/python bench/bench_service.py [--duration 3] [--connections 4] [--rounds 8]
                                            [--skip-mlflow] [--proxy]

Load comes from `wrk` (C, one thread) on loopback, so the client costs the server little CPU.
Scenarios: `/predict` with 1 row, `/predict` with 64 rows, `/score` with 1 PNG image.
Compared with:
  (a) onnxruntime called in-process on the same model (the floor: no HTTP, no JSON);
  (b) a bare Flask handler under the same gunicorn settings (same config module, workers,
      threads) that only parses JSON, runs the session and returns JSON: what Flask itself costs;
  (c) MLflow's `mlflow models serve` on the same ONNX model (installed only for this benchmark,
      into its own venv under build/bench/), for the two /predict scenarios.
With --proxy, also the service behind the pod's shipped nginx (bench_proxy.py) in the same rounds,
and the serving processes' CPU time per request for every gunicorn run.
Figures are reported as ratios against the baselines measured in the same run; nothing is
asserted. Servers and wrk run on 127.0.0.1 only, bounded in time, stopped by their PIDs.
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
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench_proxy import group_cpu_seconds, nginx_command, proxy_rows
from bench_runs import Load, best, paired_ratio, peak

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "bench"
MLFLOW_VENV = WORK / "mlflow-venv"
MLFLOW_VERSION = "3.17.2"  # 3.18.0 needs mlflow-skinny 3.18.0, not yet on the index here
DIGIT_PNG = ROOT / "tests" / "data" / "digits" / "digit-7.png"


# --- the bare baseline: gunicorn loads it as `bench_service:bare_app()` --------------------------


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
    url: str, body: Path, duration: int, connections: int
) -> tuple[float, float, float, int, int]:
    script = body.with_suffix(".lua")
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'local f = io.open("{body}", "rb")\nwrk.body = f:read("*a")\nf:close()\n'
    )
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), url]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60, check=True)
    return parse_wrk(result.stdout)


def post(url: str, body: bytes) -> Any:
    request = urllib.request.Request(  # noqa: S310 (loopback only)
        url, data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310
        return json.loads(resp.read())


def free_port() -> int:
    from localworld.process import free_port as _free_port

    return _free_port()


class Server:
    """A server process started here, in its own process group, stopped by that group's id."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], ready_url: str) -> None:
        self.name = name
        self.log = (WORK / f"{name}.log").open("wb")
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
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


def gunicorn_server(name: str, app_spec: str, env: dict[str, str], port: int) -> Server:
    argv = [sys.executable, "-m", "gunicorn", "--config", "python:app.gunicorn_conf"]
    argv += ["--pythonpath", str(ROOT / "bench"), app_spec]
    return Server(
        name, argv, {**env, "BIND": f"127.0.0.1:{port}"}, f"http://127.0.0.1:{port}/readyz"
    )


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


def mlflow_server(python: Path, model: Path, port: int, workers: int) -> Server:
    mlflow = python.parent / "mlflow"
    argv = [str(mlflow), "models", "serve", "-m", str(model), "--env-manager", "local"]
    argv += ["-h", "127.0.0.1", "-p", str(port), "-w", str(workers)]
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"file://{WORK / 'mlruns'}",
        # mlflow execs `uvicorn` by name: its venv's bin must come first on PATH.
        "PATH": f"{python.parent}:{os.environ.get('PATH', '')}",
    }
    return Server("mlflow", argv, env, f"http://127.0.0.1:{port}/ping")


# --- the run --------------------------------------------------------------------------------------


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


def _line(label: str, r: Load) -> str:
    return (
        f"{label:17} {r.scenario:11} {r.requests_per_s:9.0f} req/s"
        f"  p50 {r.p50_ms:7.2f} ms  p99 {r.p99_ms:7.2f} ms  errors {r.errors}"
        + (f"  cpu {r.cpu_ms_per_request:.2f} ms/req" if r.cpu_ms_per_request is not None else "")
        + (f" (gunicorn {r.app_cpu_ms_per_request:.2f})" if r.server == "proxied" else "")
    )


def run_gunicorn(inputs: Inputs, args: Any) -> list[Load]:
    env = {
        **os.environ,
        "MODEL_DIR": str(inputs.model_dir),
        "MODEL_SHA256": inputs.sha,
        "MODEL_NAME": "digits",
        "MODEL_VERSION": "1",
        "MODEL_INPUT_SIGNATURE": "input:float32[?,64]",
        "PROMETHEUS_MULTIPROC_DIR": str(WORK / "prometheus"),
        "WEB_CONCURRENCY": "2",
        "GUNICORN_THREADS": "2",
    }
    results: list[Load] = []
    specs = {"service": "app:create_app()", "bare": "bench_service:bare_app()"}
    servers: dict[str, tuple[Server, str]] = {}
    groups: dict[str, list[int]] = {}  # the process groups that serve each name's requests
    try:
        for name, spec in specs.items():
            port = free_port()
            servers[name] = (gunicorn_server(name, spec, env, port), f"http://127.0.0.1:{port}")
            groups[name] = [servers[name][0].proc.pid]
        if args.proxy:
            service_port = int(servers["service"][1].rsplit(":", 1)[1])
            port = free_port()
            nginx = Server(
                "nginx",
                nginx_command(port, service_port, WORK / "nginx"),
                dict(os.environ),
                f"http://127.0.0.1:{port}/proxy-healthz",
            )
            servers["proxied"] = (nginx, f"http://127.0.0.1:{port}")
            groups["proxied"] = [*groups["service"], nginx.proc.pid]  # gunicorn's first
        for _server, base in servers.values():
            # Correctness before speed: every server answers the known digit.
            one = inputs.bodies["predict-1"].encode()
            assert post(f"{base}/predict", one)["predictions"] == [7]
            image = inputs.bodies["score-1"].encode()
            assert post(f"{base}/score", image)["result"][0][0][0] == "7"
        # All servers stay up (idle costs nothing); short runs alternate between them so that
        # load from elsewhere on the machine hits them alike.
        for scenario, path in ((k, inputs.paths[k]) for k in inputs.bodies):
            route = scenario.split("-")[0]
            for _server, base in servers.values():
                wrk(f"{base}/{route}", path, 2, args.connections)  # warm-up
            for round_no in range(args.rounds):
                for name, (_server, base) in servers.items():
                    before = [group_cpu_seconds([g]) for g in groups[name]]
                    rps, p50, p99, errors, total = wrk(
                        f"{base}/{route}", path, args.duration, args.connections
                    )
                    after = [group_cpu_seconds([g]) for g in groups[name]]
                    load = Load(name, scenario, rps, p50, p99, errors, total)
                    if total:
                        load.cpu_ms_per_request = (sum(after) - sum(before)) * 1000.0 / total
                        load.app_cpu_ms_per_request = (after[0] - before[0]) * 1000.0 / total
                    results.append(load)
                    print(_line(f"round {round_no + 1} {name}", results[-1]), flush=True)
    finally:
        for server, _base in reversed(servers.values()):
            server.stop()
    return results


def run_mlflow(inputs: Inputs, args: Any) -> tuple[list[Load], str]:
    results: list[Load] = []
    try:
        python = ensure_mlflow()
        model = mlflow_model(python, inputs.model_dir)
        port = free_port()
        server = mlflow_server(python, model, port, workers=2)
        try:
            url = f"http://127.0.0.1:{port}/invocations"
            answer = post(url, inputs.mlflow_bodies["predict-1"].encode())
            print(f"mlflow answer: {json.dumps(answer)[:160]}", flush=True)
            for scenario in inputs.mlflow_bodies:
                path = inputs.paths[f"mlflow-{scenario}"]
                wrk(url, path, 2, args.connections)
                for _ in range(args.rounds):
                    rps, p50, p99, errors, total = wrk(url, path, args.duration, args.connections)
                    results.append(Load("mlflow", scenario, rps, p50, p99, errors, total))
                    print(_line("mlflow", results[-1]), flush=True)
        finally:
            server.stop()
    except (subprocess.CalledProcessError, RuntimeError, OSError) as exc:
        print(f"MLflow baseline failed: {exc}", file=sys.stderr)
        return results, f"failed: {exc}"
    return results, f"mlflow {MLFLOW_VERSION} `mlflow models serve --env-manager local -w 2`"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument(
        "--rounds", type=int, default=8, help="alternating runs per scenario; median is kept"
    )
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument(
        "--proxy",
        action="store_true",
        help="also run the service behind the pod's nginx (deploy/base/nginx.conf)",
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (make setup-debian)", file=sys.stderr)
        return 1
    sys.path.insert(0, str(ROOT))
    inputs = prepare()
    print("floor: onnxruntime in-process, one thread ...", flush=True)
    floors = floor(inputs.model_dir, [inputs.rows1], inputs.rows64, inputs.png)
    results = run_gunicorn(inputs, args)
    mlflow_note = "skipped (--skip-mlflow)"
    if not args.skip_mlflow:
        mlflow_results, mlflow_note = run_mlflow(inputs, args)
        results += mlflow_results
    report(results, floors, args, mlflow_note)
    return 0


def report(
    results: list[Load], floors: dict[str, dict[str, float]], args: Any, mlflow_note: str
) -> None:
    print()
    print(f"load average at the end: {os.getloadavg()} (the machine is shared)")
    print(
        "throughput: median run; svc/bare: median of back-to-back pairs, (peak): best runs;"
        " floor: onnxruntime per call in-process"
    )
    print(
        f"wrk -t1 -c{args.connections} -d{args.duration}s, gunicorn gthread 2 workers x 2 threads,"
        f" median of {args.rounds} alternating runs; MLflow: {mlflow_note}"
    )
    header = (
        f"{'scenario':11} {'service':>9} {'p50/p99 ms':>13} {'bare':>9} {'p50/p99 ms':>13}"
        f" {'mlflow':>8} {'svc/bare':>8} {'(peak)':>7} {'svc/mlflow':>10} {'floor ms':>9}"
    )
    print(header)
    summary: dict[str, Any] = {}
    for scenario in ("predict-1", "predict-64", "score-1"):
        svc = best(results, "service", scenario)
        bare = best(results, "bare", scenario)
        mlf = best(results, "mlflow", scenario)
        if svc is None or bare is None:
            continue
        vs_bare = paired_ratio(results, scenario)
        vs_bare_peak = peak(results, "service", scenario) / peak(results, "bare", scenario)
        vs_mlflow = svc.requests_per_s / mlf.requests_per_s if mlf else None
        print(
            f"{scenario:11} {svc.requests_per_s:9.0f} {svc.p50_ms:6.2f}/{svc.p99_ms:6.2f}"
            f" {bare.requests_per_s:9.0f} {bare.p50_ms:6.2f}/{bare.p99_ms:6.2f}"
            f" {mlf.requests_per_s if mlf else float('nan'):8.0f} {vs_bare:8.2f}"
            f" {vs_bare_peak:7.2f}"
            f" {vs_mlflow if vs_mlflow else float('nan'):10.1f}"
            f" {floors[scenario]['per_call_ms']:9.3f}"
        )
        summary[scenario] = {
            "service": asdict(svc),
            "bare": asdict(bare),
            "mlflow": asdict(mlf) if mlf else None,
            "service_over_bare_paired_median": vs_bare,
            "service_over_bare_peak": vs_bare_peak,
            "service_over_mlflow": vs_mlflow,
            "floor": floors[scenario],
            "service_over_floor_one_core": svc.requests_per_s
            / floors[scenario]["calls_per_s_one_core"],
        }
    medians = {
        s: statistics.median(r.requests_per_s for r in results if r.server == s)
        for s in {r.server for r in results}
    }
    summary["_median_rps_by_server"] = medians
    if args.proxy:
        lines, summary["_proxy"] = proxy_rows(results)
        print()
        print(
            "behind the pod's nginx (deploy/base/nginx.conf) vs direct, same gunicorn, same rounds;"
            " ratios: median of back-to-back pairs, (peak): best runs; cpu: serving processes'"
            " user+system CPU per request (direct: gunicorn; proxied: nginx + gunicorn;"
            " app: gunicorn alone when proxied, the app container's share), median"
        )
        print("\n".join(lines))
    summary["_all_runs"] = [asdict(r) for r in results]
    (WORK / "service.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"(all runs in {WORK / 'service.json'})")


if __name__ == "__main__":
    raise SystemExit(main())
